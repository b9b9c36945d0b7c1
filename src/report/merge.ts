import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { EVERY_SITE } from '../collector/report-store.js';
import { SqliteDatabase } from '../collector/sql/sqlite-database.js';
import { migrate } from '../collector/sql/migrations.js';
import { SqlReportStore } from '../collector/sql-report-store.js';
import { EXPORT_TYPES, exportChunks, type ExportFormat } from '../collector/exports.js';
import { renderDashboard } from '../collector/dashboard-page.js';
import type { EnrolledKeys } from './enrolled-keys.js';
import type { ReportDocument } from './report-document.js';
import { verifyReportText } from './verify-report.js';

// `usmp-edge report merge DIR`: the collector's work done offline on a folder of reports (a USB
// stick from the sites, an archive): the same checks, the same exports, a dashboard page.

export interface MergeResult {
  merged: number;
  duplicates: number;
  refused: Array<{ file: string; code: string; reason: string }>;
  /** Verified, but left out of the exports (a renderer failed on them). */
  skipped: Array<{ report_id: string; reason: string }>;
  files: string[];
}

function* reportFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* reportFiles(path);
    // raw.json holds samples, not a report
    else if (entry.isFile() && entry.name.endsWith('.json') && entry.name !== 'raw.json') yield path;
  }
}

export async function mergeReports(o: { dir: string; outDir: string; keys?: EnrolledKeys | undefined; lang: 'fr' | 'en'; now?: Date }): Promise<MergeResult> {
  statSync(o.dir);
  const db = new SqliteDatabase(':memory:');
  await migrate(db);
  const store = new SqlReportStore(db);
  const result: MergeResult = { merged: 0, duplicates: 0, refused: [], skipped: [], files: [] };
  const now = o.now ?? new Date();
  try {
    for (const file of reportFiles(o.dir)) {
      const text = readFileSync(file, 'utf8');
      // an archive's keys may have expired since: what counts is that they were valid when they signed
      const outcome = verifyReportText(text, { keys: o.keys, now, expiry: 'signature' });
      if (!outcome.ok) {
        result.refused.push({ file: relative(o.dir, file), code: outcome.code, reason: outcome.reason });
        continue;
      }
      const added = await store.add(outcome.report as unknown as ReportDocument, outcome.canonicalText, now);
      if (added === 'stored') result.merged++;
      else if (added === 'duplicate') result.duplicates++;
      else
        result.refused.push({
          file: relative(o.dir, file),
          code: 'USMP_E_REPORT_CONFLICT',
          reason: 'another report with this report_id and a different content was merged already',
        });
    }
    mkdirSync(o.outDir, { recursive: true });
    const skipped = new Map<string, string>();
    const exportOptions = { enrolment: o.keys ? 'checked' : 'not checked', onSkip: (id: string, reason: string) => skipped.set(id, reason) } as const;
    for (const format of Object.keys(EXPORT_TYPES) as ExportFormat[]) {
      const path = join(o.outDir, EXPORT_TYPES[format].file);
      const chunks: string[] = [];
      for await (const chunk of exportChunks(format, store.scoped(EVERY_SITE).eachReport(), exportOptions)) chunks.push(chunk);
      writeFileSync(path, chunks.join(''));
      result.files.push(path);
    }
    result.skipped = [...skipped].map(([report_id, reason]) => ({ report_id, reason }));
    const index = join(o.outDir, 'index.html');
    writeFileSync(index, await renderDashboard(store.scoped(EVERY_SITE), { page: 1 }, o.lang, now.getTime()));
    result.files.push(index);
  } finally {
    await db.close();
  }
  return result;
}
