import type { GlobalVerdict, LineVerdict } from '../qualify/verdict.js';
import type { ReportSignature } from './signing.js';
import type { Histogram } from './histogram.js';
import type { SiteIdentity } from './qualification-report.js';
import type { PlaceSection } from '../station/place-book.js';

// What the renderers, exports and the collector read of a report (schemas/report.schema.json
// is the contract; this is its typed view, for reports that passed the schema).

export type Verdict = GlobalVerdict;
export type { LineVerdict };

/** One direction of one class in the DSCP check (qualify/dscp-check.ts DirectionOutcome). */
export interface DscpDirection {
  status: string;
  sent?: string;
  received?: string;
  reason?: string;
}

export interface ReportLine {
  metric: string;
  value: number | string | null;
  limit: string | null;
  margin: number | null;
  uncertainty?: number | null;
  verdict: LineVerdict;
  source: string;
  unit?: string;
}

export interface LatencyFigures {
  rtt_ms: { min: number; median: number; mean: number; p95: number; p99: number; max: number };
  ipdv_ms: { mean: number; p95: number; max: number };
}

export interface DirectionThroughput {
  mbps: number;
  series_mbps?: number[];
}

export interface ReportDocument {
  schema_version: string;
  report_id: string;
  verdict: Verdict;
  site: SiteIdentity;
  target: string;
  profile: string;
  plan: 'quick' | 'full';
  started_at: string;
  duration_s: number;
  software?: { name: string; version: string };
  measurements: {
    up_mbps: number | null;
    down_mbps: number | null;
    rtt_ms: LatencyFigures['rtt_ms'];
    ipdv_ms: LatencyFigures['ipdv_ms'];
    pdv_ms?: { p99: number };
    loss_pct: number;
    loaded_rtt_increase_ms: number | null;
    dscp: { up: string; down: string };
  };
  lines: ReportLine[];
  remediation: { category: 'none' | 'qos' | 'link-upgrade' | 'internal-cabling'; missing_mbps?: { up: number; down: number }; hints: string[] };
  host?: { interface?: string; speed_mbps?: number | null; duplex?: string | null; mtu?: number; rx_errors?: number; tx_errors?: number; problems?: string[] };
  methods?: Record<string, string>;
  details?: {
    idle?: LatencyFigures & { sent?: number; received?: number };
    load?: Record<string, { throughput?: { up?: DirectionThroughput; down?: DirectionThroughput }; loaded?: LatencyFigures }>;
    dscp?: { method?: string; classes?: Array<{ class: string; up?: DscpDirection; down?: DscpDirection }> } | null;
    distributions?: Record<string, Histogram>;
  };
  qos?: {
    backend: string;
    up_mbps: number;
    down_mbps: number;
    policy_in_force: boolean | null;
    link_layer?: { preset: string; type: string; overhead: number; mpu: number };
    classes: Array<{ name: string; dscp: string | number; priority: number; rate_mbps: number; ceil_mbps: number }>;
    last_verify?: {
      at: string;
      class: string;
      verdict: string;
      committed_mbps?: number;
      telemedicine: {
        up: { delivered_mbps: number };
        down: { delivered_mbps: number };
        rtt_idle_ms: { median: number; p95: number };
        rtt_loaded_ms: { median: number; p95: number };
        rtt_increase_ms: number;
      };
      best_effort: { up_mbps: number; down_mbps: number };
    };
  };
  places?: PlaceSection[];
  raw_sha256: string;
  signature?: ReportSignature;
}
