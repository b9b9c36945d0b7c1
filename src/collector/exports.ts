import { NATIONAL_COLUMNS, NATIONAL_HEADER, csvLine, nationalRow, type EnrolmentCheck, type SiteLiveFigures } from '../report/render/national-csv.js';
import { siteKeyOf } from './report-store.js';
import { pschedulerRuns } from '../report/render/pscheduler.js';
import { PLACES_HEADER, placeRows } from '../report/render/places-csv.js';
import type { ReportDocument } from '../report/report-document.js';

// The national exports, produced one report at a time (an async generator of text chunks) so
// that the collector streams them and `report merge` writes them, whatever the number of reports. A
// report that cannot be exported is left out with its reason (`onSkip`); the others go on.

export type ExportFormat = 'csv' | 'json' | 'pscheduler' | 'places';

export const EXPORT_TYPES: Record<ExportFormat, { contentType: string; file: string }> = {
  csv: { contentType: 'text/csv; charset=utf-8', file: 'reports.csv' },
  json: { contentType: 'application/json; charset=utf-8', file: 'reports.json' },
  pscheduler: { contentType: 'application/x-ndjson; charset=utf-8', file: 'pscheduler.ndjson' },
  places: { contentType: 'text/csv; charset=utf-8', file: 'places.csv' },
};

export interface ExportOptions {
  enrolment: EnrolmentCheck;
  /** Each site's live figures by site key (the collector); absent offline. */
  live?: ReadonlyMap<string, SiteLiveFigures> | undefined;
  onSkip: (reportId: string, reason: string) => void;
}

export async function* exportChunks(format: ExportFormat, reports: AsyncIterable<ReportDocument>, o: ExportOptions): AsyncGenerator<string> {
  const each = async function* (render: (r: ReportDocument) => string): AsyncGenerator<string> {
    for await (const r of reports) {
      let text: string;
      try {
        text = render(r);
      } catch (err) {
        o.onSkip(typeof r.report_id === 'string' ? r.report_id : '?', (err as Error).message);
        continue;
      }
      yield text;
    }
  };
  if (format === 'csv') {
    yield NATIONAL_HEADER;
    yield* each((r) => csvLine(nationalRow(r, o.enrolment, o.live?.get(siteKeyOf(r)))));
  } else if (format === 'json') {
    // the same columns as the CSV, as objects: one per report
    yield '[';
    let first = true;
    for await (const object of each((r) => {
      const values = nationalRow(r, o.enrolment, o.live?.get(siteKeyOf(r)));
      return JSON.stringify(Object.fromEntries(NATIONAL_COLUMNS.map((c, i) => [c, values[i] ?? null])));
    })) {
      yield `${first ? '' : ','}\n${object}`;
      first = false;
    }
    yield '\n]\n';
  } else if (format === 'places') {
    yield PLACES_HEADER;
    yield* each((r) => placeRows(r).map(csvLine).join(''));
  } else {
    yield* each((r) =>
      pschedulerRuns(r)
        .map((run) => `${JSON.stringify(run)}\n`)
        .join(''),
    );
  }
}
