import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsmpError } from '../../errors.js';
import { syncDirectory, writeFileDurably } from '../../exec/durable-file.js';

// Reports and telemetry documents waiting for the national collector: one file per document,
// named by its report_id (or document_id), in pending/ (written durably: they survive restarts, crashes and power loss). A report the
// collector took is deleted; one it refused goes to rejected/ with the reason beside it; one
// it has not taken after the expiry goes to expired/. Nothing is dropped silently.

export interface PendingReport {
  id: string;
  path: string;
  /** When the report entered the outbox (ms since the epoch). */
  queuedAtMs: number;
  text: string;
}

const REPORT_ID = /^[0-9a-f-]{36}$/;

export class ReportOutbox {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #sub(name: 'pending' | 'rejected' | 'expired'): string {
    return join(this.dir, name);
  }

  /** Queues the signed document's text; queuing the same document again changes nothing. */
  enqueue(reportText: string): string {
    let id: unknown;
    try {
      const parsed = JSON.parse(reportText) as { report_id?: unknown; document_id?: unknown };
      id = parsed.report_id ?? parsed.document_id;
    } catch (err) {
      throw new UsmpError('USMP_E_REPORT_MALFORMED', `not JSON: ${(err as Error).message}`);
    }
    if (typeof id !== 'string' || !REPORT_ID.test(id)) throw new UsmpError('USMP_E_REPORT_SCHEMA', 'the document has no valid report_id or document_id');
    const path = join(this.#sub('pending'), `${id}.json`);
    try {
      statSync(path);
      return id;
    } catch {
      writeFileDurably(path, reportText, 0o640);
    }
    return id;
  }

  /** Pending reports, oldest first. Temporary files of an interrupted enqueue are ignored. */
  pending(): PendingReport[] {
    let names: string[];
    try {
      names = readdirSync(this.#sub('pending'));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json') && REPORT_ID.test(n.slice(0, -5)))
      .map((n) => {
        const path = join(this.#sub('pending'), n);
        return { id: n.slice(0, -5), path, queuedAtMs: statSync(path).mtimeMs, text: readFileSync(path, 'utf8') };
      })
      .sort((a, b) => a.queuedAtMs - b.queuedAtMs || a.id.localeCompare(b.id));
  }

  delivered(report: PendingReport): void {
    unlinkSync(report.path);
    syncDirectory(this.#sub('pending'));
  }

  setAside(report: PendingReport, where: 'rejected' | 'expired', reason: string): string {
    const dir = this.#sub(where);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    writeFileDurably(join(dir, `${report.id}.reason.txt`), `${reason}\n`, 0o640);
    const target = join(dir, `${report.id}.json`);
    renameSync(report.path, target);
    syncDirectory(dir);
    syncDirectory(this.#sub('pending'));
    return target;
  }

  count(where: 'pending' | 'rejected' | 'expired' = 'pending'): number {
    try {
      return readdirSync(this.#sub(where)).filter((n) => n.endsWith('.json')).length;
    } catch {
      return 0;
    }
  }
}
