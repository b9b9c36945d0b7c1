import type { LinkState } from '../degradation.js';
import type { MonitoredMetric } from '../link-rules.js';

// What an alert says: what, since when, measured against which limit, and which
// consultations (profiles) it affects. The same document goes to every sink.

export interface Alert {
  id: string;
  kind: 'raised' | 'cleared' | 'changed';
  metric: MonitoredMetric | 'overall';
  state: LinkState;
  previous: LinkState;
  /** When the new state began (ISO 8601). */
  since: string;
  /** How long the previous state lasted, seconds. */
  previous_duration_s: number;
  measured: number | string;
  limit: number | string;
  unit: string;
  /** The profile the thresholds come from. */
  profile: string;
  /** Kinds of consultation whose limits the measured value breaks. */
  affects: string[];
  appliance: string;
  message: string;
}

export interface AlertSink<T = Alert> {
  readonly name: string;
  deliver(alert: T): void;
  close?(): Promise<void>;
}

export function kindOf(previous: LinkState, state: LinkState): Alert['kind'] {
  if (state === 'ok') return 'cleared';
  return previous === 'ok' ? 'raised' : 'changed';
}

const LABELS: Record<string, string> = {
  overall: 'link to the hospital',
  reachability: 'hospital reachability',
  rtt_ms: 'round-trip time',
  ipdv_ms: 'delay variation',
  loss_up_pct: 'loss towards the hospital',
  loss_down_pct: 'loss from the hospital',
  dscp_up: 'DSCP marks towards the hospital',
  dscp_down: 'DSCP marks from the hospital',
  up_mbps: 'throughput towards the hospital',
  down_mbps: 'throughput from the hospital',
};

export function describe(a: Omit<Alert, 'message' | 'id'>): string {
  const what = LABELS[a.metric] ?? a.metric;
  const figure = `${a.measured}${a.unit ? ` ${a.unit}` : ''} (limit ${a.limit}${a.unit ? ` ${a.unit}` : ''})`;
  if (a.kind === 'cleared') return `${what} back to normal: ${figure}`;
  const affects = a.affects.length > 0 ? `; affects ${a.affects.join(', ')}` : '';
  return `${what} ${a.state.toUpperCase()} since ${a.since}: ${figure}${affects}`;
}
