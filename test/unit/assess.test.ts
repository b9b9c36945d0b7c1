import t from 'tap';
import { assess } from '../../src/qualify/assess.js';
import { findProfile, loadProfiles } from '../../src/qualify/profiles.js';
import type { QualificationData } from '../../src/qualify/run.js';
import type { LatencySummary } from '../../src/measure/stamp/metrics.js';

// From figures to verdict lines and advice, without a network.

const latency = (mean: number, loss = 0): LatencySummary => ({
  sent: 750,
  received: 750 - Math.round(7.5 * loss),
  loss_pct: loss,
  loss_interval_pct: { low: Math.max(0, loss - 0.5), high: loss + 0.5 },
  duplicates: 0,
  reordered: 0,
  rtt_ms: { min: mean - 1, median: mean, mean, p95: mean + 2, p99: mean + 3, max: mean + 5, stddev: 1 },
  ipdv_ms: { mean: 0.5, p95: 1, max: 2 },
  pdv_ms: { p99: 4 },
});

function data(over: Partial<QualificationData> & { up?: number; down?: number; loadedUp?: number } = {}): QualificationData {
  const tp = (direction: 'up' | 'down', mbps: number) => ({
    direction,
    protocol: 'tcp' as const,
    duration_s: 10,
    port: 5201,
    attempts: 1,
    cpu: { local_pct: 5, remote_pct: 5 },
    [direction]: { mbps, bytes: 1, seconds: 10, series_mbps: [], source: 'receiver-intervals' as const },
  });
  return {
    plan: 'quick',
    load_model: { congestionControl: 'cubic', streams: 4 },
    idle: latency(20),
    ramp: [],
    rfc6349: [],
    dscp: null,
    load: {
      up: { throughput: tp('up', over.up ?? 9.5), loaded: latency(over.loadedUp ?? 25) },
      down: { throughput: tp('down', over.down ?? 19), loaded: latency(24) },
    },
    host: { interface: 'eth0', speed_mbps: 1000, duplex: 'full', mtu: 1500, rx_errors: 0, tx_errors: 0, rx_dropped: 0, problems: [] },
    cpu: { mean_pct: 10, max_pct: 20, iperf_local_pct: 3 },
    raw: {},
    ...over,
  };
}

const profile = findProfile(loadProfiles(), 'tele-expertise-imaging'); // up ≥ 14, down ≥ 8, loaded ≤ 60

t.test('a link upgrade, with the missing rate, in French by default', async (t) => {
  const a = assess(data({ up: 9.5 }), profile);
  t.equal(a.verdict, 'fail');
  t.match(
    a.lines.find((l) => l.metric === 'up_mbps'),
    { verdict: 'fail', margin: -4.5 },
  );
  t.match(a.remediation, { category: 'link-upgrade', missing_mbps: { up: 4.5, down: 0 } });
  t.match(a.remediation.hints[0], /^Débit montant insuffisant : 9\.5 Mbit\/s mesurés/);
  t.match(assess(data({ up: 9.5 }), profile, 'en').remediation.hints[0], /^Upload too low/);
});

t.test('bufferbloat only: QoS', async (t) => {
  const a = assess(data({ up: 20, loadedUp: 120 }), profile);
  t.equal(a.measurements.loaded_rtt_increase_ms, 100);
  t.match(a.remediation, { category: 'qos' });
  t.match(a.remediation.hints.join(' '), /bufferbloat/);
});

t.test('NIC problems point at internal cabling; a saturated appliance is said', async (t) => {
  const a = assess(
    data({
      up: 20,
      host: {
        interface: 'eth0',
        speed_mbps: 100,
        duplex: 'half',
        mtu: 1500,
        rx_errors: 3,
        tx_errors: 0,
        rx_dropped: 0,
        problems: ['eth0 negotiated 100 Mbit/s'],
      },
      cpu: { mean_pct: 50, max_pct: 95, iperf_local_pct: 40 },
    }),
    profile,
  );
  t.equal(a.remediation.category, 'internal-cabling');
  t.equal(a.appliance_bottleneck, true);
  t.match(
    a.lines.find((l) => l.metric === 'appliance_cpu_pct'),
    { value: 95, verdict: 'info' },
  );
  t.match(a.remediation.hints.join('\n'), /Câblage interne suspecté.*\n.*saturé/);
});

t.test('a clean link: pass*, since 750 probes cannot prove loss ≤ 0.1 %; the ramp is judged on its worst step', async (t) => {
  const clean = assess(data({ up: 20 }), profile);
  // 0 lost of 750: the Wilson 95 % interval reaches 0.51 %, wider than the 0.1 % margin.
  t.match(
    clean.lines.find((l) => l.metric === 'loss_pct'),
    { verdict: 'pass*' },
  );
  t.equal(clean.verdict, 'pass*');
  t.equal(
    assess(data({ up: 20 }), findProfile(loadProfiles(), 'teleconsultation-hd')).lines.find((l) => l.metric === 'loss_pct')?.verdict,
    'pass',
    'a 1 % limit is provable',
  );
  const ramp = [{ direction: 'up' as const, offered_mbps: 14, received_mbps: 13.9, loss_pct: 0.5, jitter_ms: 0.1 }];
  t.match(
    assess(data({ up: 20, ramp }), profile).lines.find((l) => l.metric === 'y1564_ramp_loss_pct'),
    { verdict: 'fail', value: 0.5 },
  );
});
