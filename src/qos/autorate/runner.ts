import type { Logger } from '../../log/logger.js';
import type { ProbeWindow } from '../../monitor/link-rules.js';
import type { QosBackend } from '../backend.js';
import type { QosPolicy } from '../policy.js';
import { AutorateController, DIRECTIONS, type AutorateSettings, type Direction, type RateChange } from './controller.js';
import { emptyAutorateFile, readAutorateFile, recordChanges, writeAutorateFile, type AutorateFile } from './state-file.js';

// Autorate at work: each probe window (from a LinkProber) and the octets our root classes sent
// since the last one go through the controller; its changes are applied by the backend as a
// rate change of the roots, logged, counted and kept in qos.state_dir/autorate.json.

export interface ProbeSource {
  start(): void;
  stop(): Promise<void>;
}

export interface AutorateRunnerOptions {
  backend: QosBackend;
  policy: QosPolicy;
  settings: AutorateSettings;
  stateDir: string;
  log: Logger;
  /** Builds the prober that calls back with each window; injected for tests. */
  prober: (onWindow: (w: ProbeWindow) => void, onError: (err: Error) => void) => ProbeSource;
  now?: () => Date;
  /** The state file is rewritten at least this often when nothing changed. */
  refreshMs?: number;
}

export class AutorateRunner {
  readonly #o: AutorateRunnerOptions;
  readonly #controller: AutorateController;
  #file: AutorateFile;
  #lastOctets: Record<Direction, number> | undefined;
  #chain: Promise<void> = Promise.resolve();
  #prober: ProbeSource | undefined;
  #lastWriteMs = 0;
  #frozenLogged = false;

  constructor(options: AutorateRunnerOptions) {
    this.#o = options;
    const previous = readAutorateFile(options.stateDir);
    this.#controller = new AutorateController(options.settings, previous?.rates_mbps);
    this.#file = previous ? { ...previous, rates_mbps: { ...this.#controller.rates } } : emptyAutorateFile(this.#controller.rates, this.#now());
  }

  get rates(): Record<Direction, number> {
    return { ...this.#controller.rates };
  }

  /** Sets the starting rates on the device, then follows the probes. */
  async start(): Promise<void> {
    await this.#apply();
    this.#o.log.info(
      { event: 'qos.autorate.started', rates_mbps: this.rates, max_mbps: this.#o.settings.maxMbps, floor_mbps: this.#o.settings.floorMbps },
      `autorate follows the link from ${this.rates.up}/${this.rates.down} Mbit/s (up/down)`,
    );
    this.#write(true);
    this.#prober = this.#o.prober(
      (w) => void (this.#chain = this.#chain.then(() => this.#onWindow(w))),
      (err) => this.#o.log.warn({ event: 'qos.autorate.probe_error', err }, `autorate probes failed: ${err.message}`),
    );
    this.#prober.start();
  }

  async stop(): Promise<void> {
    await this.#prober?.stop();
    await this.#chain;
    this.#write(true);
  }

  async #onWindow(w: ProbeWindow): Promise<void> {
    let octets: Record<Direction, number>;
    try {
      octets = await this.#o.backend.rootOctets();
    } catch (err) {
      this.#o.log.warn({ event: 'qos.autorate.read_failed', err }, `autorate could not read the queue counters: ${(err as Error).message}`);
      return;
    }
    const sent = { up: 0, down: 0 };
    // A counter that went backwards (the tree was rebuilt by an apply or a roll-back) counts from zero.
    for (const d of DIRECTIONS) sent[d] = this.#lastOctets === undefined ? 0 : octets[d] >= this.#lastOctets[d] ? octets[d] - this.#lastOctets[d] : octets[d];
    const first = this.#lastOctets === undefined;
    this.#lastOctets = octets;
    const answered = w.received > 0;
    const changes = this.#controller.tick({
      nowMs: w.endedAt,
      rttMedianMs: answered ? w.rttMedianMs : undefined,
      ...(answered && w.oneWayRawMedianMs ? { oneWayRawMs: w.oneWayRawMedianMs } : {}),
      sentOctets: first ? { up: 0, down: 0 } : sent,
    });
    this.#o.log.debug(
      {
        event: 'qos.autorate.window',
        rtt_median_ms: w.rttMedianMs,
        one_way_raw_ms: w.oneWayRawMedianMs,
        received: w.received,
        sent_octets: sent,
        baseline_ms: this.#controller.baselineMs,
        rates_mbps: this.rates,
      },
      'autorate window',
    );
    this.#noteFreeze();
    if (changes.length > 0) {
      await this.#apply(changes);
      for (const c of changes) this.#logChange(c);
    }
    this.#file = recordChanges(this.#file, changes, this.#controller.state, this.#controller.baselineMs, this.#now());
    this.#write(changes.length > 0);
  }

  async #apply(changes: readonly RateChange[] = []): Promise<void> {
    this.#o.policy.autorateMbps = { ...this.#controller.rates };
    try {
      await this.#o.backend.setShapedRates(this.#o.policy);
    } catch (err) {
      this.#o.log.error({ event: 'qos.autorate.apply_failed', err, changes }, `autorate could not set the rates: ${(err as Error).message}`);
    }
  }

  #logChange(c: RateChange): void {
    this.#o.log.info(
      {
        event: 'qos.autorate.change',
        direction: c.direction,
        from_mbps: c.fromMbps,
        to_mbps: c.toMbps,
        reason: c.reason,
        delay_ms: c.delayMs,
        carried_mbps: c.carriedMbps,
      },
      `autorate ${c.direction}: ${c.fromMbps} → ${c.toMbps} Mbit/s (${c.reason === 'bufferbloat' ? `RTT +${c.delayMs} ms over its baseline while ${c.carriedMbps} Mbit/s went through` : `loaded (${c.carriedMbps} Mbit/s) and calm`})`,
    );
  }

  #noteFreeze(): void {
    const frozen = this.#controller.state === 'frozen';
    if (frozen && !this.#frozenLogged)
      this.#o.log.warn({ event: 'qos.autorate.frozen', rates_mbps: this.rates }, 'autorate: no probe answered; the rates hold at their last value');
    if (!frozen && this.#frozenLogged) this.#o.log.info({ event: 'qos.autorate.resumed' }, 'autorate: probes answer again');
    this.#frozenLogged = frozen;
  }

  #write(force: boolean): void {
    const nowMs = this.#now().getTime();
    if (!force && nowMs - this.#lastWriteMs < (this.#o.refreshMs ?? 10_000)) return;
    this.#lastWriteMs = nowMs;
    try {
      writeAutorateFile(this.#o.stateDir, this.#file);
    } catch (err) {
      this.#o.log.warn({ event: 'qos.autorate.state_unwritable', err }, `autorate state not saved: ${(err as Error).message}`);
    }
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }
}
