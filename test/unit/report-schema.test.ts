import t from 'tap';
import { validateReport } from '../../src/report/qualification-report.js';
import type { QosReportSection } from '../../src/qos/report-section.js';
import { fixtureReport } from '../fixtures/national-reports.js';

// The report schema is strict (every member typed and bounded, nothing unknown), so what the
// code writes must fit it at its largest: a QoS section with the most classes and every
// counter, a DSCP check that could not run (its reason carries a tool's message), UDP loss
// iperf3 reports below zero. A report that does not fit is refused at write (USMP_E_INTERNAL).

function qosSection(): QosReportSection {
  const classes = Array.from({ length: 8 }, (_, i) => ({ name: `class-${i}`, dscp: 46 - i, priority: i + 1, rate_mbps: 2, ceil_mbps: 4 }));
  const counters: Record<string, number> = {};
  for (const c of classes)
    for (const direction of ['up', 'down']) for (const k of ['bytes', 'packets', 'drops']) counters[`tc:${direction}:1:${c.dscp}:${k}`] = 1234;
  for (let i = 0; i < 40; i++) counters[`nft:usmp_edge_mark_${i}`] = 5;
  const delivered = { delivered_mbps: 3.99, delivered_pct: 99.8, loss_pct: 0 };
  return {
    backend: 'linux',
    up_mbps: 20,
    down_mbps: 20,
    shape_percent: 95,
    link_layer: { preset: 'adsl-pppoe-llc', type: 'atm', overhead: 40, mpu: 0 },
    autorate: {
      state: 'tracking',
      rates_mbps: { up: 9.5, down: 19 },
      history: Array.from({ length: 10 }, () => ({
        at: new Date().toISOString(),
        direction: 'up' as const,
        from_mbps: 19,
        to_mbps: 9.5,
        reason: 'bufferbloat' as const,
        delay_ms: 12.5,
        carried_mbps: 10.2,
      })),
    },
    classes,
    policy_in_force: true,
    counters,
    last_verify: {
      at: new Date().toISOString(),
      class: 'class-0',
      committed_mbps: 4,
      link_layer: 'adsl-pppoe-llc: atm, overhead 40 octets, mpu 0; a 200-octet packet takes 265 octets on the line, a 1500-octet one 1749',
      autorate: 'tracking, 9.5/19 Mbit/s up/down (updated 3 s ago); last changes: 10:00:01 up 19→9.5 (+12 ms)',
      policy_in_force: true,
      duration_s: 15,
      telemedicine: {
        up: delivered,
        down: delivered,
        rtt_idle_ms: { median: 10, p95: 12 },
        rtt_loaded_ms: { median: 12, p95: 15 },
        rtt_increase_ms: 2,
        probe_loss_pct: 0,
      },
      best_effort: {
        up_mbps: 13,
        down_mbps: 15,
        share_up_pct: 68,
        share_down_pct: 79,
        load: '4 TCP flows per direction, cubic congestion control at both ends',
      },
      lines: [{ metric: 'delivered_up_pct', value: 99.8, limit: 99, verdict: 'pass' }],
      verdict: 'pass',
    },
  };
}

t.test('a report with a full QoS section fits the schema', async (t) => {
  const report = { ...fixtureReport(), qos: qosSection() };
  t.same(validateReport(report), []);
  t.ok(Object.keys(qosSection().counters!).length > 64, 'more counters than classes × directions');
});

t.test('a QoS section the device could not read fits too', async (t) => {
  const { counters: _c, last_verify: _l, ...rest } = qosSection();
  t.same(validateReport({ ...fixtureReport(), qos: { ...rest, policy_in_force: null, read_error: `USMP_E_ROUTER_CONNECT: ${'x'.repeat(500)}` } }), []);
});

t.test('a DSCP check that could not run, with a long reason, fits', async (t) => {
  const report = fixtureReport() as Record<string, any>;
  const reason = `this appliance cannot mark or read DSCP: nft: ${'Error: Could not process rule: Operation not permitted '.repeat(10)}`;
  report.details.dscp = {
    method: 'STAMP Class-of-Service TLV (RFC 8972 §4.4)',
    classes: [{ class: 'EF', up: { status: 'not-verified', reason }, down: { status: 'not-verified', reason } }],
    up: 'not-verified',
    down: 'not-verified',
  };
  t.same(validateReport(report), []);
});

t.test("iperf3's UDP loss below zero (duplicates) fits; a length field that is an object does not", async (t) => {
  const report = fixtureReport() as Record<string, any>;
  report.details.ramp = [{ direction: 'up', offered_mbps: 5, received_mbps: 5.01, loss_pct: -0.2, jitter_ms: 0.3 }];
  t.same(validateReport(report), []);
  report.details.load.up.throughput.up.series_mbps = { length: 1_000_000 };
  t.match(validateReport(report), [/\/details\/load\/up\/throughput\/up\/series_mbps: must be array/]);
});
