import type { AlertDocument, Heartbeat, HourlySummary, TelemetryDocument } from '../telemetry/telemetry-document.js';
import type { AddOutcome, SiteScope } from './report-store.js';
import type { SqlClient, SqlDatabase, SqlValue } from './sql/sql-database.js';
import { HEARTBEAT_DAYS, HOURLY_DAYS, type AlertMark, type FleetView, type GridRow, type HourlyRow, type SilentChange, type TelemetryStore, type TimelinePoint } from './telemetry-store.js';

// The live fleet in SQL (SQLite or PostgreSQL). Each document is one transaction: its own row
// (ON CONFLICT DO NOTHING: a second copy is a duplicate, whichever collector took the first),
// the daily roll-up it adds to, and the appliance's latest state in `fleet` — taken only from a
// document newer than the one it holds, so a backlog arriving after an outage never rewinds it.

const DAY_MS = 86_400_000;
const flag = (value: boolean | null): number | null => (value === null ? null : value ? 1 : 0);
const later = (column: string) => `CASE WHEN excluded.last_heartbeat_at IS NOT NULL AND (fleet.last_heartbeat_at IS NULL OR excluded.last_heartbeat_at > fleet.last_heartbeat_at) THEN excluded.${column} ELSE fleet.${column} END`;

const LATEST_STATE = ['version', 'last_heartbeat_at', 'heartbeat_interval_s', 'link_state', 'link_since', 'rtt_ms', 'outbox_depth', 'outbox_oldest_age_s', 'report_outbox_depth', 'devices_connected', 'hospital_connected', 'disk_free_mib', 'clock_synchronised', 'uptime_s'] as const;
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

const HOURLY_INSERT_COLUMNS = ['site_key', 'hour_start', 'document_id', 'received_at', 'profile', 'minutes_observed', 'rtt_median_ms', 'rtt_p95_ms', 'ipdv_median_ms', 'ipdv_p95_ms', 'loss_up_pct', 'loss_down_pct',
  'degraded_min', 'degraded_rtt_min', 'degraded_ipdv_min', 'degraded_loss_min', 'degraded_reachability_min', 'availability_pct', 'alerts_raised', 'alerts_cleared', 'up_mbps', 'down_mbps', 'limit_rtt_ms', 'limit_ipdv_ms', 'limit_loss_pct'] as const;
const ROW_TABLES = {
  heartbeat: { table: 'heartbeats', columns: ['document_id', 'site_key', 'at', 'received_at', 'sequence', 'version', 'link_state', 'rtt_ms', 'outbox_depth', 'report_outbox_depth', 'hospital_connected', 'disk_free_mib', 'clock_synchronised'] },
  hourly_summary: { table: 'hourly', columns: HOURLY_INSERT_COLUMNS },
  alert: { table: 'fleet_alerts', columns: ['document_id', 'site_key', 'at', 'received_at', 'sequence', 'kind', 'metric', 'state', 'measured', 'limit_value', 'unit', 'message'] },
} as const satisfies Record<TelemetryDocument['document'], { table: string; columns: readonly string[] }>;

/** Rows per INSERT: one statement per chunk rather than per document (well under both databases' parameter limits). */
const CHUNK = 100;

