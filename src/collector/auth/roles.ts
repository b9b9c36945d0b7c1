import { UsmpError } from '../../errors.js';
import { ESTABLISHMENT_CODE } from '../../report/enrolled-keys.js';
import type { SiteScope } from '../report-store.js';

// Who may see which sites: `national` (every site), `region:<interregional direction>` (the
// sites of that region), `site:<establishment code>` (one establishment). A reader's scope is
// the union of their roles; nothing is seen without one.

export type ReaderRole = { kind: 'national' } | { kind: 'region'; region: string } | { kind: 'site'; code: string };

const MAX_REGION_LENGTH = 200;

export function parseRole(text: string): ReaderRole {
  if (text === 'national') return { kind: 'national' };
  const region = /^region:(.+)$/.exec(text);
  if (region && region[1]!.trim() === region[1] && region[1].length <= MAX_REGION_LENGTH) return { kind: 'region', region: region[1] };
  const site = /^site:(.+)$/.exec(text);
  if (site && ESTABLISHMENT_CODE.test(site[1]!)) return { kind: 'site', code: site[1]! };
  throw new UsmpError(
    'USMP_E_USAGE',
    `${JSON.stringify(text.slice(0, 80))} is not a role: national, region:<interregional direction> (e.g. "region:DISP Dijon") or site:<establishment code>`,
  );
}

export function formatRole(role: ReaderRole): string {
  return role.kind === 'national' ? 'national' : role.kind === 'region' ? `region:${role.region}` : `site:${role.code}`;
}

export function scopeOf(roles: readonly ReaderRole[]): SiteScope {
  if (roles.some((r) => r.kind === 'national')) return { kind: 'all' };
  return {
    kind: 'some',
    regions: roles.flatMap((r) => (r.kind === 'region' ? [r.region] : [])),
    establishments: roles.flatMap((r) => (r.kind === 'site' ? [r.code] : [])),
  };
}

/** OpenID Connect groups → roles, through the configured map; unknown groups give nothing. */
export function rolesOfGroups(groups: unknown, map: Readonly<Record<string, string>>): ReaderRole[] {
  const list = Array.isArray(groups) ? groups : typeof groups === 'string' ? [groups] : [];
  const roles: ReaderRole[] = [];
  for (const group of list) {
    if (typeof group !== 'string' || !Object.hasOwn(map, group)) continue;
    roles.push(parseRole(map[group]!));
  }
  return roles;
}
