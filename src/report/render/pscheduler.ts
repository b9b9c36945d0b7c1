import type { ReportDocument } from '../report-document.js';

// Results in perfSONAR pScheduler's result format, so that an existing measurement archive
// (Logstash + OpenSearch, the perfSONAR 5 central archive) can ingest them without custom code
// [perfSONAR pscheduler-tool-iperf3/iperf3_parser.py,
// pscheduler-test-latency validate.py RESPONSE_SCHEMA]. One run per test: throughput up,
// throughput down, latency (idle); the participants are the appliance and the responder.

export interface PschedulerRun {
  schema: 1;
  test: { type: 'throughput' | 'latency'; spec: Record<string, unknown> };
  tool: { name: string };
  participants: string[];
  'start-time': string;
  duration: string;
  succeeded: boolean;
  result: Record<string, unknown>;
  reference: Record<string, unknown>;
}

function isoDuration(seconds: number): string {
  return `PT${Math.max(0, Math.round(seconds))}S`;
}

export function pschedulerRuns(r: ReportDocument): PschedulerRun[] {
  const reference = {
    'usmp-edge': {
      report_id: r.report_id,
      establishment_code: r.site.establishment_code,
      appliance_id: r.site.appliance_id,
      profile: r.profile,
      verdict: r.verdict,
    },
  };
  const participants = [r.site.appliance_id, r.target];
  const runs: PschedulerRun[] = [];
  for (const direction of ['up', 'down'] as const) {
    const series = r.details?.load?.[direction]?.throughput?.[direction]?.series_mbps ?? [];
    const mbps = r.measurements[`${direction}_mbps`];
    if (mbps === null) continue;
    runs.push({
      schema: 1,
      // pScheduler's throughput test: source sends to dest; "reverse" when the far end sends
      test: {
        type: 'throughput',
        spec: { schema: 1, source: r.site.appliance_id, dest: r.target, duration: isoDuration(series.length || 10), reverse: direction === 'down' },
      },
      tool: { name: 'iperf3' },
      participants,
      'start-time': r.started_at,
      duration: isoDuration(series.length || 10),
      succeeded: true,
      result: {
        succeeded: true,
        intervals: series.map((v, i) => ({
          streams: [{ 'stream-id': 1, start: i, end: i + 1, 'throughput-bits': v * 1e6, omitted: false }],
          summary: { start: i, end: i + 1, 'throughput-bits': v * 1e6, omitted: false },
        })),
        summary: { summary: { start: 0, end: series.length, 'throughput-bits': mbps * 1e6, 'receiver-throughput-bits': mbps * 1e6 } },
      },
      reference,
    });
  }
  const idle = r.details?.idle;
  const histogram = r.details?.distributions?.['idle_rtt_ms'];
  if (idle) {
    const sent = idle.sent ?? 0;
    const received = idle.received ?? 0;
    // histogram-latency maps a latency in ms (as a string) to a count; ours are bucket lower edges
    const buckets: Record<string, number> = {};
    histogram?.counts.forEach((count, i) => {
      if (count > 0) buckets[String(Math.round((histogram.start_ms + i * histogram.bucket_ms) * 1000) / 1000)] = count;
    });
    runs.push({
      schema: 1,
      test: {
        type: 'latency',
        spec: { schema: 1, source: r.site.appliance_id, dest: r.target, 'packet-count': sent, 'packet-interval': 0.02, 'output-raw': false },
      },
      tool: { name: 'usmp-edge-stamp' },
      participants,
      'start-time': r.started_at,
      duration: isoDuration(sent * 0.02),
      succeeded: true,
      result: {
        succeeded: true,
        'packets-sent': sent,
        'packets-received': received,
        'packets-lost': sent - received,
        'packets-duplicated': 0,
        'packets-reordered': 0,
        'max-clock-error': null,
        'histogram-latency': buckets,
        // round trip, not one way: STAMP without synchronised clocks [RFC 8762 §4.2.1]
        'latency-kind': 'round-trip',
      },
      reference,
    });
  }
  return runs;
}
