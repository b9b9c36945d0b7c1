// The degradation state machine: per metric and overall, OK / DEGRADED / DOWN,
// with hysteresis twice over — a window is judged against an enter threshold while the metric
// is OK and against a lower leave threshold while it is not (rules.ts), and a state changes only
// after `enterWindows` windows in a row say worse or `leaveWindows` in a row say better. So a
// link flapping faster than the leave duration gives one alert and one clear, not dozens.

export type LinkState = 'ok' | 'degraded' | 'down';

const RANK: Record<LinkState, number> = { ok: 0, degraded: 1, down: 2 };

export function worstOf(states: Iterable<LinkState>): LinkState {
  let worst: LinkState = 'ok';
  for (const s of states) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

export interface Hysteresis {
  /** Consecutive windows judged worse before the state worsens. */
  enterWindows: number;
  /** Consecutive windows judged better before the state improves. */
  leaveWindows: number;
}

export interface Transition {
  from: LinkState;
  to: LinkState;
  /** When the previous state began, ms since the epoch. */
  previousSince: number;
  at: number;
}

export class MetricState {
  #state: LinkState = 'ok';
  #since: number;
  #candidate: LinkState = 'ok';
  #streak = 0;

  constructor(
    readonly hysteresis: Hysteresis,
    now: number,
  ) {
    this.#since = now;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** When the current state began. */
  get since(): number {
    return this.#since;
  }

  /** Feeds one window's judgement; returns the transition when the state changes. */
  observe(judged: LinkState, at: number): Transition | undefined {
    if (judged === this.#state) {
      this.#streak = 0;
      return undefined;
    }
    if (judged === this.#candidate) this.#streak++;
    else {
      this.#candidate = judged;
      this.#streak = 1;
    }
    const worse = RANK[judged] > RANK[this.#state];
    const needed = worse ? this.hysteresis.enterWindows : this.hysteresis.leaveWindows;
    if (this.#streak < needed) return undefined;
    const transition: Transition = { from: this.#state, to: judged, previousSince: this.#since, at };
    this.#state = judged;
    this.#since = at;
    this.#streak = 0;
    return transition;
  }
}
