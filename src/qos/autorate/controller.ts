// Autorate: the shaped rate follows the link's real capacity, from the delay our own probes see
// beyond our queues. The idea is cake-autorate's (github.com/lynxthecat/cake-autorate) and
// MikroTik's "autorate ingress": a queue that forms past our shaper (in the modem or the
// operator's network) shows as a rise of the probes' RTT over its baseline, because our probes
// travel in a priority class and skip our own queues. Then the rate steps down, to below what
// the link just carried; while the link is loaded and the delay stays low, it steps back up.
//
// Pure: the caller feeds it each probe window (its median RTT) and the octets our root classes
// sent since the last one, with the time; it returns the new rates and the reasons. Never above
// the configured maximum, never below the floor; when the probes stop answering it holds the
// last rate that held, never the maximum.

export type Direction = 'up' | 'down';
export const DIRECTIONS: readonly Direction[] = ['up', 'down'];

export interface AutorateSettings {
  /** The configured shaped rates: the ceiling. */
  maxMbps: Record<Direction, number>;
  /** The lowest rate, Mbit/s per direction. */
  floorMbps: Record<Direction, number>;
  /** RTT rise over the baseline that means a queue formed beyond us. */
  delayThresholdMs: number;
  /** On bufferbloat: the new rate is at most this share of what the link carried (and of the rate). */
  decreaseFactor: number;
  /** While loaded and calm: the rate grows by this share of the maximum per window. */
  increaseStepOfMax: number;
  /** The link is loaded in a direction when it carried at least this share of the rate. */
  loadThreshold: number;
  /** No increase for this long after a decrease. */
  holdDownMs: number;
  /** No second decrease this soon after one: the probes' answers lag the change. */
  refractoryMs: number;
  /** Without a probe answered for this long, the rate freezes. */
  staleMs: number;
}

export interface AutorateInput {
  nowMs: number;
  /** Median RTT of the probe window that just ended; undefined when none answered. */
  rttMedianMs: number | undefined;
  /**
   * Median one-way delays of the window, clock offset included: with them a queue is told to
   * be on the way up or on the way down; without, a rise of the RTT counts for both.
   */
  oneWayRawMs?: Record<Direction, number>;
  /** Octets our root class sent in each direction since the previous input. */
  sentOctets: Record<Direction, number>;
}

export type ChangeReason = 'bufferbloat' | 'loaded_and_calm';

export interface RateChange {
  direction: Direction;
  fromMbps: number;
  toMbps: number;
  reason: ChangeReason;
  delayMs: number;
  carriedMbps: number;
  atMs: number;
}

export type AutorateState = 'starting' | 'tracking' | 'frozen';

/** Baselines follow a lower value at once, a higher one slowly (a route change, clock drift). [cake-autorate's alpha_baseline_increase] */
const BASELINE_RISE = 0.002;
/**
 * A rise must last this many windows in a row before the rate drops: one window's spike is a
 * flow's slow start or a burst, not a link that lost capacity (cake-autorate counts delayed
 * samples over a detection window for the same reason). A deep rise acts at once.
 */
const WINDOWS_TO_CONFIRM = 2;
/** A delay this many times the threshold means the link lost much of its capacity: step harder. */
const DEEP_BLOAT = 5;
const DEEP_DECREASE_FACTOR = 0.7;
/** Near the rate where the last queue formed, the rate grows by this share of its usual step. */
const CAREFUL_STEP = 0.25;
/** "Near": within this share of the maximum above or below it. */
const NEAR_LAST_BLOAT = 0.1;

export class AutorateController {
  readonly #s: AutorateSettings;
  readonly rates: Record<Direction, number>;
  #baselineMs: number | undefined;
  #oneWayBaselineMs: Partial<Record<Direction, number>> = {};
  #lastBloatMbps: Partial<Record<Direction, number>> = {};
  #windowsOver: Record<Direction, number> = { up: 0, down: 0 };
  #lastInputMs: number | undefined;
  #lastAnswerMs: number | undefined;
  #lastDecreaseMs: Record<Direction, number> = { up: -Infinity, down: -Infinity };
  state: AutorateState = 'starting';

