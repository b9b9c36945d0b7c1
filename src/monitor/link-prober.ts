import { runStampSession, type StampSessionResult } from '../measure/stamp/sender.js';
import type { StampCredential } from '../measure/stamp/authentication.js';
import { absoluteIpdv, summariseLatency } from '../measure/stamp/metrics.js';
import { meanInterval, medianInterval, percentile, sortedCopy } from '../measure/statistics.js';
import { classifyMarks } from '../qualify/dscp-check.js';
import type { DscpStatus, ProbeWindow } from './link-rules.js';

// Background latency probing: a STAMP session per window (5 s by default) at a low rate, like
// perfSONAR's powstream. Sessions follow each other without a gap: the next starts when the
// previous has sent its last probe, while it still waits for late replies. Overhead on the
// wire, measured by `npm run bench -- monitor`: 12 frames of 94 octets per second (44-octet
// test packet, Class-of-Service TLV, UDP, IP, Ethernet) = 9.0 kbit/s per direction, under the
// 10 kbit/s budget. In authenticated mode (a responder with responder.auth required) each
// probe carries the 112-octet base and an HMAC TLV: 12 frames of 186 octets, 17.9 kbit/s per
// direction, the price of probes nobody can forge. While the monitor weighs a possible loss (a few probes lost) or a loss in
// progress, windows run at the confirmation rate: at 12 probes a second a 2 % loss cannot be
// told from a healthy 0.5 % in under a minute without false alerts; at 80 it can in seconds.

export interface ProberOptions {
  target: string;
  port: number;
  windowMs: number;
  probesPerSecond: number;
  /** Rate of the windows started while `wantsConfirmation()` holds (0: never faster). */
  confirmationPerSecond?: number;
  wantsConfirmation?: () => boolean;
  /** DSCP the probes carry and ask to be reflected with (RFC 8972 CoS TLV); undefined: not checked. */
  dscp?: number;
  /** True when our nftables annotation reads the DSCP of replies (needs CAP_NET_ADMIN). */
  readsReplyDscp: boolean;
  /** Authenticated mode: this appliance's STAMP key at the responder. */
  credential?: StampCredential;
  onWindow: (w: ProbeWindow) => void;
  onError: (err: Error) => void;
}

const STAMP_PROBE_OCTETS = 44;

export class LinkProber {
  readonly #o: ProberOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  readonly #sessions = new Set<Promise<void>>();

  constructor(options: ProberOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await Promise.allSettled([...this.#sessions]);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    let ssid = 1;
    while (!this.#abort.signal.aborted) {
      const confirming = (o.confirmationPerSecond ?? 0) > o.probesPerSecond && o.wantsConfirmation?.() === true;
      const intervalMs = 1000 / (confirming ? o.confirmationPerSecond! : o.probesPerSecond);
      const count = Math.max(1, Math.round(o.windowMs / intervalMs));
      const startedAt = Date.now();
      const session = runStampSession({
        target: o.target,
        port: o.port,
        count,
        intervalMs,
        size: STAMP_PROBE_OCTETS,
        ssid: ssid++ & 0xffff,
        waitMs: 1000,
        signal: this.#abort.signal,
        ...(o.dscp !== undefined ? { cos: { dscp: o.dscp } } : {}),
        ...(o.credential ? { credential: o.credential } : {}),
      }).then(
        (result) => o.onWindow(windowOf(result, startedAt, o)),
        (err: Error) => {
          if (!this.#abort.signal.aborted) o.onError(err);
        },
      );
      this.#sessions.add(session);
      void session.finally(() => this.#sessions.delete(session));
      // the next window starts when this one has sent its last probe
      await sleep(count * intervalMs, this.#abort.signal);
      if (!this.#abort.signal.aborted && this.#sessions.size > 2) await Promise.race([...this.#sessions]); // never pile up
    }
  }
}

function windowOf(result: StampSessionResult, startedAt: number, o: ProberOptions): ProbeWindow {
  const s = summariseLatency(result);
  const sent = Math.max(1, s.sent);
  const lost = s.sent - s.received;
  // the split needs a stateful reflector and a consistent count; otherwise both directions
  // are charged with the round-trip loss (the conservative reading)
  const split =
    s.loss_split && s.loss_split.forward >= 0 && s.loss_split.backward >= 0 && s.loss_split.forward + s.loss_split.backward <= lost ? s.loss_split : undefined;
  const forward = split?.forward ?? lost;
  const backward = split?.backward ?? lost;
  const answered = result.records.filter((r) => r.rttNs !== undefined);
  const status = (seen: Array<number | undefined>): DscpStatus | undefined => {
    if (o.dscp === undefined || answered.length === 0) return undefined;
    const c = classifyMarks(o.dscp, seen);
    return c.status === 'not-verified' ? undefined : c.status;
  };
  const rttInterval = medianInterval(sortedCopy(answered.map((r) => Number(r.rttNs!) / 1e6)));
  const raw = answered.filter((r) => r.oneWayRawNs !== undefined);
  const medianOf = (values: number[]): number => percentile(values, 0.5);
  const ipdvInterval = meanInterval(absoluteIpdv(result));
  const downTrials = split ? sent - forward : sent;
  return {
    startedAt,
    endedAt: Date.now(),
    sent: s.sent,
    received: s.received,
    ...(s.received > 0 ? { rttMedianMs: s.rtt_ms.median } : {}),
    ...(raw.length > 0
      ? {
          oneWayRawMedianMs: {
            up: medianOf(raw.map((r) => Number(r.oneWayRawNs!.forward) / 1e6)),
            down: medianOf(raw.map((r) => Number(r.oneWayRawNs!.backward) / 1e6)),
          },
        }
      : {}),
    ...(rttInterval ? { rttMedianCiMs: rttInterval } : {}),
    ...(s.received > 1 ? { ipdvMeanMs: s.ipdv_ms.mean } : {}),
    ...(ipdvInterval ? { ipdvMeanCiMs: ipdvInterval } : {}),
    lossUpPct: Math.min(100, (100 * forward) / sent),
    lossDownPct: Math.min(100, (100 * backward) / Math.max(1, downTrials)),
    lossCounts: { up: { lost: forward, of: s.sent }, down: { lost: backward, of: Math.max(0, downTrials) } },
    ...(answered.some((r) => r.cosUnprocessed) ? {} : { dscpUp: status(answered.map((r) => r.dscpAtReflector)) }),
    ...(o.readsReplyDscp ? { dscpDown: status(answered.map((r) => r.dscpAtSender)) } : {}),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    // The listener goes with the timer: one per window would pile up on the long-lived signal.
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
