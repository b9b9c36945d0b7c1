import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isUsmpError } from '../errors.js';
import type { ReportDocument } from './report-document.js';
import { renderReportHtml } from './render/html-report.js';
import { loadSigningKey, type SigningKey } from './signing.js';
import { collectorClient } from './upload/collector-client.js';
import { ReportOutbox } from './upload/report-outbox.js';
import { ReportUploader } from './upload/report-uploader.js';

// What follows a qualification: the report signed (when this appliance has its key), rendered
// for people (report.html beside report.json), and queued for the national collector.

export interface ReportSettings {
  signing_key_file: string;
  collector_url: string;
  collector_ca_file: string;
  outbox_dir: string;
  expiry_days: number;
  retry_min_s: number;
  retry_max_s: number;
}

/** The appliance key, or why reports go unsigned (no key yet is normal before `report keygen`). */
export function signingKeyOrReason(path: string): { key?: SigningKey; reason?: string } {
  if (!existsSync(path)) return { reason: `no appliance key at ${path} (create it with usmp-edge report keygen)` };
  try {
    return { key: loadSigningKey(path) };
  } catch (err) {
    if (isUsmpError(err)) return { reason: err.message };
    throw err;
  }
}

export async function writeReportHtml(dir: string, report: ReportDocument, lang: 'fr' | 'en'): Promise<string> {
  const path = join(dir, 'report.html');
  writeFileSync(path, await renderReportHtml(report, lang));
  return path;
}

/** Queues the signed report and tries to deliver the outbox once; the daemon retries later. */
export async function queueForCollector(reportText: string, settings: ReportSettings, log: Logger): Promise<string> {
  const outbox = new ReportOutbox(settings.outbox_dir);
  const id = outbox.enqueue(reportText);
  const uploader = new ReportUploader({
    outbox,
    post: collectorClient(settings.collector_url, settings.collector_ca_file, 10_000),
    log,
    expiryDays: settings.expiry_days,
    retryMinS: settings.retry_min_s,
    retryMaxS: settings.retry_max_s,
  });
  const result = await uploader.runOnce();
  if (result.delivered + result.duplicates > 0 && !outbox.pending().some((p) => p.id === id))
    return `sent to the national collector (${settings.collector_url})`;
  if (result.rejected > 0) return `refused by the national collector: see ${settings.outbox_dir}/rejected`;
  return `queued for the national collector (${result.error ?? 'not sent yet'}); usmp-edge run retries, or usmp-edge report upload`;
}
