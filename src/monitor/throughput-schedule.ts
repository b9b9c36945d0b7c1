import { runThroughput, type ThroughputOptions, type ThroughputResult } from '../measure/iperf3/client.js';
import type { LoadModel } from '../measure/iperf3/load-model.js';
import type { IperfCredential } from '../responder/appliance-credentials.js';

// Scheduled short throughput tests: every `intervalMs` (6 h by default), each
// direction for `durationS` (≤ 20 s in all), only inside the off-peak hours, never two at once,
// and skipped while a consultation is in progress (RTP seen by the capture), since a test
// would fill the link the call needs. Probe windows overlapping a test are not judged: the
// test's own queue would read as a degradation.

export interface ScheduleOptions {
  target: string;
  /** This appliance's iperf3 credentials at the responder, when it asks for them. */
  credential?: IperfCredential;
  ports: readonly number[];
  intervalMs: number;
  durationS: number;
  /** Flows and congestion control of each test (load-model.ts). */
  load: LoadModel;
  /** Local hours [from, to) when tests may run; from = to means any hour. */
  offPeak: { fromHour: number; toHour: number };
  callInProgress: () => boolean;
  onResult: (direction: 'up' | 'down', mbps: number, at: number) => void;
  onSkipped: (reason: string) => void;
  onError: (err: Error) => void;
  now?: () => Date;
  run?: (options: ThroughputOptions) => Promise<ThroughputResult>;
}

export function withinHours(date: Date, fromHour: number, toHour: number): boolean {
  if (fromHour === toHour) return true;
  const h = date.getHours();
  return fromHour < toHour ? h >= fromHour && h < toHour : h >= fromHour || h < toHour;
}

export class ThroughputSchedule {
  readonly #o: ScheduleOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #abort = new AbortController();
  /** Periods when a test ran (`to` is Infinity while it runs), so overlapping probe windows can be set aside. */
  readonly #busy: Array<{ from: number; to: number }> = [];

  constructor(options: ScheduleOptions) {
    this.#o = options;
  }

  start(firstInMs = this.#o.intervalMs): void {
    this.#timer = setTimeout(() => this.#tick(), firstInMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  /** True when [from, to] overlaps a test (or one is running now). */
  overlapsTest(from: number, to: number): boolean {
    return this.#busy.some((b) => b.from <= to && b.to >= from);
  }

  #tick(): void {
    this.#timer = setTimeout(() => this.#tick(), this.#o.intervalMs);
    const now = (this.#o.now ?? (() => new Date()))();
    if (this.#running) return this.#o.onSkipped('a throughput test is still running');
    if (!withinHours(now, this.#o.offPeak.fromHour, this.#o.offPeak.toHour)) return this.#o.onSkipped('outside the off-peak hours');
    if (this.#o.callInProgress()) return this.#o.onSkipped('a consultation is in progress');
    this.#running = this.#test().finally(() => (this.#running = undefined));
  }

  async #test(): Promise<void> {
    const o = this.#o;
    const span = { from: Date.now(), to: Infinity };
    this.#busy.push(span);
    if (this.#busy.length > 16) this.#busy.shift();
    try {
      for (const direction of ['up', 'down'] as const) {
        if (this.#abort.signal.aborted) return;
        const result = await (o.run ?? runThroughput)({
          ...(o.credential ? { credential: o.credential } : {}),
          target: o.target,
          ports: o.ports,
          direction,
          protocol: 'tcp',
          durationS: o.durationS,
          omitS: 1,
          parallel: o.load.streams,
          congestionControl: o.load.congestionControl,
          signal: this.#abort.signal,
        });
        const mbps = result[direction]?.mbps;
        if (mbps !== undefined) o.onResult(direction, mbps, Date.now());
      }
    } catch (err) {
      if (!this.#abort.signal.aborted) o.onError(err as Error);
    } finally {
      span.to = Date.now() + 1000; // the queue the test built takes a moment to drain
    }
  }
}
