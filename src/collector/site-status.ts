import type { SiteSummary } from './report-store.js';

// A site's status on the national table, from its latest report: qualified, marginal (pass*,
// within the measurement uncertainty), not qualified, or to re-qualify when the latest run is
// older than STALE_DAYS (links change: operators, routes, new equipment).

export const STALE_DAYS = 180;
const DAY_MS = 86_400_000;

export type SiteStatus = 'qualified' | 'marginal' | 'not_qualified' | 'stale';

export function ageDays(startedAt: string, nowMs: number): number {
  return Math.max(0, Math.floor((nowMs - Date.parse(startedAt)) / DAY_MS));
}

export function siteStatus(site: Pick<SiteSummary, 'verdict' | 'started_at'>, nowMs: number): SiteStatus {
  if (ageDays(site.started_at, nowMs) > STALE_DAYS) return 'stale';
  if (site.verdict === 'pass') return 'qualified';
  if (site.verdict === 'pass*') return 'marginal';
  return 'not_qualified';
}
