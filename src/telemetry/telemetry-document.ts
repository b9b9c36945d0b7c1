import { readFileSync } from 'node:fs';
import AjvModule, { type ValidateFunction } from 'ajv';
import type { Alert } from '../monitor/alerts/alert.js';
import type { SignedDocumentRules } from '../report/verify-report.js';

// What an appliance tells the collector between qualifications (schemas/telemetry.schema.json):
// a heartbeat every few minutes, a summary of each hour of monitoring, each alert as it is raised
// or cleared. Signed like reports, carried by the same outbox and uploader.

export const TELEMETRY_SCHEMA_URL = new URL('../../schemas/telemetry.schema.json', import.meta.url);

export const TELEMETRY_KINDS = ['heartbeat', 'hourly_summary', 'alert'] as const;
export type TelemetryKind = (typeof TELEMETRY_KINDS)[number];

export interface TelemetrySite {
  appliance_id: string;
  establishment_code: string;
  establishment: string;
  region: string;
}

interface Envelope<K extends TelemetryKind> {
  document: K;
  schema_version: '1';
  document_id: string;
  /** One more than the appliance's previous document: a gap shows at the collector. */
  sequence: number;
  /** When it was measured: the heartbeat's time, the hour's end, the alert's time. */
  at: string;
  site: TelemetrySite;
  software_version: string;
}

export type LinkStateSeen = 'ok' | 'degraded' | 'down' | 'unknown';

export interface HeartbeatBody {
  interval_s: number;
  uptime_s: number;
  link: { state: LinkStateSeen; since: string | null; rtt_ms: number | null; loss_up_pct: number | null; loss_down_pct: number | null };
  outbox: { depth: number; oldest_age_s: number | null };
  report_outbox_depth: number;
  devices_connected: number | null;
  hospital_connected: boolean | null;
  disk_free_mib: number | null;
  clock_synchronised: boolean | null;
}

export interface MedianP95 {
  median: number;
  p95: number;
}

export interface SummaryBody {
  hour_start: string;
  minutes_observed: number;
  profile: string;
  limits: { rtt_ms: number | null; ipdv_ms: number | null; loss_pct: number | null };
  rtt_ms: MedianP95 | null;
  ipdv_ms: MedianP95 | null;
  loss_pct: { up: number | null; down: number | null };
  degraded_minutes: { overall: number } & Partial<Record<Alert['metric'], number>>;
  availability_pct: number | null;
  throughput: Array<{ at: string; direction: 'up' | 'down'; mbps: number }>;
  alerts: { raised: number; cleared: number };
  /** Calls seen on the network that ended this hour; absent from appliances older than this member. */
  calls?: CallCounts;
}

export interface CallCounts {
  calls: number;
  attempts: number;
  minutes: number;
  good: number;
  fair: number;
  poor: number;
}

export type AlertBody = Omit<Alert, 'appliance' | 'affects'>;

export type Heartbeat = Envelope<'heartbeat'> & { heartbeat: HeartbeatBody };
export type HourlySummaryDocument = Envelope<'hourly_summary'> & { summary: SummaryBody };
export type AlertDocument = Envelope<'alert'> & { alert: AlertBody };
export type TelemetryDocument = Heartbeat | HourlySummaryDocument | AlertDocument;

// ajv is CommonJS: under NodeNext its default export is the module object.
const Ajv = AjvModule.default;
let validators: Record<TelemetryKind, ValidateFunction> | undefined;

function validatorsOf(): Record<TelemetryKind, ValidateFunction> {
  if (!validators) {
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const schema = JSON.parse(readFileSync(TELEMETRY_SCHEMA_URL, 'utf8')) as { $id: string };
    ajv.addSchema(schema);
    validators = Object.fromEntries(TELEMETRY_KINDS.map((k) => [k, ajv.compile({ $ref: `${schema.$id}#/definitions/${k}` })])) as Record<
      TelemetryKind,
      ValidateFunction
    >;
  }
  return validators;
}

export function isTelemetryKind(value: unknown): value is TelemetryKind {
  return typeof value === 'string' && (TELEMETRY_KINDS as readonly string[]).includes(value);
}

/** Schema problems of a telemetry document, each with its path; none when it is valid. */
export function validateTelemetry(document: unknown): string[] {
  const kind = (document as { document?: unknown } | null)?.document;
  if (!isTelemetryKind(kind)) return [`/document: must be one of ${TELEMETRY_KINDS.join(', ')}`];
  const validate = validatorsOf()[kind];
  if (validate(document)) return [];
  return (validate.errors ?? []).map((e) => {
    const at = e.instancePath || '(root)';
    if (e.keyword === 'additionalProperties') return `${at}: unknown key ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
    return `${at}: ${e.message ?? 'invalid'}`;
  });
}

export const TELEMETRY_RULES: SignedDocumentRules = { what: 'telemetry document', validate: validateTelemetry, timeMember: 'at' };
