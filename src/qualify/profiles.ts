import { readdirSync, readFileSync } from 'node:fs';
import { UsmpError } from '../errors.js';

// Telemedicine profiles: thresholds with their sources. Built-in ones ship in config/profiles/;
// a site may add its own JSON files in a directory named by the configuration.

export type LimitedMetric = 'up_mbps' | 'down_mbps' | 'rtt_ms' | 'ipdv_ms' | 'pdv_ms' | 'loss_pct' | 'loaded_rtt_increase_ms';

export interface Limit {
  min?: number;
  max?: number;
  source: string;
}

export interface Profile {
  name: string;
  title: { fr: string; en: string };
  limits: Partial<Record<LimitedMetric, Limit>> & { dscp?: { required: boolean; classes: string[]; source: string } };
}

export const BUILTIN_PROFILE_DIR = new URL('../../config/profiles/', import.meta.url);

export function loadProfiles(extraDirs: readonly string[] = []): Map<string, Profile> {
  const profiles = new Map<string, Profile>();
  for (const dir of [BUILTIN_PROFILE_DIR.pathname, ...extraDirs]) {
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      continue;
    }
    for (const file of files) {
      const profile = parseProfile(readFileSync(`${dir.replace(/\/?$/, '/')}${file}`, 'utf8'), file);
      profiles.set(profile.name, profile);
    }
  }
  return profiles;
}

const METRICS: readonly LimitedMetric[] = ['up_mbps', 'down_mbps', 'rtt_ms', 'ipdv_ms', 'pdv_ms', 'loss_pct', 'loaded_rtt_increase_ms'];

export function parseProfile(text: string, where: string): Profile {
  const fail = (why: string): never => {
    throw new UsmpError('USMP_E_CONFIG_INVALID', `profile ${where}: ${why}`, { hint: 'fix the profile file; see config/profiles/ for examples' });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`not JSON (${(err as Error).message})`);
  }
  const p = raw as Profile;
  if (typeof p?.name !== 'string' || !/^[a-z0-9-]+$/.test(p.name)) fail('"name" must be lower-case letters, digits and dashes');
  if (typeof p.title?.fr !== 'string' || typeof p.title?.en !== 'string') fail('"title" needs "fr" and "en"');
  if (typeof p.limits !== 'object' || p.limits === null) fail('"limits" is missing');
  for (const key of Object.keys(p.limits)) {
    if (key === 'dscp') continue;
    if (!METRICS.includes(key as LimitedMetric)) fail(`unknown limit "${key}" (known: ${METRICS.join(', ')}, dscp)`);
    const limit = p.limits[key as LimitedMetric]!;
    if (typeof limit.source !== 'string' || limit.source === '') fail(`limit "${key}" needs its "source"`);
    if ((limit.min === undefined) === (limit.max === undefined)) fail(`limit "${key}" needs exactly one of "min" or "max"`);
  }
  return p;
}

export function findProfile(profiles: Map<string, Profile>, name: string): Profile {
  const profile = profiles.get(name);
  if (!profile) {
    throw new UsmpError('USMP_E_PROFILE_UNKNOWN', `unknown profile "${name}"`, { hint: `known profiles: ${[...profiles.keys()].join(', ')}` });
  }
  return profile;
}
