import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import type { ReportDocument } from '../report/report-document.js';
import type { EnrolledKeys } from '../report/enrolled-keys.js';
import { parseDocument, verifyReport, verifySignedDocument, type VerifyOutcome } from '../report/verify-report.js';
import { TELEMETRY_RULES, type TelemetryDocument } from '../telemetry/telemetry-document.js';
import type { AddOutcome, ReportStore } from './report-store.js';
import type { TelemetryStore } from './telemetry-store.js';

// The collector's door: only reports and telemetry documents (a member `document` tells them
// apart) signed by an enrolled key, valid when they arrive, for the key's own appliance and
// establishment, following their schema (verify-report.ts, cheapest checks first). What is
// stored is the canonical text that was verified (reports) or its figures (telemetry). Each
// refusal is answered with its stable code and precise reason, and logged; nothing a sender
// does stops the collector serving others.

export interface IntakeAnswer {
  status: number;
  body: Record<string, unknown>;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  USMP_E_REPORT_MALFORMED: 400,
  USMP_E_REPORT_SCHEMA: 422,
  USMP_E_REPORT_UNSIGNED: 401,
  USMP_E_REPORT_SIGNATURE: 403,
  USMP_E_REPORT_KEY_UNKNOWN: 403,
  USMP_E_REPORT_KEY_EXPIRED: 403,
  USMP_E_REPORT_KEY_REVOKED: 403,
  USMP_E_REPORT_WRONG_SITE: 403,
  USMP_E_ENROLMENT_INCOMPLETE: 403,
  USMP_E_REPORT_TIME: 422,
  USMP_E_REPORT_CONFLICT: 409,
  USMP_E_REPORT_TOO_LARGE: 413,
  USMP_E_ENROLMENT_FILE: 503,
  USMP_E_REPORT_STORE: 503,
  USMP_E_NOT_FOUND: 404,
};

export class ReportIntake {
  readonly counters = { stored: 0, telemetry: 0, duplicates: 0, rejected: 0 };
  readonly #store: ReportStore;
  readonly #telemetry: TelemetryStore | undefined;
  readonly #keys: () => EnrolledKeys;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #graceMs: number;

  /** `graceMs`: how long after a key expired the reports it signed before are still taken. */
  constructor(o: { store: ReportStore; telemetry?: TelemetryStore; keys: () => EnrolledKeys; log: Logger; graceMs: number; now?: () => Date }) {
    this.#store = o.store;
    this.#telemetry = o.telemetry;
    this.#keys = o.keys;
    this.#log = o.log;
    this.#graceMs = o.graceMs;
    this.#now = o.now ?? (() => new Date());
  }

  refuse(code: ErrorCode, reason: string, remote: string | undefined, reportId?: string): IntakeAnswer {
    this.counters.rejected++;
    this.#log.warn({ event: 'collector.rejected', code, reason, remote, document_id: reportId }, `document refused: ${reason}`);
    return { status: STATUS_OF[code] ?? 400, body: { error: { code, reason } } };
  }

  async accept(text: string, remote: string | undefined): Promise<IntakeAnswer> {
    const now = this.#now();
    let keys: EnrolledKeys;
    try {
      keys = this.#keys();
    } catch (err) {
      return this.refuse('USMP_E_ENROLMENT_FILE', (err as Error).message, remote);
    }
    const parsed = parseDocument(text);
    if ('ok' in parsed) return this.refuse(parsed.code, parsed.reason, remote, idOf(text));
    const telemetry = 'document' in parsed.document;
    const options = { keys, now, expiry: 'receipt' as const, graceMs: this.#graceMs };
    const outcome: VerifyOutcome = telemetry ? verifySignedDocument(parsed.document, TELEMETRY_RULES, options) : verifyReport(parsed.document, options);
    if (!outcome.ok) return this.refuse(outcome.code, outcome.reason, remote, idOf(text));
    return telemetry
      ? this.#storeTelemetry(outcome.report as unknown as TelemetryDocument, now, remote)
      : this.#storeReport(outcome.report as unknown as ReportDocument, outcome.canonicalText, now, remote);
  }

  async #storeReport(report: ReportDocument, canonicalText: string, now: Date, remote: string | undefined): Promise<IntakeAnswer> {
    let added: AddOutcome;
    try {
      added = await this.#store.add(report, canonicalText, now);
    } catch (err) {
      this.#log.error({ event: 'collector.store_failed', report_id: report.report_id, err: (err as Error).message }, 'cannot store a report');
      return { status: 503, body: { error: { code: 'USMP_E_REPORT_STORE', reason: 'the collector cannot store reports right now; retry later' } } };
    }
    if (added === 'conflict')
      return this.refuse('USMP_E_REPORT_CONFLICT', `another report with id ${report.report_id} is stored, with a different content`, remote, report.report_id);
    if (added === 'duplicate') {
      this.counters.duplicates++;
      this.#log.info({ event: 'collector.duplicate', report_id: report.report_id, remote }, 'report already stored');
      return { status: 200, body: { status: 'duplicate', report_id: report.report_id } };
    }
    this.counters.stored++;
    this.#log.info(
      {
        event: 'collector.stored',
        report_id: report.report_id,
        site: report.site.establishment_code,
        appliance: report.site.appliance_id,
        verdict: report.verdict,
        remote,
      },
      'report stored',
    );
    return { status: 201, body: { status: 'stored', report_id: report.report_id } };
  }

  async #storeTelemetry(document: TelemetryDocument, now: Date, remote: string | undefined): Promise<IntakeAnswer> {
    const id = document.document_id;
    if (!this.#telemetry) return this.refuse('USMP_E_NOT_FOUND', 'this collector does not take telemetry', remote, id);
    let added: AddOutcome;
    try {
      added = await this.#telemetry.add(document, now);
    } catch (err) {
      this.#log.error(
        { event: 'collector.store_failed', document_id: id, kind: document.document, err: (err as Error).message },
        'cannot store a telemetry document',
      );
      return { status: 503, body: { error: { code: 'USMP_E_REPORT_STORE', reason: 'the collector cannot store documents right now; retry later' } } };
    }
    if (added !== 'stored') {
      this.counters.duplicates++;
      return { status: 200, body: { status: 'duplicate', document_id: id } };
    }
    this.counters.telemetry++;
    this.#log.debug(
      {
        event: 'collector.telemetry_stored',
        document_id: id,
        kind: document.document,
        site: document.site.establishment_code,
        appliance: document.site.appliance_id,
        sequence: document.sequence,
        remote,
      },
      `${document.document} stored`,
    );
    return { status: 201, body: { status: 'stored', document_id: id } };
  }
}

function idOf(text: string): string | undefined {
  const match = /"(?:report|document)_id"\s*:\s*"([0-9a-f-]{36})"/.exec(text.slice(0, 4096));
  return match?.[1];
}
