import type { LinkState } from './degradation.js';

// Loss of one direction judged with its uncertainty: a window of 60 probes that loses 1 is
// 1.7 % "measured" on a link losing 0.3 %, so a point value against a 1 % limit alerts on healthy
// links. Instead the probe stream is a sequential test (Page's CUSUM, Biometrika 41, 1954) of
// the Bernoulli log-likelihood ratio between a link at twice its limit (p1) and one at half its
// limit (p0): each lost probe adds ln(p1/p0), each answered one adds ln((1−p1)/(1−p0)) < 0, the
// sum never goes below 0, and the metric is DEGRADED once it reaches THRESHOLD. Leaving is the
// mirror test (evidence for p0 over p1), started when the metric became DEGRADED. The rates these
// give (false alerts per week at half the limit, delay at twice the limit) are computed by
// `npm run bench -- alert-rates` and given in docs/architecture.md ("Alerts").

/** Log-likelihood ratio the sum must reach: false alerts ≈ 0.2 a week per direction at half the limit. */
export const LOSS_THRESHOLD = 12;
/**
 * Above this the evidence is worth confirming: the prober sends its confirmation rate, so that
 * a real loss is told from chance in seconds (one lost probe in 60 answered leaves 0.49).
 */
export const LOSS_SUSPICION = 0.5;

export interface LossVerdict {
  judged: LinkState;
  /** Loss over the probes the current evidence rests on (since the sum last stood at 0), %. */
  estimatePct: number;
  /** The sum of the test in progress: towards DEGRADED while OK, towards OK while DEGRADED. */
  evidence: number;
}

export class LossEvidence {
  readonly #lostWeight: number;
  readonly #answeredWeight: number;
  #sum = 0;
  #lost = 0;
  #trials = 0;
  #testing: LinkState = 'ok';

  constructor(readonly limitPct: number) {
    const limit = Math.max(limitPct, 0.01); // a 0 % limit would make every loss infinite evidence
    const p0 = limit / 200;
    const p1 = limit / 50;
    this.#lostWeight = Math.log(p1 / p0);
    this.#answeredWeight = Math.log((1 - p1) / (1 - p0));
  }

  /** True while the evidence of a loss above the limit is building (the prober confirms). */
  get suspicious(): boolean {
    return this.#testing === 'ok' && this.#sum >= LOSS_SUSPICION;
  }

  /**
   * Adds one window: `lost` of `trials` probes. `current` is the metric's state, which decides
   * the direction of the test (a new test starts when it changed).
   */
  observe(lost: number, trials: number, current: LinkState): LossVerdict {
    const testing: LinkState = current === 'ok' ? 'ok' : 'degraded';
    if (testing !== this.#testing) {
      this.#testing = testing;
      this.#reset();
    }
    const answered = Math.max(0, trials - lost);
    // towards DEGRADED: evidence for p1; towards OK: the same ratio, the other way round
    const step = lost * this.#lostWeight + answered * this.#answeredWeight;
    const next = this.#sum + (testing === 'ok' ? step : -step);
    if (next <= 0) this.#reset();
    else {
      this.#sum = next;
      this.#lost += lost;
      this.#trials += trials;
    }
    const estimatePct = this.#trials > 0 ? (100 * this.#lost) / this.#trials : trials > 0 ? (100 * lost) / trials : 0;
    const reached = this.#sum >= LOSS_THRESHOLD;
    const judged: LinkState = testing === 'ok' ? (reached ? 'degraded' : 'ok') : reached ? 'ok' : 'degraded';
    return { judged, estimatePct, evidence: this.#sum };
  }

  #reset(): void {
    this.#sum = 0;
    this.#lost = 0;
    this.#trials = 0;
  }
}
