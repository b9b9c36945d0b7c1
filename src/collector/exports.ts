import { NATIONAL_COLUMNS, NATIONAL_HEADER, csvLine, nationalRow } from '../report/render/national-csv.js';
import { pschedulerRuns } from '../report/render/pscheduler.js';
import type { ReportDocument } from '../report/report-document.js';

// The national exports, produced one report at a time (a generator of text chunks) so that the
// collector streams them and `report merge` writes them, whatever the number of reports.

export type ExportFormat = 'csv' | 'json' | 'pscheduler';

export const EXPORT_TYPES: Record<ExportFormat, { contentType: string; file: string }> = {
  csv: { contentType: 'text/csv; charset=utf-8', file: 'reports.csv' },
  json: { contentType: 'application/json; charset=utf-8', file: 'reports.json' },
  pscheduler: { contentType: 'application/x-ndjson; charset=utf-8', file: 'pscheduler.ndjson' },
};

export function* exportChunks(format: ExportFormat, reports: Iterable<ReportDocument>): Generator<string> {
  if (format === 'csv') {
    yield NATIONAL_HEADER;
    for (const r of reports) yield csvLine(nationalRow(r));
  } else if (format === 'json') {
    // the same columns as the CSV, as objects: one per report
    yield '[';
    let first = true;
    for (const r of reports) {
      const values = nationalRow(r);
      yield `${first ? '' : ','}\n${JSON.stringify(Object.fromEntries(NATIONAL_COLUMNS.map((c, i) => [c, values[i] ?? null])))}`;
      first = false;
    }
    yield '\n]\n';
  } else {
    for (const r of reports) for (const run of pschedulerRuns(r)) yield `${JSON.stringify(run)}\n`;
  }
}