/** INSERT of `rows` rows at once; the document_id of each row actually inserted comes back. */
function multiInsert(kind: TelemetryDocument['document'], rows: number): string {
  const { table, columns } = ROW_TABLES[kind];
  const tuples = Array.from({ length: rows }, (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING RETURNING document_id`;
}

const DAILY_SUMS = ['hours', 'minutes_observed', 'minutes_available', 'degraded_min', 'rtt_median_weighted', 'rtt_minutes', 'loss_up_weighted', 'loss_down_weighted', 'loss_minutes', 'alerts_raised'] as const;
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
      const heard = await tx.all<SilentChange>(`UPDATE fleet SET silent_since = NULL WHERE silent_since IS NOT NULL AND last_received_at >= silent_since ${returning}`);
      const silent = await tx.all<SilentChange>(`UPDATE fleet SET silent_since = $1 WHERE silent_since IS NULL AND last_received_at < $2 ${returning}`, [new Date(nowMs).toISOString(), new Date(silentBeforeMs).toISOString()]);
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
      const rows = await tx.all<{ document_id: string }>(multiInsert(kind, chunk.length), chunk.flatMap((d) => rowOf(d, received)));
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
    return [d.document_id, siteKey, d.at, received, d.sequence, d.software_version, h.link.state, h.link.rtt_ms, h.outbox.depth, h.report_outbox_depth, flag(h.hospital_connected), h.disk_free_mib, flag(h.clock_synchronised)];
  }
  if (d.document === 'alert') {
    const a = d.alert;
    return [d.document_id, siteKey, d.at, received, d.sequence, a.kind, a.metric, a.state, String(a.measured), String(a.limit), a.unit, a.message];
  }
  const s = d.summary;
  const dm = s.degraded_minutes;
  return [siteKey, s.hour_start, d.document_id, received, s.profile, s.minutes_observed, s.rtt_ms?.median ?? null, s.rtt_ms?.p95 ?? null, s.ipdv_ms?.median ?? null, s.ipdv_ms?.p95 ?? null,
    s.loss_pct.up, s.loss_pct.down, dm.overall, dm.rtt_ms ?? 0, dm.ipdv_ms ?? 0, Math.max(dm.loss_up_pct ?? 0, dm.loss_down_pct ?? 0), dm.reachability ?? 0, s.availability_pct, s.alerts.raised, s.alerts.cleared,
    best(s.throughput, 'up'), best(s.throughput, 'down'), s.limits.rtt_ms, s.limits.ipdv_ms, s.limits.loss_pct];
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
      const sums = days.get(key) ?? { hours: 0, minutes_observed: 0, minutes_available: 0, degraded_min: 0, rtt_median_weighted: 0, rtt_minutes: 0, loss_up_weighted: 0, loss_down_weighted: 0, loss_minutes: 0, alerts_raised: 0, rtt_p95_max_ms: null };
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
    const beat = documents.filter((d): d is Heartbeat => d.document === 'heartbeat').reduce<Heartbeat | undefined>((latest, d) => (!latest || d.at > latest.at ? d : latest), undefined);
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
    await tx.run(UPSERT_FLEET, [siteKey, s.appliance_id, s.establishment_code, s.establishment, s.region, ...LATEST_STATE.map((c) => state[c]), received, last, first, missingInside]);
  }
}

function best(throughput: HourlySummary['summary']['throughput'], direction: 'up' | 'down'): number | null {
  const values = throughput.filter((t) => t.direction === direction).map((t) => t.mbps);
  return values.length ? Math.max(...values) : null;
}

/** The reads of one reader, scoped by region and establishment as reports are. */
class SqlFleetView implements FleetView {
  readonly #db: SqlClient;
  readonly #scope: SiteScope;

  constructor(db: SqlClient, scope: SiteScope) {
    this.#db = db;
    this.#scope = scope;
  }

  async grid(o: { region?: string | undefined; nowMs: number }): Promise<GridRow[]> {
    const params: SqlValue[] = [];
    const p = (v: SqlValue) => {
      params.push(v);
      return `$${params.length}`;
    };
    const since = p(new Date(o.nowMs - DAY_MS).toISOString());
    const scoped = (alias: string) => scopeClause(this.#scope, alias, p, o.region);
    const rows = await this.#db.all<Record<string, unknown>>(`
      WITH keys AS (SELECT site_key FROM fleet f WHERE ${scoped('f')} UNION SELECT site_key FROM sites s WHERE ${scoped('s')}),
      day AS (
        SELECT site_key, SUM(minutes_observed) AS minutes_observed,
          SUM(availability_pct * minutes_observed) / NULLIF(SUM(CASE WHEN availability_pct IS NULL THEN 0 ELSE minutes_observed END), 0) AS availability_pct,
          MAX(rtt_p95_ms) AS rtt_p95_ms,
          SUM(CASE WHEN loss_up_pct > loss_down_pct THEN loss_up_pct ELSE loss_down_pct END * minutes_observed) / NULLIF(SUM(CASE WHEN loss_up_pct IS NULL OR loss_down_pct IS NULL THEN 0 ELSE minutes_observed END), 0) AS loss_pct,
          SUM(degraded_min) AS degraded_min, MAX(hour_start) AS last_hour
        FROM hourly WHERE hour_start >= ${since} GROUP BY site_key)
      SELECT k.site_key, COALESCE(f.establishment, s.establishment) AS establishment, COALESCE(f.establishment_code, s.establishment_code) AS establishment_code,
        COALESCE(f.region, s.region) AS region, COALESCE(f.appliance_id, s.appliance_id) AS appliance_id, f.version, f.last_heartbeat_at, f.last_received_at,
        f.heartbeat_interval_s, f.silent_since, f.link_state, f.hospital_connected, f.outbox_depth, COALESCE(f.sequence_gaps, 0) AS sequence_gaps,
        day.minutes_observed, day.availability_pct, day.rtt_p95_ms, day.loss_pct, day.degraded_min,
        h.limit_rtt_ms, h.limit_loss_pct, h.profile, s.verdict
      FROM keys k LEFT JOIN fleet f ON f.site_key = k.site_key LEFT JOIN sites s ON s.site_key = k.site_key
        LEFT JOIN day ON day.site_key = k.site_key LEFT JOIN hourly h ON h.site_key = k.site_key AND h.hour_start = day.last_hour
      ORDER BY COALESCE(f.establishment, s.establishment), k.site_key`, params);
    return rows.map((r) => ({
      ...(r as unknown as GridRow),
      hospital_connected: r['hospital_connected'] === null || r['hospital_connected'] === undefined ? null : Number(r['hospital_connected']) === 1,
      heartbeat_interval_s: numberOrNull(r['heartbeat_interval_s']),
      outbox_depth: numberOrNull(r['outbox_depth']),
      sequence_gaps: Number(r['sequence_gaps'] ?? 0),
      minutes_observed: numberOrNull(r['minutes_observed']),
      availability_pct: numberOrNull(r['availability_pct']),
      rtt_p95_ms: numberOrNull(r['rtt_p95_ms']),
      loss_pct: numberOrNull(r['loss_pct']),
      degraded_min: numberOrNull(r['degraded_min']),
    }));
  }

  async timeline(siteKey: string, range: '30d' | '12m', nowMs: number): Promise<{ points: TimelinePoint[]; alerts: AlertMark[] }> {
    const params: SqlValue[] = [siteKey];
    const p = (v: SqlValue) => {
      params.push(v);
      return `$${params.length}`;
    };
    const from = new Date(nowMs - (range === '30d' ? 30 : 366) * DAY_MS).toISOString();
    const scope = scopeClause(this.#scope, 'f', p);
    const allowed = await this.#db.one<{ site_key: string }>(`SELECT site_key FROM fleet f WHERE site_key = $1 AND ${scope}`, params);
    if (!allowed) return { points: [], alerts: [] };
    const rows = range === '30d'
      ? await this.#db.all<Record<string, unknown>>(`SELECT hour_start AS at, minutes_observed, availability_pct, rtt_median_ms, rtt_p95_ms,
          CASE WHEN loss_up_pct > loss_down_pct THEN loss_up_pct ELSE loss_down_pct END AS loss_pct, degraded_min
          FROM hourly WHERE site_key = $1 AND hour_start >= $2 ORDER BY hour_start`, [siteKey, from])
      : await this.#db.all<Record<string, unknown>>(`SELECT day AS at, minutes_observed, 100 * minutes_available / NULLIF(minutes_observed, 0) AS availability_pct,
          rtt_median_weighted / NULLIF(rtt_minutes, 0) AS rtt_median_ms, rtt_p95_max_ms AS rtt_p95_ms,
          CASE WHEN loss_up_weighted > loss_down_weighted THEN loss_up_weighted ELSE loss_down_weighted END / NULLIF(loss_minutes, 0) AS loss_pct, degraded_min
          FROM daily WHERE site_key = $1 AND day >= $2 ORDER BY day`, [siteKey, from.slice(0, 10)]);
    const alerts = await this.#db.all<AlertMark>(`SELECT at, kind, metric, state, message FROM fleet_alerts WHERE site_key = $1 AND at >= $2 ORDER BY at LIMIT 2000`, [siteKey, from]);
    return {
      points: rows.map((r) => ({
        at: String(r['at']), minutes_observed: Number(r['minutes_observed']), availability_pct: numberOrNull(r['availability_pct']), rtt_median_ms: numberOrNull(r['rtt_median_ms']),
        rtt_p95_ms: numberOrNull(r['rtt_p95_ms']), loss_pct: numberOrNull(r['loss_pct']), degraded_min: Number(r['degraded_min']),
      })),
      alerts,
    };
  }

  async versions(): Promise<Array<{ version: string; sites: string[] }>> {
    const params: SqlValue[] = [];
    const scope = scopeClause(this.#scope, 'f', (v) => {
      params.push(v);
      return `$${params.length}`;
    });
    const rows = await this.#db.all<{ version: string | null; site_key: string }>(`SELECT version, site_key FROM fleet f WHERE ${scope} ORDER BY version, site_key`, params);
    const byVersion = new Map<string, string[]>();
    for (const r of rows) byVersion.set(r.version ?? '?', [...(byVersion.get(r.version ?? '?') ?? []), r.site_key]);
    return [...byVersion].map(([version, sites]) => ({ version, sites }));
  }

  async *eachHourly(): AsyncIterable<HourlyRow> {
    let after: [string, string] = ['', ''];
    for (;;) {
      const params: SqlValue[] = [after[0], after[1]];
      const scope = scopeClause(this.#scope, 'f', (v) => {
        params.push(v);
        return `$${params.length}`;
      });
      const rows = await this.#db.all<Record<string, unknown>>(`SELECT h.site_key, hour_start, profile, minutes_observed, rtt_median_ms, rtt_p95_ms, ipdv_median_ms, ipdv_p95_ms, loss_up_pct, loss_down_pct,
          degraded_min, availability_pct, alerts_raised, alerts_cleared, up_mbps, down_mbps
        FROM hourly h JOIN fleet f ON f.site_key = h.site_key WHERE (h.site_key, hour_start) > ($1, $2) AND ${scope} ORDER BY h.site_key, hour_start LIMIT 1000`, params);
      for (const r of rows) yield { ...(r as unknown as HourlyRow), alerts_raised: Number(r['alerts_raised']), alerts_cleared: Number(r['alerts_cleared']) };
      if (rows.length < 1000) return;
      const last = rows[rows.length - 1]!;
      after = [String(last['site_key']), String(last['hour_start'])];
    }
  }

  async thirtyDays(nowMs: number): Promise<Map<string, { availability_pct: number | null; hours_degraded: number; last_heartbeat_at: string | null }>> {
    const params: SqlValue[] = [new Date(nowMs - 30 * DAY_MS).toISOString().slice(0, 10)];
    const scope = scopeClause(this.#scope, 'f', (v) => {
      params.push(v);
      return `$${params.length}`;
    });
    const rows = await this.#db.all<Record<string, unknown>>(`SELECT f.site_key, f.last_heartbeat_at, 100 * SUM(d.minutes_available) / NULLIF(SUM(d.minutes_observed), 0) AS availability_pct, SUM(d.degraded_min) / 60 AS hours_degraded
      FROM fleet f LEFT JOIN daily d ON d.site_key = f.site_key AND d.day >= $1 WHERE ${scope} GROUP BY f.site_key, f.last_heartbeat_at`, params);
    return new Map(rows.map((r) => [String(r['site_key']), { availability_pct: numberOrNull(r['availability_pct']), hours_degraded: Number(r['hours_degraded'] ?? 0), last_heartbeat_at: (r['last_heartbeat_at'] as string | null) ?? null }]));
  }
}

/** The reader's scope (and a region filter) on a table carrying region and establishment_code. */
function scopeClause(scope: SiteScope, alias: string, param: (v: SqlValue) => string, region?: string): string {
  const clauses: string[] = ['1 = 1'];
  if (scope.kind === 'some') {
    const parts = [
      ...(scope.regions.length ? [`${alias}.region IN (${scope.regions.map(param).join(', ')})`] : []),
      ...(scope.establishments.length ? [`${alias}.establishment_code IN (${scope.establishments.map(param).join(', ')})`] : []),
    ];
    clauses.push(parts.length ? `(${parts.join(' OR ')})` : '0 = 1');
  }
  if (region) clauses.push(`${alias}.region = ${param(region)}`);
  return clauses.join(' AND ');
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
