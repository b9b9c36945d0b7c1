import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../exec/durable-file.js';
import type { Logger } from '../log/logger.js';
import { signReport, type SigningKey } from '../report/signing.js';
import type { ReportOutbox } from '../report/upload/report-outbox.js';
import { VERSION } from '../version.js';
import type { AlertBody, HeartbeatBody, SummaryBody, TelemetryKind, TelemetrySite } from './telemetry-document.js';

// Signs each telemetry document with the appliance key and queues it in the report outbox,
// whose uploader delivers it in order and keeps it through outages. The sequence number is
// kept in a file written before the document is queued: after a crash between the two, the
// collector sees a gap, never two documents with one number.

const SEQUENCE_FILE = 'telemetry-sequence';

type BodyOf<K extends TelemetryKind> = K extends 'heartbeat'
  ? { heartbeat: HeartbeatBody }
  : K extends 'hourly_summary'
    ? { summary: SummaryBody }
    : { alert: AlertBody };

export interface TelemetrySenderOptions {
  outbox: ReportOutbox;
  key: SigningKey;
  site: TelemetrySite;
  /** The uploader is told a document waits (it tries at once rather than at its next retry). */
  queued: () => void;
  log: Logger;
  now?: () => number;
}

export class TelemetrySender {
  readonly #o: TelemetrySenderOptions;
  readonly #now: () => number;
  readonly #sequencePath: string;
  #sequence: number;

  constructor(o: TelemetrySenderOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#sequencePath = join(o.outbox.dir, SEQUENCE_FILE);
    this.#sequence = readSequence(this.#sequencePath);
  }

  get sequence(): number {
    return this.#sequence;
  }

  send<K extends TelemetryKind>(kind: K, atMs: number, body: BodyOf<K>): string {
    const sequence = this.#sequence + 1;
    writeFileDurably(this.#sequencePath, `${sequence}\n`, 0o640);
    this.#sequence = sequence;
    const document = {
      document: kind,
      schema_version: '1',
      document_id: randomUUID(),
      sequence,
      at: new Date(atMs).toISOString(),
      site: this.#o.site,
      software_version: VERSION,
      ...body,
    };
    const signed = signReport(document, this.#o.key, new Date(Math.max(atMs, this.#now())));
    const id = this.#o.outbox.enqueue(JSON.stringify(signed));
    this.#o.log.debug({ event: 'telemetry.queued', kind, document_id: id, sequence }, `${kind} ${sequence} queued for the collector`);
    this.#o.queued();
    return id;
  }
}

function readSequence(path: string): number {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch {
    return 0;
  }
}
