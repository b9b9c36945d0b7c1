import type { ReportDocument } from '../report-document.js';
import { textOf } from './html-page.js';

// One row per qualification run in the columns of the national follow-up table (today a
// spreadsheet filled by hand), RFC 4180 quoting, UTF-8. Column names are a contract: add
// columns at the end, never rename. Text from a report is written so that no spreadsheet runs
// it as a formula (OWASP, "CSV Injection": a cell that starts with =, +, -, @, tab or carriage
// return is prefixed with a single quote and quoted).

export const NATIONAL_COLUMNS = [
  'report_id',
  'establishment_code',
  'establishment',
  'region',
  'usmp',
  'hospital',
  'hospital_used',
  'link_type',
  'link_operator',
  'cabling_date',
  'connection_date',
  'equipment',
  'auditor',
  'appliance_id',
  'started_at',
  'plan',
  'profile',
  'verdict',
  'up_mbps',
  'down_mbps',
  'rtt_mean_ms',
  'rtt_p95_ms',
  'ipdv_mean_ms',
  'loss_pct',
  'loaded_rtt_increase_ms',
  'dscp_up',
  'dscp_down',
  'remediation',
  'missing_up_mbps',
  'missing_down_mbps',
  'qos_backend',
  'qos_verified',
  'raw_sha256',
  'signed_by_key',
  'signed_at',
  'enrolment',
  'last_heartbeat_at',
  'availability_30d_pct',
  'hours_degraded_30d',
  'acts_calls_365d',
  'acts_minutes_365d',
  'acts_poor_pct_365d',
  'acts_attempts_365d',
  'acts_source',
] as const;

/** What the acts columns count, written in the export beside them. */
export const ACTS_SOURCE = 'calls seen on the network by the appliance (RTP headers); not declared acts';

/** What the collector knows of a site's live fleet figures (empty offline: `report merge`). */
export interface SiteLiveFigures {
  last_heartbeat_at: string | null;
  availability_pct: number | null;
  hours_degraded: number;
  /** Calls seen on the network over the last 365 days. */
  acts?: { calls: number; minutes: number; attempts: number; poor: number };
}

/** Whether the signing key was checked against the enrolled appliances (the collector always does). */
export type EnrolmentCheck = 'checked' | 'not checked';

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  // numbers are the report's own figures (a negative one is a number, not a formula)
  if (typeof value === 'number') return String(value);
  const text = textOf(value);
  if (FORMULA_START.test(text)) return `"'${text.replace(/"/g, '""')}"`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

export function nationalRow(r: ReportDocument, enrolment: EnrolmentCheck, live?: SiteLiveFigures): unknown[] {
  const s = r.site;
  const m = r.measurements;
  const row: Record<(typeof NATIONAL_COLUMNS)[number], unknown> = {
    report_id: r.report_id,
    establishment_code: s.establishment_code,
    establishment: s.establishment,
    region: s.region,
    usmp: s.usmp,
    hospital: s.hospital,
    hospital_used: s.hospital_used,
    link_type: s.link.type,
    link_operator: s.link.operator,
    cabling_date: s.cabling_date,
    connection_date: s.connection_date,
    equipment: s.equipment.join('; '),
    auditor: s.auditor,
    appliance_id: s.appliance_id,
    started_at: r.started_at,
    plan: r.plan,
    profile: r.profile,
    verdict: r.verdict,
    up_mbps: m.up_mbps,
    down_mbps: m.down_mbps,
    rtt_mean_ms: m.rtt_ms.mean,
    rtt_p95_ms: m.rtt_ms.p95,
    ipdv_mean_ms: m.ipdv_ms.mean,
    loss_pct: m.loss_pct,
    loaded_rtt_increase_ms: m.loaded_rtt_increase_ms,
    dscp_up: m.dscp.up,
    dscp_down: m.dscp.down,
    remediation: r.remediation.category,
    missing_up_mbps: r.remediation.missing_mbps?.up,
    missing_down_mbps: r.remediation.missing_mbps?.down,
    qos_backend: r.qos?.backend,
    qos_verified: r.qos?.last_verify?.verdict,
    raw_sha256: r.raw_sha256,
    signed_by_key: r.signature?.key_id,
    signed_at: r.signature?.signed_at,
    enrolment,
    // the site's figures at the time of the export, the same on each of its rows
    last_heartbeat_at: live?.last_heartbeat_at,
    availability_30d_pct: live?.availability_pct === null || live?.availability_pct === undefined ? undefined : Math.round(live.availability_pct * 1000) / 1000,
    hours_degraded_30d: live === undefined ? undefined : Math.round(live.hours_degraded * 100) / 100,
    acts_calls_365d: live?.acts?.calls,
    acts_minutes_365d: live?.acts?.minutes,
    acts_poor_pct_365d: live?.acts && live.acts.calls > 0 ? Math.round((1000 * live.acts.poor) / live.acts.calls) / 10 : undefined,
    acts_attempts_365d: live?.acts?.attempts,
    acts_source: live?.acts ? ACTS_SOURCE : undefined,
  };
  return NATIONAL_COLUMNS.map((c) => row[c]);
}

export const NATIONAL_HEADER = csvLine([...NATIONAL_COLUMNS]);
