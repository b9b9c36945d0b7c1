import t from 'tap';
import { fixtureReport } from '../fixtures/national-reports.js';
import { validateReport } from '../../src/report/qualification-report.js';
import { renderReportHtml } from '../../src/report/render/html-report.js';
import { exportChunks } from '../../src/collector/exports.js';
import { PLACE_COLUMNS } from '../../src/report/render/places-csv.js';
import { PlaceRecord } from '../../src/station/place-book.js';
import { judgePlace } from '../../src/station/place-verdict.js';
import { stationFigures } from '../../src/station/place-submission.js';
import { loadProfiles } from '../../src/qualify/profiles.js';
import type { ReportDocument } from '../../src/report/report-document.js';

// A report with places, as `qualify --station` writes it: checked by the schema, rendered in
// both languages, exported one row per place. The places are built by the product's own code
// from a page's document; the lab test runs the whole path.

const profile = loadProfiles().get('teleconsultation-hd')!;

function place(name: string, downBytes: number): ReturnType<PlaceRecord['section']> {
  const internal = stationFigures(
    {
      place: name,
      idle_rtt_ms: [2, 3, 4],
      down: { bytes: downBytes, seconds: 8 },
      loaded_rtt_ms: { down: [60, 70], up: [20, 30] },
      probes: { sent: 300, lost: 0 },
    },
    { mbps: 9.4, bytes: 9_400_000, seconds: 8 },
    4,
    '198.18.1.10',
  );
  const record = new PlaceRecord(0, name, '2026-12-03T10:00:00.000Z', internal);
  const link = { up_mbps: 19.1, down_mbps: 19.1, rtt_ms: 24.8, loaded_rtt_increase_ms: { up: 10, down: 12 }, loss_pct: 0 };
  record.link = { figures: link, verdict: 'pass', started_at: '2026-12-03T10:00:30.000Z' };
  record.judgement = judgePlace(internal, link, profile);
  record.status = 'done';
  return record.section();
}

const withPlaces = (): ReportDocument =>
  ({
    ...fixtureReport(),
    schema_version: '1.2',
    places: [place('Salle 12, borne B', 9_500_000), place('=HYPERLINK("x")', 60_000_000)],
  }) as unknown as ReportDocument;

t.test('the places section validates, renders, and exports one formula-safe row per place', async (t) => {
  const report = withPlaces();
  t.same(validateReport(report), [], 'valid against the schema');
  t.not(validateReport({ ...report, places: [{ ...report.places![0], name: 'a\u0000b' }] }).length, 0, 'a control character in a name is refused');
  t.not(validateReport({ ...report, places: [{ ...report.places![0], hacked: true }] }).length, 0, 'an unknown key is refused');
  const en = await renderReportHtml(report, 'en');
  t.match(en, /<h2 id="places">Places tested from a station<\/h2>/);
  t.match(en, /data-testid="place-0" data-limiting="internal"/);
  t.match(en, /=HYPERLINK\(&quot;x&quot;\)/, 'names are escaped in the page');
  t.match(await renderReportHtml(report, 'fr'), /Limité par le réseau interne à cet endroit/);
  let csv = '';
  for await (const chunk of exportChunks(
    'places',
    (async function* () {
      yield report;
    })(),
    { enrolment: 'checked', onSkip: () => t.fail('skipped') },
  ))
    csv += chunk;
  const rows = csv.trimEnd().split('\r\n');
  t.equal(rows.length, 3, 'header and one row per place');
  t.equal(rows[0], PLACE_COLUMNS.join(','));
  t.match(rows[1], /,"Salle 12, borne B",/);
  t.match(rows[2], /,"'=HYPERLINK\(""x""\)",/, 'a name that starts a formula is neutralised');
  t.match(rows[1], /,internal,/, 'the limiting segment');
});
