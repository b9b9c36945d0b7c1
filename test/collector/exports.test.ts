import t from 'tap';
import { exportChunks, type ExportFormat } from '../../src/collector/exports.js';
import { csvField } from '../../src/report/render/national-csv.js';
import type { ReportDocument } from '../../src/report/report-document.js';
import { fixtureReport } from '../fixtures/national-reports.js';

// Exports go on when one stored report cannot be exported (stored before the schema was strict,
// for instance): it is left out with its reason; and no text cell is a live formula.

t.test('a report that cannot be exported is left out, with its reason; the others go on', async (t) => {
  const good = fixtureReport() as unknown as ReportDocument;
  const broken = { ...fixtureReport(), report_id: '00000000-0000-0000-0000-000000000bad', measurements: undefined } as unknown as ReportDocument;
  for (const format of ['csv', 'json', 'pscheduler'] as ExportFormat[]) {
    const skipped: Array<[string, string]> = [];
    let text = '';
    for await (const chunk of exportChunks(format, fromList([broken, good]), { enrolment: 'checked', onSkip: (id, reason) => skipped.push([id, reason]) }))
      text += chunk;
    t.equal(skipped.length, 1, `${format}: one left out`);
    t.equal(skipped[0]![0], broken.report_id, `${format}: the broken one, named`);
    t.match(skipped[0]![1], /measurements|undefined/, `${format}: with the reason`);
    t.match(text, good.report_id, `${format}: the good one is there`);
    t.notMatch(text, broken.report_id);
  }
});

async function* fromList<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

t.test('CSV cells: formulas neutralised, numbers kept', async (t) => {
  t.equal(csvField('=1+1'), `"'=1+1"`);
  t.equal(csvField('+33 1'), `"'+33 1"`);
  t.equal(csvField('-cmd'), `"'-cmd"`);
  t.equal(csvField('@SUM(A1)'), `"'@SUM(A1)"`);
  t.equal(csvField('\tx'), `"'\tx"`);
  t.equal(csvField('\rx'), `"'\rx"`);
  t.equal(csvField('=a"b'), `"'=a""b"`, 'quotes doubled inside');
  t.equal(csvField(-2.5), '-2.5', 'a negative number is a number');
  t.equal(csvField('a,b'), '"a,b"');
  t.equal(csvField('plain'), 'plain');
  t.equal(csvField(null), '');
});
