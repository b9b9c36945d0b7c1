import type { LimitedMetric, Profile } from '../qualify/profiles.js';
import type { Segment, SegmentFigures } from './segment-figures.js';

// The verdict of one place: the two segments joined end to end, judged against the profile,
// and the segment that limits named with the figure of the other beside it.
//
// End to end [ITU-T Y.1541 §8, concatenating QoS values, adds the delays of network sections and combines their losses
// as 1 − Π(1 − pᵢ)]: throughput is the narrower segment's; idle RTT the sum; loss combined;
// under load a queue builds at the narrower segment of each direction only (a TCP flow fills
// its bottleneck's buffer, not the others), so each direction takes that segment's increase.

type Direction = 'up' | 'down';

export interface PlaceFailure {
  metric: LimitedMetric;
  value: number;
  limit: number;
  segment: Segment;
  /** For throughput and latency under load: the direction that failed. */
  direction?: Direction;
}

export interface PlaceVerdict {
  verdict: 'pass' | 'fail';
  end_to_end: {
    up_mbps: number | null;
    down_mbps: number | null;
    rtt_ms: number;
    loaded_rtt_increase_ms: number | null;
    loss_pct: number;
  };
  /** The narrower segment of each direction. */
  narrower: { up: Segment | null; down: Segment | null };
  /** The segment that makes the place fail, or (when it passes) the one that limits throughput. */
  limiting: { segment: Segment; direction: Direction; mbps: number | null; other_mbps: number | null };
  failures: PlaceFailure[];
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

function narrowerOf(internal: number | null, link: number | null): Segment | null {
  if (internal === null && link === null) return null;
  if (internal === null) return 'hospital_link';
  if (link === null) return 'internal';
  return internal <= link ? 'internal' : 'hospital_link';
}

export function judgePlace(internal: SegmentFigures, link: SegmentFigures, profile: Profile): PlaceVerdict {
  const bySegment: Record<Segment, SegmentFigures> = { internal, hospital_link: link };
  const mbps = (s: Segment, d: Direction): number | null => (d === 'up' ? bySegment[s].up_mbps : bySegment[s].down_mbps);
  const narrower = { up: narrowerOf(internal.up_mbps, link.up_mbps), down: narrowerOf(internal.down_mbps, link.down_mbps) };
  const through = (d: Direction): number | null => (narrower[d] === null ? null : mbps(narrower[d], d));
  const increaseOf = (d: Direction): number | null => (narrower[d] === null ? null : bySegment[narrower[d]].loaded_rtt_increase_ms[d]);
  const increases = (['up', 'down'] as const).map((d) => ({ d, v: increaseOf(d) })).filter((x): x is { d: Direction; v: number } => x.v !== null);
  const worstIncrease = increases.length === 0 ? null : increases.reduce((a, b) => (b.v > a.v ? b : a));
  const end_to_end = {
    up_mbps: through('up'),
    down_mbps: through('down'),
    rtt_ms: round(internal.rtt_ms + link.rtt_ms),
    loaded_rtt_increase_ms: worstIncrease ? round(worstIncrease.v) : null,
    loss_pct: round(100 * (1 - (1 - internal.loss_pct / 100) * (1 - link.loss_pct / 100))),
  };

  const failures: PlaceFailure[] = [];
  const limits = profile.limits;
  const check = (metric: LimitedMetric, value: number | null, segment: Segment | null, direction?: Direction): void => {
    const limit = limits[metric];
    if (!limit || value === null || segment === null) return;
    const at = direction ? { direction } : {};
    if (limit.min !== undefined && value < limit.min) failures.push({ metric, value, limit: limit.min, segment, ...at });
    if (limit.max !== undefined && value > limit.max) failures.push({ metric, value, limit: limit.max, segment, ...at });
  };
  check('up_mbps', end_to_end.up_mbps, narrower.up, 'up');
  check('down_mbps', end_to_end.down_mbps, narrower.down, 'down');
  check('loaded_rtt_increase_ms', end_to_end.loaded_rtt_increase_ms, worstIncrease ? narrower[worstIncrease.d] : null, worstIncrease?.d);
  // the larger share of a delay or a loss is the segment to fix
  check('rtt_ms', end_to_end.rtt_ms, internal.rtt_ms > link.rtt_ms ? 'internal' : 'hospital_link');
  check('loss_pct', end_to_end.loss_pct, internal.loss_pct > link.loss_pct ? 'internal' : 'hospital_link');

  return { verdict: failures.length === 0 ? 'pass' : 'fail', end_to_end, narrower, limiting: limitingOf(failures, narrower, mbps, profile), failures };
}

/**
 * The first failure's segment; when nothing fails, the narrower segment of the direction with
 * the least throughput end to end, relative to what the profile asks in that direction.
 */
function limitingOf(
  failures: readonly PlaceFailure[],
  narrower: { up: Segment | null; down: Segment | null },
  mbps: (s: Segment, d: Direction) => number | null,
  profile: Profile,
): PlaceVerdict['limiting'] {
  const other = (s: Segment): Segment => (s === 'internal' ? 'hospital_link' : 'internal');
  const describe = (segment: Segment, direction: Direction): PlaceVerdict['limiting'] => ({
    segment,
    direction,
    mbps: mbps(segment, direction),
    other_mbps: mbps(other(segment), direction),
  });
  const first = failures[0];
  if (first) return describe(first.segment, first.direction ?? 'up');
  const candidates = (['up', 'down'] as const)
    .filter((d) => narrower[d] !== null)
    .map((d) => {
      const s = narrower[d]!;
      const needed = profile.limits[d === 'up' ? 'up_mbps' : 'down_mbps']?.min ?? 1;
      return { d, s, score: (mbps(s, d) ?? Infinity) / needed };
    })
    .sort((a, b) => a.score - b.score);
  const pick = candidates[0];
  return pick ? describe(pick.s, pick.d) : describe('hospital_link', 'up');
}
