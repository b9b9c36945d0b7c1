import type { SiteScope } from './report-store.js';
import type { SqlClient, SqlValue } from './sql/sql-database.js';
import type { Acts, AlertMark, FleetView, GridRow, HourlyRow, MonthOfCalls, TimelinePoint } from './telemetry-store.js';

// The live fleet as one reader may see it (sql-telemetry-store.ts writes it): the grid's last
// 24 hours per site, timelines from the hourly rows (30 days) or the daily roll-up (12 months),
// the version inventory, the exports. Every query carries the reader's scope.

const DAY_MS = 86_400_000;

/** The reads of one reader, scoped by region and establishment as reports are. */
export class SqlFleetView implements FleetView {
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
    const monthStart = p(`${new Date(o.nowMs).toISOString().slice(0, 7)}-01`);
    const scoped = (alias: string) => scopeClause(this.#scope, alias, p, o.region);
    // without statistics SQLite walks the whole table in its primary key's order to group by
    // site; the last day is a thin slice of the time index [sqlite.org/lang_indexedby.html]
    const recentHours = this.#db.dialect === 'sqlite' ? 'INDEXED BY hourly_by_time' : '';
    const rows = await this.#db.all<Record<string, unknown>>(
      `
      WITH keys AS (SELECT site_key FROM fleet f WHERE ${scoped('f')} UNION SELECT site_key FROM sites s WHERE ${scoped('s')}),
      day AS (
        SELECT site_key, SUM(minutes_observed) AS minutes_observed,
          SUM(availability_pct * minutes_observed) / NULLIF(SUM(CASE WHEN availability_pct IS NULL THEN 0 ELSE minutes_observed END), 0) AS availability_pct,
          MAX(rtt_p95_ms) AS rtt_p95_ms,
          SUM(CASE WHEN loss_up_pct > loss_down_pct THEN loss_up_pct ELSE loss_down_pct END * minutes_observed) / NULLIF(SUM(CASE WHEN loss_up_pct IS NULL OR loss_down_pct IS NULL THEN 0 ELSE minutes_observed END), 0) AS loss_pct,
          SUM(degraded_min) AS degraded_min, MAX(hour_start) AS last_hour
        FROM hourly ${recentHours} WHERE hour_start >= ${since} GROUP BY site_key),
      month AS (SELECT site_key, SUM(calls) AS calls_month, SUM(calls_poor) AS calls_poor_month FROM daily WHERE day >= ${monthStart} GROUP BY site_key)
      SELECT k.site_key, COALESCE(f.establishment, s.establishment) AS establishment, COALESCE(f.establishment_code, s.establishment_code) AS establishment_code,
        COALESCE(f.region, s.region) AS region, COALESCE(f.appliance_id, s.appliance_id) AS appliance_id, f.version, f.last_heartbeat_at, f.last_received_at,
        f.heartbeat_interval_s, f.silent_since, f.link_state, f.hospital_connected, f.outbox_depth, COALESCE(f.sequence_gaps, 0) AS sequence_gaps,
        day.minutes_observed, day.availability_pct, day.rtt_p95_ms, day.loss_pct, day.degraded_min,
        h.limit_rtt_ms, h.limit_loss_pct, h.profile, s.verdict, month.calls_month, month.calls_poor_month
      FROM keys k LEFT JOIN fleet f ON f.site_key = k.site_key LEFT JOIN sites s ON s.site_key = k.site_key
        LEFT JOIN day ON day.site_key = k.site_key LEFT JOIN month ON month.site_key = k.site_key LEFT JOIN hourly h ON h.site_key = k.site_key AND h.hour_start = day.last_hour
      ORDER BY COALESCE(f.establishment, s.establishment), k.site_key`,
      params,
    );
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
      calls_month: numberOrNull(r['calls_month']),
      calls_poor_month: numberOrNull(r['calls_poor_month']),
    }));
  }

  async callsByMonth(siteKey: string, nowMs: number): Promise<MonthOfCalls[]> {
    if (!(await this.#mayRead(siteKey))) return [];
    const now = new Date(nowMs);
    const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1)).toISOString().slice(0, 10);
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT substr(day, 1, 7) AS month, SUM(calls) AS calls, SUM(call_minutes) AS minutes, SUM(call_attempts) AS attempts,
        SUM(calls_good) AS good, SUM(calls_fair) AS fair, SUM(calls_poor) AS poor
      FROM daily WHERE site_key = $1 AND day >= $2 GROUP BY substr(day, 1, 7) ORDER BY month DESC`,
      [siteKey, from],
    );
    return rows.map((r) => ({
      month: String(r['month']),
      calls: Number(r['calls']),
      minutes: Math.round(Number(r['minutes']) * 10) / 10,
      attempts: Number(r['attempts']),
      good: Number(r['good']),
      fair: Number(r['fair']),
      poor: Number(r['poor']),
    }));
  }

  async acts(nowMs: number): Promise<Map<string, Acts>> {
    const params: SqlValue[] = [new Date(nowMs - 365 * DAY_MS).toISOString().slice(0, 10)];
    const scope = scopeOn(this.#scope, 'f', params);
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT f.site_key, SUM(d.calls) AS calls, SUM(d.call_minutes) AS minutes, SUM(d.call_attempts) AS attempts, SUM(d.calls_poor) AS poor
      FROM fleet f JOIN daily d ON d.site_key = f.site_key AND d.day >= $1 WHERE ${scope} GROUP BY f.site_key`,
      params,
    );
    return new Map(
      rows.map((r) => [
        String(r['site_key']),
        { calls: Number(r['calls']), minutes: Math.round(Number(r['minutes']) * 10) / 10, attempts: Number(r['attempts']), poor: Number(r['poor']) },
      ]),
    );
  }

  async timeline(siteKey: string, range: '30d' | '12m', nowMs: number): Promise<{ points: TimelinePoint[]; alerts: AlertMark[] }> {
    const from = new Date(nowMs - (range === '30d' ? 30 : 366) * DAY_MS).toISOString();
    if (!(await this.#mayRead(siteKey))) return { points: [], alerts: [] };
    const rows =
      range === '30d'
        ? await this.#db.all<Record<string, unknown>>(
            `SELECT hour_start AS at, minutes_observed, availability_pct, rtt_median_ms, rtt_p95_ms,
          CASE WHEN loss_up_pct > loss_down_pct THEN loss_up_pct ELSE loss_down_pct END AS loss_pct, degraded_min
          FROM hourly WHERE site_key = $1 AND hour_start >= $2 ORDER BY hour_start`,
            [siteKey, from],
          )
        : await this.#db.all<Record<string, unknown>>(
            `SELECT day AS at, minutes_observed, 100 * minutes_available / NULLIF(minutes_observed, 0) AS availability_pct,
          rtt_median_weighted / NULLIF(rtt_minutes, 0) AS rtt_median_ms, rtt_p95_max_ms AS rtt_p95_ms,
          CASE WHEN loss_up_weighted > loss_down_weighted THEN loss_up_weighted ELSE loss_down_weighted END / NULLIF(loss_minutes, 0) AS loss_pct, degraded_min
          FROM daily WHERE site_key = $1 AND day >= $2 ORDER BY day`,
            [siteKey, from.slice(0, 10)],
          );
    const alerts = await this.#db.all<AlertMark>(
      `SELECT at, kind, metric, state, message FROM fleet_alerts WHERE site_key = $1 AND at >= $2 ORDER BY at LIMIT 2000`,
      [siteKey, from],
    );
    return {
      points: rows.map((r) => ({
        at: String(r['at']),
        minutes_observed: Number(r['minutes_observed']),
        availability_pct: numberOrNull(r['availability_pct']),
        rtt_median_ms: numberOrNull(r['rtt_median_ms']),
        rtt_p95_ms: numberOrNull(r['rtt_p95_ms']),
        loss_pct: numberOrNull(r['loss_pct']),
        degraded_min: Number(r['degraded_min']),
      })),
      alerts,
    };
  }

  /** Whether the reader may see this appliance's site. */
  async #mayRead(siteKey: string): Promise<boolean> {
    const params: SqlValue[] = [siteKey];
    const scope = scopeOn(this.#scope, 'f', params);
    return (await this.#db.one<{ site_key: string }>(`SELECT site_key FROM fleet f WHERE site_key = $1 AND ${scope}`, params)) !== undefined;
  }

  async versions(): Promise<Array<{ version: string; sites: string[] }>> {
    const params: SqlValue[] = [];
    const scope = scopeOn(this.#scope, 'f', params);
    const rows = await this.#db.all<{ version: string | null; site_key: string }>(
      `SELECT version, site_key FROM fleet f WHERE ${scope} ORDER BY version, site_key`,
      params,
    );
    const byVersion = new Map<string, string[]>();
    for (const r of rows) byVersion.set(r.version ?? '?', [...(byVersion.get(r.version ?? '?') ?? []), r.site_key]);
    return [...byVersion].map(([version, sites]) => ({ version, sites }));
  }

  async *eachHourly(): AsyncIterable<HourlyRow> {
    let after: [string, string] = ['', ''];
    for (;;) {
      const params: SqlValue[] = [after[0], after[1]];
      const scope = scopeOn(this.#scope, 'f', params);
      const rows = await this.#db.all<Record<string, unknown>>(
        `SELECT h.site_key, hour_start, profile, minutes_observed, rtt_median_ms, rtt_p95_ms, ipdv_median_ms, ipdv_p95_ms, loss_up_pct, loss_down_pct,
          degraded_min, availability_pct, alerts_raised, alerts_cleared, up_mbps, down_mbps
        FROM hourly h JOIN fleet f ON f.site_key = h.site_key WHERE (h.site_key, hour_start) > ($1, $2) AND ${scope} ORDER BY h.site_key, hour_start LIMIT 1000`,
        params,
      );
      for (const r of rows) yield { ...(r as unknown as HourlyRow), alerts_raised: Number(r['alerts_raised']), alerts_cleared: Number(r['alerts_cleared']) };
      if (rows.length < 1000) return;
      const last = rows[rows.length - 1]!;
      after = [String(last['site_key']), String(last['hour_start'])];
    }
  }

  async thirtyDays(nowMs: number): Promise<Map<string, { availability_pct: number | null; hours_degraded: number; last_heartbeat_at: string | null }>> {
    const params: SqlValue[] = [new Date(nowMs - 30 * DAY_MS).toISOString().slice(0, 10)];
    const scope = scopeOn(this.#scope, 'f', params);
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT f.site_key, f.last_heartbeat_at, 100 * SUM(d.minutes_available) / NULLIF(SUM(d.minutes_observed), 0) AS availability_pct, SUM(d.degraded_min) / 60 AS hours_degraded
      FROM fleet f LEFT JOIN daily d ON d.site_key = f.site_key AND d.day >= $1 WHERE ${scope} GROUP BY f.site_key, f.last_heartbeat_at`,
      params,
    );
    return new Map(
      rows.map((r) => [
        String(r['site_key']),
        {
          availability_pct: numberOrNull(r['availability_pct']),
          hours_degraded: Number(r['hours_degraded'] ?? 0),
          last_heartbeat_at: (r['last_heartbeat_at'] as string | null) ?? null,
        },
      ]),
    );
  }
}

/** scopeClause with its values appended to `params` as numbered parameters. */
function scopeOn(scope: SiteScope, alias: string, params: SqlValue[]): string {
  return scopeClause(scope, alias, (v) => {
    params.push(v);
    return `$${params.length}`;
  });
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