  constructor(settings: AutorateSettings, startRates?: Partial<Record<Direction, number>>) {
    this.#s = settings;
    this.rates = { up: settings.maxMbps.up, down: settings.maxMbps.down };
    for (const d of DIRECTIONS) if (startRates?.[d] !== undefined) this.rates[d] = clamp(startRates[d], settings.floorMbps[d], settings.maxMbps[d]);
  }

  get baselineMs(): number | undefined {
    return this.#baselineMs;
  }

  tick(input: AutorateInput): RateChange[] {
    const s = this.#s;
    const elapsedMs = this.#lastInputMs === undefined ? undefined : input.nowMs - this.#lastInputMs;
    this.#lastInputMs = input.nowMs;
    if (input.rttMedianMs === undefined) {
      if (this.#lastAnswerMs === undefined || input.nowMs - this.#lastAnswerMs >= s.staleMs) this.state = 'frozen';
      return [];
    }
    this.#lastAnswerMs = input.nowMs;
    const rtt = input.rttMedianMs;
    this.#baselineMs = follow(this.#baselineMs, rtt);
    const oneWay = input.oneWayRawMs;
    if (oneWay) for (const d of DIRECTIONS) this.#oneWayBaselineMs[d] = follow(this.#oneWayBaselineMs[d], oneWay[d]);
    this.state = 'tracking';
    if (elapsedMs === undefined || elapsedMs <= 0) return [];
    const changes: RateChange[] = [];
    for (const d of DIRECTIONS) {
      const delayMs = oneWay ? oneWay[d] - this.#oneWayBaselineMs[d]! : rtt - this.#baselineMs;
      const carriedMbps = (input.sentOctets[d] * 8) / (elapsedMs * 1000);
      const from = this.rates[d];
      const loaded = carriedMbps >= s.loadThreshold * from;
      // A link that lost capacity carries less than our rate: half the load threshold still
      // counts as our traffic making the queue (with less, the queue is someone else's).
      const contributing = carriedMbps >= (s.loadThreshold / 2) * from;
      let to = from;
      let reason: ChangeReason | undefined;
      this.#windowsOver[d] = delayMs > s.delayThresholdMs ? this.#windowsOver[d] + 1 : 0;
      const deep = delayMs > DEEP_BLOAT * s.delayThresholdMs;
      if ((this.#windowsOver[d] >= WINDOWS_TO_CONFIRM || deep) && contributing && input.nowMs - this.#lastDecreaseMs[d] >= s.refractoryMs) {
        // Below what the link just carried: the queue beyond us drains.
        const factor = deep ? Math.min(s.decreaseFactor, DEEP_DECREASE_FACTOR) : s.decreaseFactor;
        to = Math.max(s.floorMbps[d], Math.min(from, carriedMbps) * factor);
        reason = 'bufferbloat';
        this.#lastDecreaseMs[d] = input.nowMs;
        this.#lastBloatMbps[d] = Math.min(from, carriedMbps);
      } else if (delayMs <= s.delayThresholdMs / 2 && loaded && input.nowMs - this.#lastDecreaseMs[d] >= s.holdDownMs) {
        // Approach the rate where the last queue formed carefully: each overshoot is a delay spike.
        const last = this.#lastBloatMbps[d];
        const near = last !== undefined && Math.abs(from - last) <= NEAR_LAST_BLOAT * s.maxMbps[d];
        to = Math.min(s.maxMbps[d], from + s.increaseStepOfMax * s.maxMbps[d] * (near ? CAREFUL_STEP : 1));
        reason = 'loaded_and_calm';
      }
      to = round3(to);
      if (reason && to !== from) {
        this.rates[d] = to;
        changes.push({ direction: d, fromMbps: from, toMbps: to, reason, delayMs: round3(delayMs), carriedMbps: round3(carriedMbps), atMs: input.nowMs });
      }
    }
    return changes;
  }
}

function follow(baseline: number | undefined, sample: number): number {
  return baseline === undefined || sample < baseline ? sample : baseline + BASELINE_RISE * (sample - baseline);
}

function clamp(x: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, x));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
