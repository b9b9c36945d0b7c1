import type { Logger } from '../log/logger.js';
import type { DeviceBroker } from '../broker/device-broker.js';
import type { DurableOutbox } from '../bridge/outbox/outbox.js';
import type { UpstreamBridge } from '../bridge/upstream-bridge.js';

// What the broker and bridge are doing, for people and for /metrics (metrics-server.ts): queue depth,
// age of the oldest message, in/out rates, devices connected, refusals by reason. A log event
// every interval, and an alarm event when the outbox fills (raised once, cleared once).

export interface BridgeSnapshot {
  outbox_depth: number;
  outbox_bytes: number;
  outbox_oldest_age_s: number | null;
  outbox_capacity: number;
  outbox_full: boolean;
  in_per_s: number;
  out_per_s: number;
  devices_connected: number;
  hospital_connected: boolean;
  hospital_protocol: string | null;
  in_flight: number;
  sent_total: number;
  acknowledged_total: number;
  rejected_by_hospital_total: number;
  broker: ReturnType<DeviceBroker['stats']['snapshot']>;
  rss_mib: number;
  heap_used_mib: number;
  external_mib: number;
}

export interface BridgeObserverOptions {
  outbox: DurableOutbox;
  broker: DeviceBroker;
  bridge: UpstreamBridge | undefined;
  log: Logger;
  now?: () => number;
}

/** The alarm is raised at 100 % and cleared below 90 %, so it does not flap at the edge. */
const CLEAR_BELOW = 0.9;

export class BridgeObserver {
  readonly #o: BridgeObserverOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #alarm = false;
  #last: { at: number; inTotal: number; outTotal: number };
  #rates = { in: 0, out: 0 };

  constructor(options: BridgeObserverOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#last = { at: this.#now(), inTotal: 0, outTotal: 0 };
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => this.tick(), intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Updates the rates and the alarm, and logs one stats event. */
  tick(): BridgeSnapshot {
    const now = this.#now();
    const inTotal = this.#o.broker.stats.publishesIn;
    const outTotal = this.#o.bridge?.counters.acknowledged ?? 0;
    const seconds = Math.max(0.001, (now - this.#last.at) / 1000);
    this.#rates = { in: (inTotal - this.#last.inTotal) / seconds, out: (outTotal - this.#last.outTotal) / seconds };
    this.#last = { at: now, inTotal, outTotal };
    this.checkAlarm();
    const snapshot = this.snapshot();
    this.#o.log.info(
      { event: 'bridge.stats', ...snapshot },
      `outbox ${snapshot.outbox_depth} messages, in ${snapshot.in_per_s.toFixed(1)}/s, out ${snapshot.out_per_s.toFixed(1)}/s`,
    );
    return snapshot;
  }

  snapshot(): BridgeSnapshot {
    const { outbox, broker, bridge } = this.#o;
    const oldest = outbox.oldestEnqueuedAt;
    return {
      outbox_depth: outbox.depth,
      outbox_bytes: outbox.bytes,
      outbox_oldest_age_s: oldest === undefined ? null : Math.max(0, (this.#now() - oldest) / 1000),
      outbox_capacity: outbox.capacity,
      outbox_full: this.#alarm,
      in_per_s: this.#rates.in,
      out_per_s: this.#rates.out,
      devices_connected: broker.connectedDevices,
      hospital_connected: bridge?.counters.connected ?? false,
      hospital_protocol: bridge?.counters.protocol === 5 ? '5' : bridge?.counters.protocol === 4 ? '3.1.1' : null,
      in_flight: bridge?.counters.in_flight ?? 0,
      sent_total: bridge?.counters.sent ?? 0,
      acknowledged_total: bridge?.counters.acknowledged ?? 0,
      rejected_by_hospital_total: bridge?.counters.rejected_by_hospital ?? 0,
      broker: broker.stats.snapshot(),
      ...processMemory(),
    };
  }

  /** Raised when the outbox is full (called on each refusal too), cleared below 90 %. */
  checkAlarm(): void {
    const { outbox } = this.#o;
    const ratio = outbox.fillRatio;
    if (!this.#alarm && ratio >= 1) {
      this.#alarm = true;
      this.#o.log.error(
        { event: 'alarm.outbox_full', depth: outbox.depth, bytes: outbox.bytes },
        'ALARM: the outbox is full; devices are refused until the hospital takes messages again',
      );
    } else if (this.#alarm && ratio < CLEAR_BELOW) {
      this.#alarm = false;
      this.#o.log.warn({ event: 'alarm.outbox_full.cleared', depth: outbox.depth }, 'the outbox has room again; devices are accepted');
    }
  }
}

function processMemory(): { rss_mib: number; heap_used_mib: number; external_mib: number } {
  const m = process.memoryUsage();
  const mib = (bytes: number) => Math.round(bytes / 1048576);
  return { rss_mib: mib(m.rss), heap_used_mib: mib(m.heapUsed), external_mib: mib(m.external) };
}
