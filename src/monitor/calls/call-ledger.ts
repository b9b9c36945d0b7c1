import type { CallRecord } from './call-tracker.js';
import type { Grade } from './call-quality.js';

// What the appliance counted of calls: since it started (the Prometheus counters) and today
// (/health), a day being the appliance's local calendar day.

export interface CallTally {
  calls: number;
  attempts: number;
  minutes: number;
  by_grade: Record<Grade, number>;
}

export const emptyTally = (): CallTally => ({ calls: 0, attempts: 0, minutes: 0, by_grade: { good: 0, fair: 0, poor: 0 } });

/** Counts a call (or an attempt) that ended into a tally; minutes to the hundredth. */
export function countCall(tally: CallTally, call: Pick<CallRecord, 'kind' | 'duration_s' | 'grade'>): void {
  if (call.kind === 'attempt') {
    tally.attempts++;
    return;
  }
  tally.calls++;
  tally.minutes = Math.round((tally.minutes + call.duration_s / 60) * 100) / 100;
  tally.by_grade[call.grade]++;
}

export class CallLedger {
  readonly total = emptyTally();
  #day = '';
  #today = emptyTally();

  add(call: Pick<CallRecord, 'kind' | 'duration_s' | 'grade' | 'ended_at'>): void {
    const day = localDay(Date.parse(call.ended_at));
    if (day !== this.#day) {
      this.#day = day;
      this.#today = emptyTally();
    }
    countCall(this.total, call);
    countCall(this.#today, call);
  }

  /** Today's counts (zero on a day with no call yet). */
  today(nowMs: number): CallTally & { date: string } {
    const day = localDay(nowMs);
    return { date: day, ...(day === this.#day ? structuredClone(this.#today) : emptyTally()) };
  }
}

function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
