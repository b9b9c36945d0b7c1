import type { Heartbeat, HourlySummaryDocument, TelemetryDocument } from '../telemetry/telemetry-document.js';
import type { AddOutcome, SiteScope } from './report-store.js';
import type { SqlClient, SqlDatabase, SqlValue } from './sql/sql-database.js';
import { CALL_COLUMNS } from './sql/migrations.js';
import { SqlFleetView } from './sql-fleet-view.js';
import { HEARTBEAT_DAYS, HOURLY_DAYS, type FleetView, type SilentChange, type TelemetryStore } from './telemetry-store.js';

// The live fleet written in SQL (SQLite or PostgreSQL; sql-fleet-view.ts reads it). A batch of
// documents (one, from the intake) is one transaction: their own rows (ON CONFLICT DO NOTHING: a
// second copy is a duplicate, whichever collector took the first), the daily roll-ups they add
// to, and each appliance's latest state in `fleet` — taken only from a heartbeat newer than the
// one it holds, so a backlog arriving after an outage never rewinds it.

const DAY_MS = 86_400_000;
const flag = (value: boolean | null): number | null => (value === null ? null : value ? 1 : 0);
const later = (column: string) =>
  `CASE WHEN excluded.last_heartbeat_at IS NOT NULL AND (fleet.last_heartbeat_at IS NULL OR excluded.last_heartbeat_at > fleet.last_heartbeat_at) THEN excluded.${column} ELSE fleet.${column} END`;

const LATEST_STATE = [
  'version',
  'last_heartbeat_at',
  'heartbeat_interval_s',
  'link_state',
  'link_since',
  'rtt_ms',
  'outbox_depth',
  'outbox_oldest_age_s',
  'report_outbox_depth',
  'devices_connected',
  'hospital_connected',
  'disk_free_mib',
  'clock_synchronised',
  'uptime_s',
] as const;
const IDENTITY = ['appliance_id', 'establishment_code', 'establishment', 'region'] as const;

// The sequence gap is counted from the first number of the batch ($22) against the last one
// held, plus the numbers missing inside the batch ($23): one statement per site and batch.
const UPSERT_FLEET = `INSERT INTO fleet (site_key, ${IDENTITY.join(', ')}, ${LATEST_STATE.join(', ')}, last_received_at, last_sequence, sequence_gaps)
  VALUES (${Array.from({ length: 1 + IDENTITY.length + LATEST_STATE.length + 2 }, (_, i) => `$${i + 1}`).join(', ')}, $23)
  ON CONFLICT (site_key) DO UPDATE SET
    ${IDENTITY.map((c) => `${c} = excluded.${c}`).join(', ')},
    ${LATEST_STATE.map((c) => `${c} = ${later(c)}`).join(', ')},
    last_received_at = CASE WHEN excluded.last_received_at > fleet.last_received_at THEN excluded.last_received_at ELSE fleet.last_received_at END,
    sequence_gaps = fleet.sequence_gaps + CASE WHEN $22 > fleet.last_sequence + 1 THEN $22 - fleet.last_sequence - 1 ELSE 0 END + $23,
    last_sequence = CASE WHEN excluded.last_sequence > fleet.last_sequence THEN excluded.last_sequence ELSE fleet.last_sequence END`;

const HOURLY_INSERT_COLUMNS = [
  'site_key',
  'hour_start',
  'document_id',
  'received_at',
  'profile',
  'minutes_observed',
  'rtt_median_ms',
  'rtt_p95_ms',
  'ipdv_median_ms',
  'ipdv_p95_ms',
  'loss_up_pct',
  'loss_down_pct',
  'degraded_min',
  'degraded_rtt_min',
  'degraded_ipdv_min',
  'degraded_loss_min',
  'degraded_reachability_min',
  'availability_pct',
  'alerts_raised',
  'alerts_cleared',
  'up_mbps',
  'down_mbps',
  'limit_rtt_ms',
  'limit_ipdv_ms',
  'limit_loss_pct',
  ...CALL_COLUMNS,
] as const;
const ROW_TABLES = {
  heartbeat: {
    table: 'heartbeats',
    columns: [
      'document_id',
      'site_key',
      'at',
      'received_at',
      'sequence',
      'version',
      'link_state',
      'rtt_ms',
      'outbox_depth',
      'report_outbox_depth',
      'hospital_connected',
      'disk_free_mib',
      'clock_synchronised',
    ],
  },
  hourly_summary: { table: 'hourly', columns: HOURLY_INSERT_COLUMNS },
  alert: {
    table: 'fleet_alerts',
    columns: ['document_id', 'site_key', 'at', 'received_at', 'sequence', 'kind', 'metric', 'state', 'measured', 'limit_value', 'unit', 'message'],
  },
} as const satisfies Record<TelemetryDocument['document'], { table: string; columns: readonly string[] }>;

