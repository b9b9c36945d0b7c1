// What one segment of the path from a care room to the hospital carries, as a place's verdict
// joins them: the station ↔ appliance leg (the unit's internal network at that place, measured
// from the cart's browser) and the appliance ↔ hospital leg (the qualification of the link).

export type Segment = 'internal' | 'hospital_link';

export const SEGMENTS: readonly Segment[] = ['internal', 'hospital_link'];

export interface SegmentFigures {
  up_mbps: number | null;
  down_mbps: number | null;
  /** Median idle round-trip time. */
  rtt_ms: number;
  /** Median RTT under load minus idle median, in each direction. */
  loaded_rtt_increase_ms: { up: number | null; down: number | null };
  loss_pct: number;
}
