import { percentile } from '../measure/statistics.js';
import type { SegmentFigures } from './segment-figures.js';

// What the page sends when it has measured a place, checked by this JSON Schema before use
// (fastify validates the body with it), and the figures of the internal segment made from it.
// Download is timed by the browser, which receives it; upload by this side, which receives it.

const rtts = { type: 'array', minItems: 0, maxItems: 2000, items: { type: 'number', minimum: 0, maximum: 60000 } } as const;

export const placeSubmissionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['place', 'idle_rtt_ms', 'down', 'loaded_rtt_ms', 'probes'],
  properties: {
    // a room, an outlet or an access point, as the auditor names it; no control characters
    place: { type: 'string', minLength: 1, maxLength: 80, pattern: '^[^\\u0000-\\u001f\\u007f]+$' },
    idle_rtt_ms: { ...rtts, minItems: 1 },
    down: {
      type: 'object',
      additionalProperties: false,
      required: ['bytes', 'seconds'],
      properties: { bytes: { type: 'integer', minimum: 0, maximum: 1e12 }, seconds: { type: 'number', minimum: 0.1, maximum: 600 } },
    },
    loaded_rtt_ms: { type: 'object', additionalProperties: false, required: ['down', 'up'], properties: { down: rtts, up: rtts } },
    probes: {
      type: 'object',
      additionalProperties: false,
      required: ['sent', 'lost'],
      properties: { sent: { type: 'integer', minimum: 1, maximum: 100000 }, lost: { type: 'integer', minimum: 0, maximum: 100000 } },
    },
  },
} as const;

export interface PlaceSubmission {
  place: string;
  idle_rtt_ms: number[];
  down: { bytes: number; seconds: number };
  loaded_rtt_ms: { down: number[]; up: number[] };
  probes: { sent: number; lost: number };
}

export interface UploadFigure {
  mbps: number;
  bytes: number;
  seconds: number;
}

/** The internal segment as the report keeps it: the page's figures and this side's upload rate. */
export interface StationFigures extends SegmentFigures {
  streams: number;
  idle_rtt: { median: number; p95: number };
  loaded_rtt: { down: { median: number; p95: number } | null; up: { median: number; p95: number } | null };
  probes: { sent: number; lost: number };
  down_bytes: number;
  up_bytes: number | null;
  browser_address: string;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

function spread(xs: readonly number[]): { median: number; p95: number } | null {
  return xs.length === 0 ? null : { median: r3(percentile(xs, 0.5)), p95: r3(percentile(xs, 0.95)) };
}

export function stationFigures(s: PlaceSubmission, up: UploadFigure | null, streams: number, browserAddress: string): StationFigures {
  const idle = spread(s.idle_rtt_ms)!;
  const loaded = { down: spread(s.loaded_rtt_ms.down), up: spread(s.loaded_rtt_ms.up) };
  const increase = (l: { median: number } | null): number | null => (l ? r3(l.median - idle.median) : null);
  const lost = Math.min(s.probes.lost, s.probes.sent);
  return {
    up_mbps: up ? r3(up.mbps) : null,
    down_mbps: r3((s.down.bytes * 8) / s.down.seconds / 1e6),
    rtt_ms: idle.median,
    loaded_rtt_increase_ms: { up: increase(loaded.up), down: increase(loaded.down) },
    loss_pct: r3((100 * lost) / s.probes.sent),
    streams,
    idle_rtt: idle,
    loaded_rtt: loaded,
    probes: { sent: s.probes.sent, lost },
    down_bytes: s.down.bytes,
    up_bytes: up ? up.bytes : null,
    browser_address: browserAddress,
  };
}
