// Dates, times and durations as RouterOS prints them. Dates and times are the router's local
// time: only differences between two of them mean anything here, so they are read as if UTC.
// Forms [help.mikrotik.com "Clock", "Scheduler"]: RouterOS 7.10 and later print 2026-12-02 and
// 2026-12-02 15:38:03; earlier ones dec/02/2026 15:38:03, and a date of the current year or
// day may be left out (dec/02 15:38:03, 15:38:03).

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export interface RouterDay {
  year: number;
  month: number;
  day: number;
}

/** A date as /system/clock prints it; undefined when it is neither form. */
export function parseRouterDate(text: string): RouterDay | undefined {
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (iso) return { year: Number(iso[1]), month: Number(iso[2]), day: Number(iso[3]) };
  const old = /^([a-z]{3})\/(\d{2})\/(\d{4})$/i.exec(text);
  const month = old ? MONTHS.indexOf(old[1]!.toLowerCase()) + 1 : 0;
  return old && month > 0 ? { year: Number(old[3]), month, day: Number(old[2]) } : undefined;
}

/** A date and time (or a time of `today`) in milliseconds on the router's own local clock. */
export function parseRouterDateTime(text: string, today: RouterDay): number | undefined {
  const m = /^(?:(?:(\d{4})-)?(\d{2})-(\d{2})|([a-z]{3})\/(\d{2})(?:\/(\d{4}))?)?\s*(\d{2}):(\d{2}):(\d{2})$/i.exec(text.trim());
  if (!m) return undefined;
  let { year, month, day } = today;
  if (m[2] !== undefined) [year, month, day] = [m[1] === undefined ? year : Number(m[1]), Number(m[2]), Number(m[3])];
  if (m[4] !== undefined) {
    month = MONTHS.indexOf(m[4].toLowerCase()) + 1;
    if (month === 0) return undefined;
    [year, day] = [m[6] === undefined ? year : Number(m[6]), Number(m[5])];
  }
  return Date.UTC(year, month - 1, day, Number(m[7]), Number(m[8]), Number(m[9]));
}

/** RouterOS durations: 1m30s, 45s, 00:01:30, 1d02:00:00. */
export function durationMs(text: string): number {
  const hms = /^(?:(\d+)d)?(\d+):(\d+):(\d+)$/.exec(text);
  if (hms) return (((Number(hms[1] ?? 0) * 24 + Number(hms[2])) * 60 + Number(hms[3])) * 60 + Number(hms[4])) * 1000;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|w|d|h|m|s)/g))
    ms += Number(m[1]) * ({ ms: 0.001, w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as Record<string, number>)[m[2]!]! * 1000;
  return ms;
}
