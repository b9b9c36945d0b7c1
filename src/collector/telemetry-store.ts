import type { AddOutcome, SiteScope } from './report-store.js';
import type { TelemetryDocument } from '../telemetry/telemetry-document.js';

// What the collector keeps of the appliances' telemetry (sql-telemetry-store.ts), behind an
// interface as reports are: heartbeats thirty days (their daily counts for ever), hourly
// summaries two years (their daily roll-up for ever), alerts, and each appliance's latest state.

export const HEARTBEAT_DAYS = 30;
export const HOURLY_DAYS = 2 * 366;

/** One row of the national grid: a site's latest state and its last 24 hours. */
export interface GridRow {
  site_key: string;
  establishment: string | null;
  establishment_code: string | null;
  region: string | null;
  appliance_id: string | null;
  version: string | null;
  last_heartbeat_at: string | null;
  last_received_at: string | null;
  heartbeat_interval_s: number | null;
  silent_since: string | null;
  link_state: string | null;
  hospital_connected: boolean | null;
  outbox_depth: number | null;
  sequence_gaps: number;
  /** Over the last 24 hours of summaries. */
  minutes_observed: number | null;
  availability_pct: number | null;
  rtt_p95_ms: number | null;
  loss_pct: number | null;
  degraded_min: number | null;
  /** The limits of the site's profile, from its latest summary. */
  limit_rtt_ms: number | null;
  limit_loss_pct: number | null;
  profile: string | null;
  /** The latest qualification's verdict, when the site sent one. */
  verdict: string | null;
  /** Calls seen on the network since the first of the month (UTC), and how many graded poor. */
  calls_month: number | null;
  calls_poor_month: number | null;
}

/** One month of a site's calls seen on the network. */
export interface MonthOfCalls {
  /** YYYY-MM */
  month: string;
  calls: number;
  minutes: number;
  attempts: number;
  good: number;
  fair: number;
  poor: number;
}

/** A site's calls seen on the network over a period: the follow-up table's "acts". */
export interface Acts {
  calls: number;
  minutes: number;
  attempts: number;
  poor: number;
}

export interface TimelinePoint {
  /** Hour (30 days) or day (12 months), ISO 8601. */
  at: string;
  minutes_observed: number;
  availability_pct: number | null;
  rtt_median_ms: number | null;
  rtt_p95_ms: number | null;
  loss_pct: number | null;
  degraded_min: number;
}

export interface AlertMark {
  at: string;
  kind: string;
  metric: string;
  state: string;
  message: string;
}

export interface HourlyRow {
  site_key: string;
  hour_start: string;
  profile: string | null;
  minutes_observed: number;
  rtt_median_ms: number | null;
  rtt_p95_ms: number | null;
  ipdv_median_ms: number | null;
  ipdv_p95_ms: number | null;
  loss_up_pct: number | null;
  loss_down_pct: number | null;
  degraded_min: number;
  availability_pct: number | null;
  alerts_raised: number;
  alerts_cleared: number;
  up_mbps: number | null;
  down_mbps: number | null;
}

export interface SilentChange {
  site_key: string;
  appliance_id: string;
  establishment: string | null;
  region: string | null;
  last_received_at: string;
  silent_since: string;
}

export interface FleetView {
  grid(o: { region?: string | undefined; nowMs: number }): Promise<GridRow[]>;
  timeline(siteKey: string, range: '30d' | '12m', nowMs: number): Promise<{ points: TimelinePoint[]; alerts: AlertMark[] }>;
  versions(): Promise<Array<{ version: string; sites: string[] }>>;
  /** Every hourly summary, by site then hour, a page at a time. */
  eachHourly(): AsyncIterable<HourlyRow>;
  /** Per site over the 30 days before `nowMs`: availability and hours degraded (the follow-up table). */
  thirtyDays(nowMs: number): Promise<Map<string, { availability_pct: number | null; hours_degraded: number; last_heartbeat_at: string | null }>>;
  /** A site's calls by month, the last twelve months (the current one first); empty outside the reader's scope. */
  callsByMonth(siteKey: string, nowMs: number): Promise<MonthOfCalls[]>;
  /** Per site over the 365 days before `nowMs`: calls seen on the network (the follow-up table's acts). */
  acts(nowMs: number): Promise<Map<string, Acts>>;
}

export interface TelemetryStore {
  /** Stores a verified document; idempotent by document_id (and by site and hour for summaries). */
  add(document: TelemetryDocument, receivedAt: Date): Promise<AddOutcome>;
  /** Several verified documents in one transaction (imports, backfills): each one's outcome. */
  addMany(documents: readonly TelemetryDocument[], receivedAt: Date): Promise<AddOutcome[]>;
  scoped(scope: SiteScope): FleetView;
  /**
   * Marks silent the appliances not heard from since `silentBefore`, and clears those heard
   * from since; each change is returned once, even with several collectors on one database.
   */
  silence(nowMs: number, silentBeforeMs: number): Promise<{ silent: SilentChange[]; heard: SilentChange[] }>;
  /** Deletes what is past its retention (its daily roll-up stays). */
  compact(nowMs: number): Promise<{ heartbeats: number; hourly: number; alerts: number }>;
}
