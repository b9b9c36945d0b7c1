import { csvLine } from '../report/render/national-csv.js';
import type { HourlyRow } from './telemetry-store.js';

// The hourly summaries as CSV or JSON, streamed a row at a time (two years of 177 sites is
// three million rows).

export const HOURLY_EXPORT_COLUMNS = [
  'site_key',
  'hour_start',
  'profile',
  'minutes_observed',
  'rtt_median_ms',
  'rtt_p95_ms',
  'ipdv_median_ms',
  'ipdv_p95_ms',
  'loss_up_pct',
  'loss_down_pct',
  'degraded_min',
  'availability_pct',
  'alerts_raised',
  'alerts_cleared',
  'up_mbps',
  'down_mbps',
] as const satisfies ReadonlyArray<keyof HourlyRow>;

export async function* hourlyChunks(format: 'csv' | 'json', rows: AsyncIterable<HourlyRow>): AsyncGenerator<string> {
  if (format === 'csv') {
    yield csvLine([...HOURLY_EXPORT_COLUMNS]);
    for await (const row of rows) yield csvLine(HOURLY_EXPORT_COLUMNS.map((c) => row[c]));
    return;
  }
  yield '[';
  let first = true;
  for await (const row of rows) {
    yield `${first ? '' : ','}\n${JSON.stringify(Object.fromEntries(HOURLY_EXPORT_COLUMNS.map((c) => [c, row[c]])))}`;
    first = false;
  }
  yield '\n]\n';
}