/** Rows per INSERT: one statement per chunk rather than per document (well under both databases' parameter limits). */
const CHUNK = 100;

/** INSERT of `rows` rows at once; the document_id of each row actually inserted comes back. */
function multiInsert(kind: TelemetryDocument['document'], rows: number): string {
  const { table, columns } = ROW_TABLES[kind];
  const tuples = Array.from({ length: rows }, (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING RETURNING document_id`;
}

const DAILY_SUMS = [
  'hours',
  'minutes_observed',
  'minutes_available',
  'degraded_min',
  'rtt_median_weighted',
  'rtt_minutes',
  'loss_up_weighted',
  'loss_down_weighted',
  'loss_minutes',
  'alerts_raised',
  ...CALL_COLUMNS,
] as const;
type DailySums = Record<(typeof DAILY_SUMS)[number], number> & { rtt_p95_max_ms: number | null };
const UPSERT_DAILY = `INSERT INTO daily (site_key, day, ${DAILY_SUMS.join(', ')}, rtt_p95_max_ms) VALUES (${Array.from({ length: DAILY_SUMS.length + 3 }, (_, i) => `$${i + 1}`).join(', ')})
  ON CONFLICT (site_key, day) DO UPDATE SET ${DAILY_SUMS.map((c) => `${c} = daily.${c} + excluded.${c}`).join(', ')},
    rtt_p95_max_ms = CASE WHEN daily.rtt_p95_max_ms IS NULL OR excluded.rtt_p95_max_ms > daily.rtt_p95_max_ms THEN excluded.rtt_p95_max_ms ELSE daily.rtt_p95_max_ms END`;

const HEARTBEAT_SUMS = ['heartbeats', 'link_ok', 'link_degraded', 'link_down'] as const;
const UPSERT_HEARTBEAT_DAY = `INSERT INTO heartbeats_daily (site_key, day, ${HEARTBEAT_SUMS.join(', ')}, last_version) VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (site_key, day) DO UPDATE SET ${HEARTBEAT_SUMS.map((c) => `${c} = heartbeats_daily.${c} + excluded.${c}`).join(', ')}, last_version = excluded.last_version`;

export function siteKeyOfTelemetry(document: TelemetryDocument): string {
  return document.site.establishment_code || `appliance:${document.site.appliance_id}`;
}

export class SqlTelemetryStore implements TelemetryStore {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async add(document: TelemetryDocument, receivedAt: Date): Promise<AddOutcome> {
    return (await this.addMany([document], receivedAt))[0]!;
  }

  addMany(documents: readonly TelemetryDocument[], receivedAt: Date): Promise<AddOutcome[]> {
    const received = receivedAt.toISOString();
    return this.#db.transaction(async (tx) => {
      const inserted = await insertRows(tx, documents, received);
      const seen = new Set<string>();
      const outcomes = documents.map((d): AddOutcome => {
        const first = !seen.has(d.document_id);
        seen.add(d.document_id);
        return first && inserted.has(d.document_id) ? 'stored' : 'duplicate';
      });
      const stored = documents.filter((_, i) => outcomes[i] === 'stored');
      // each day row and each appliance row once per batch: a bulk load does not update one
      // row thousands of times in a transaction
      await rollUpDays(tx, stored);
      await updateFleet(tx, stored, received);
      return outcomes;
    });
  }

  scoped(scope: SiteScope): FleetView {
    return new SqlFleetView(this.#db, scope);
  }

  silence(nowMs: number, silentBeforeMs: number): Promise<{ silent: SilentChange[]; heard: SilentChange[] }> {
    const returning = 'RETURNING site_key, appliance_id, establishment, region, last_received_at, silent_since';
    return this.#db.transaction(async (tx) => {
      // UPDATE … RETURNING: with several collectors on one database, each change goes to one of them
      const heard = await tx.all<SilentChange>(
        `UPDATE fleet SET silent_since = NULL WHERE silent_since IS NOT NULL AND last_received_at >= silent_since ${returning}`,
      );
      const silent = await tx.all<SilentChange>(`UPDATE fleet SET silent_since = $1 WHERE silent_since IS NULL AND last_received_at < $2 ${returning}`, [
        new Date(nowMs).toISOString(),
        new Date(silentBeforeMs).toISOString(),
      ]);
      return { silent, heard };
    });
  }

  compact(nowMs: number): Promise<{ heartbeats: number; hourly: number; alerts: number }> {
    return this.#db.transaction(async (tx) => ({
      heartbeats: await tx.run('DELETE FROM heartbeats WHERE at < $1', [new Date(nowMs - HEARTBEAT_DAYS * DAY_MS).toISOString()]),
      hourly: await tx.run('DELETE FROM hourly WHERE hour_start < $1', [new Date(nowMs - HOURLY_DAYS * DAY_MS).toISOString()]),
      alerts: await tx.run('DELETE FROM fleet_alerts WHERE at < $1', [new Date(nowMs - HOURLY_DAYS * DAY_MS).toISOString()]),
    }));
  }
}

/** The documents' own rows, a chunk per statement; the ids of those not there already. */
async function insertRows(tx: SqlClient, documents: readonly TelemetryDocument[], received: string): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (const kind of Object.keys(ROW_TABLES) as Array<TelemetryDocument['document']>) {
    const ofKind = documents.filter((d) => d.document === kind);
    for (let i = 0; i < ofKind.length; i += CHUNK) {
      const chunk = ofKind.slice(i, i + CHUNK);
      const rows = await tx.all<{ document_id: string }>(
        multiInsert(kind, chunk.length),
        chunk.flatMap((d) => rowOf(d, received)),
      );
      for (const r of rows) inserted.add(r.document_id);
    }
  }
  return inserted;
}

/** A document's row, in the order of ROW_TABLES' columns. */
function rowOf(d: TelemetryDocument, received: string): SqlValue[] {
  const siteKey = siteKeyOfTelemetry(d);
  if (d.document === 'heartbeat') {
    const h = d.heartbeat;
    return [
      d.document_id,
      siteKey,
      d.at,
      received,
      d.sequence,
      d.software_version,
      h.link.state,
      h.link.rtt_ms,
      h.outbox.depth,
      h.report_outbox_depth,
      flag(h.hospital_connected),
      h.disk_free_mib,
      flag(h.clock_synchronised),
    ];
  }
  if (d.document === 'alert') {
    const a = d.alert;
    return [d.document_id, siteKey, d.at, received, d.sequence, a.kind, a.metric, a.state, String(a.measured), String(a.limit), a.unit, a.message];
  }
  const s = d.summary;
  const dm = s.degraded_minutes;
  return [
    siteKey,
    s.hour_start,
    d.document_id,
    received,
    s.profile,
    s.minutes_observed,
    s.rtt_ms?.median ?? null,
    s.rtt_ms?.p95 ?? null,
    s.ipdv_ms?.median ?? null,
    s.ipdv_ms?.p95 ?? null,
    s.loss_pct.up,
    s.loss_pct.down,
    dm.overall,
    dm.rtt_ms ?? 0,
    dm.ipdv_ms ?? 0,
    Math.max(dm.loss_up_pct ?? 0, dm.loss_down_pct ?? 0),
    dm.reachability ?? 0,
    s.availability_pct,
    s.alerts.raised,
    s.alerts.cleared,
    best(s.throughput, 'up'),
    best(s.throughput, 'down'),
    s.limits.rtt_ms,
    s.limits.ipdv_ms,
    s.limits.loss_pct,
    ...(s.calls ? [s.calls.calls, s.calls.attempts, s.calls.minutes, s.calls.good, s.calls.fair, s.calls.poor] : CALL_COLUMNS.map(() => null)),
  ];
}

/** Adds the stored summaries to their day's roll-up and the heartbeats to their day's counts. */
async function rollUpDays(tx: SqlClient, stored: readonly TelemetryDocument[]): Promise<void> {
  const days = new Map<string, DailySums>();
  const beats = new Map<string, { counts: Record<(typeof HEARTBEAT_SUMS)[number], number>; version: string; at: string }>();
  for (const d of stored) {
    const key = `${siteKeyOfTelemetry(d)}\u0000${d.document === 'hourly_summary' ? d.summary.hour_start.slice(0, 10) : d.at.slice(0, 10)}`;
    if (d.document === 'hourly_summary') {
      const s = d.summary;
      const observed = s.minutes_observed;
      const rttMinutes = s.rtt_ms ? observed : 0;
      const lossMinutes = s.loss_pct.up !== null && s.loss_pct.down !== null ? observed : 0;
      const sums = days.get(key) ?? {
        hours: 0,
        minutes_observed: 0,
        minutes_available: 0,
        degraded_min: 0,
        rtt_median_weighted: 0,
        rtt_minutes: 0,
        loss_up_weighted: 0,
        loss_down_weighted: 0,
        loss_minutes: 0,
        alerts_raised: 0,
        calls: 0,
        call_attempts: 0,
        call_minutes: 0,
        calls_good: 0,
        calls_fair: 0,
        calls_poor: 0,
        rtt_p95_max_ms: null,
      };
      sums.hours += 1;
      sums.minutes_observed += observed;
      sums.minutes_available += s.availability_pct === null ? 0 : (s.availability_pct * observed) / 100;
      sums.degraded_min += s.degraded_minutes.overall;
      sums.rtt_median_weighted += (s.rtt_ms?.median ?? 0) * rttMinutes;
      sums.rtt_minutes += rttMinutes;
      sums.loss_up_weighted += (s.loss_pct.up ?? 0) * lossMinutes;
      sums.loss_down_weighted += (s.loss_pct.down ?? 0) * lossMinutes;
      sums.loss_minutes += lossMinutes;
      sums.alerts_raised += s.alerts.raised;
      if (s.calls) {
        sums.calls += s.calls.calls;
        sums.call_attempts += s.calls.attempts;
        sums.call_minutes += s.calls.minutes;
        sums.calls_good += s.calls.good;
        sums.calls_fair += s.calls.fair;
        sums.calls_poor += s.calls.poor;
      }
      if (s.rtt_ms && (sums.rtt_p95_max_ms === null || s.rtt_ms.p95 > sums.rtt_p95_max_ms)) sums.rtt_p95_max_ms = s.rtt_ms.p95;
      days.set(key, sums);
    } else if (d.document === 'heartbeat') {
      const entry = beats.get(key) ?? { counts: { heartbeats: 0, link_ok: 0, link_degraded: 0, link_down: 0 }, version: d.software_version, at: d.at };
      entry.counts.heartbeats += 1;
      const state = d.heartbeat.link.state;
      if (state === 'ok') entry.counts.link_ok += 1;
      else if (state === 'degraded') entry.counts.link_degraded += 1;
      else if (state === 'down') entry.counts.link_down += 1;
      if (d.at >= entry.at) Object.assign(entry, { version: d.software_version, at: d.at });
      beats.set(key, entry);
    }
  }
  for (const [key, sums] of days) {
    const [site, day] = key.split('\u0000') as [string, string];
    await tx.run(UPSERT_DAILY, [site, day, ...DAILY_SUMS.map((c) => sums[c]), sums.rtt_p95_max_ms]);
  }
  for (const [key, b] of beats) {
    const [site, day] = key.split('\u0000') as [string, string];
    await tx.run(UPSERT_HEARTBEAT_DAY, [site, day, ...HEARTBEAT_SUMS.map((c) => b.counts[c]), b.version]);
  }
}

/** Each appliance's row: its latest heartbeat's state, its last receipt, its sequence. */
async function updateFleet(tx: SqlClient, stored: readonly TelemetryDocument[], received: string): Promise<void> {
  const bySite = new Map<string, TelemetryDocument[]>();
  for (const d of stored) bySite.set(siteKeyOfTelemetry(d), [...(bySite.get(siteKeyOfTelemetry(d)) ?? []), d]);
  for (const [siteKey, documents] of bySite) {
    const sequences = [...new Set(documents.map((d) => d.sequence))].sort((a, b) => a - b);
    const first = sequences[0]!;
    const last = sequences[sequences.length - 1]!;
    const missingInside = last - first + 1 - sequences.length;
    const beat = documents
      .filter((d): d is Heartbeat => d.document === 'heartbeat')
      .reduce<Heartbeat | undefined>((latest, d) => (!latest || d.at > latest.at ? d : latest), undefined);
    const h = beat?.heartbeat;
    const state: Record<(typeof LATEST_STATE)[number], SqlValue> = {
      version: beat ? beat.software_version : null,
      last_heartbeat_at: beat ? beat.at : null,
      heartbeat_interval_s: h?.interval_s ?? null,
      link_state: h?.link.state ?? null,
      link_since: h?.link.since ?? null,
      rtt_ms: h?.link.rtt_ms ?? null,
      outbox_depth: h?.outbox.depth ?? null,
      outbox_oldest_age_s: h?.outbox.oldest_age_s ?? null,
      report_outbox_depth: h?.report_outbox_depth ?? null,
      devices_connected: h?.devices_connected ?? null,
      hospital_connected: h ? flag(h.hospital_connected) : null,
      disk_free_mib: h?.disk_free_mib ?? null,
      clock_synchronised: h ? flag(h.clock_synchronised) : null,
      uptime_s: h?.uptime_s ?? null,
    };
    const s = documents[documents.length - 1]!.site;
    await tx.run(UPSERT_FLEET, [
      siteKey,
      s.appliance_id,
      s.establishment_code,
      s.establishment,
      s.region,
      ...LATEST_STATE.map((c) => state[c]),
      received,
      last,
      first,
      missingInside,
    ]);
  }
}

function best(throughput: HourlySummaryDocument['summary']['throughput'], direction: 'up' | 'down'): number | null {
  const values = throughput.filter((t) => t.direction === direction).map((t) => t.mbps);
  return values.length ? Math.max(...values) : null;
}
