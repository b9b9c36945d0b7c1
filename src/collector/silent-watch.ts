import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AlertSink } from '../monitor/alerts/alert.js';
import type { SilentChange, TelemetryStore } from './telemetry-store.js';

// The collector's own alert: an appliance not heard from for `silentAfterMs` is flagged silent
// (logged, and posted to the webhook when one is set), and cleared when it is heard from again.
// Nobody is flagged before the collector itself has run that long: after the collector's own
// outage, the appliances' backlogs must have had their chance to arrive.

/** What the webhook receives: the change as the store reported it, named and explained. */
export interface SilentNotice extends SilentChange {
  id: string;
  kind: 'silent' | 'heard';
  message: string;
}

export interface SilentWatchOptions {
  store: TelemetryStore;
  silentAfterMs: number;
  log: Logger;
  webhook?: AlertSink<SilentNotice> | undefined;
  now?: () => number;
}

export class SilentWatch {
  readonly #o: SilentWatchOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(o: SilentWatchOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  start(everyMs = Math.min(60_000, Math.max(1_000, this.#o.silentAfterMs / 4))): void {
    this.#timer = setInterval(() => void this.check(), everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#o.webhook?.close?.();
  }

  /** One pass; concurrent calls share it. */
  check(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<void> {
    const now = this.#now();
    if (now - this.#startedAt < this.#o.silentAfterMs) return;
    let changes: { silent: SilentChange[]; heard: SilentChange[] };
    try {
      changes = await this.#o.store.silence(now, now - this.#o.silentAfterMs);
    } catch (err) {
      this.#o.log.error({ event: 'collector.silent_check_failed', err: (err as Error).message }, 'cannot check for silent appliances');
      return;
    }
    const minutes = Math.round(this.#o.silentAfterMs / 60_000);
    for (const c of changes.heard) {
      this.#notify('heard', c, `${c.appliance_id} (${c.establishment ?? c.site_key}) heard from again after being silent since ${c.silent_since}`);
    }
    for (const c of changes.silent) {
      this.#notify(
        'silent',
        c,
        `${c.appliance_id} (${c.establishment ?? c.site_key}) silent: nothing received since ${c.last_received_at} (more than ${minutes} min)`,
      );
    }
  }

  #notify(kind: 'silent' | 'heard', c: SilentChange, message: string): void {
    const fields = {
      event: kind === 'silent' ? 'collector.appliance_silent' : 'collector.appliance_heard',
      site: c.site_key,
      appliance: c.appliance_id,
      region: c.region,
      last_received_at: c.last_received_at,
      silent_since: c.silent_since,
    };
    if (kind === 'silent') this.#o.log.warn(fields, message);
    else this.#o.log.info(fields, message);
    this.#o.webhook?.deliver({ id: randomUUID(), kind, ...c, message });
  }
}
