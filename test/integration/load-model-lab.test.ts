import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { cliIn, startResponder } from '../lab/cli-in-lab.js';
import { measurePing, startIperfServer } from '../lab/measurements.js';
import { percentile } from '../../src/measure/statistics.js';

// Latency under load as the unit's own computers cause it: the classic bufferbloated line
// (8 Mbit/s up, 20 down, 300 ms of buffer) must fail, whatever congestion control the
// appliance and the responder's host run by default. BBR keeps a bottleneck queue nearly
// empty; the unit's PCs run cubic and fill it. The reference is plain ping alongside a plain
// `iperf3 -C cubic -P 4` upload (the load model's flows) on the same link, in the same lab.

const unavailable = labUnavailableReason();
const opts = unavailable ? { skip: unavailable } : {};
const REFERENCE_PORT = 5301;

interface Report {
  verdict: string;
  measurements: {
    loaded_rtt_increase_ms: number;
    loaded_rtt_ms: { up: { median: number; p95: number }; down: { median: number; p95: number }; both: { median: number; p95: number } };
    load_model: { congestion_control: string; streams_per_direction: number };
  };
  lines: Array<{ metric: string; verdict: string }>;
  remediation: { category: string; hints: string[] };
  methods: { latency_under_load: string };
}

const ALLOWED = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';

/**
 * The machine's default congestion control, set in every namespace of the lab (it is per
 * network namespace). Outside the initial namespace Linux takes only an algorithm of the
 * allowed list (net/ipv4/tcp_cong.c, tcp_set_default_congestion_control): it is added there
 * for the test and the list restored after.
 */
async function setMachineDefault(t: Test, lab: Lab, algorithm: string): Promise<void> {
  const allowed = readFileSync(ALLOWED, 'utf8').trim();
  if (!allowed.split(' ').includes(algorithm)) {
    writeFileSync(ALLOWED, `${allowed} ${algorithm}`);
    t.teardown(() => writeFileSync(ALLOWED, allowed));
  }
  for (const role of ['usmp', 'appliance', 'hospital'] as const) {
    await lab.exec(role, ['sysctl', '-q', '-w', `net.ipv4.tcp_congestion_control=${algorithm}`]);
  }
}

async function qualifyQuick(t: Test, bufferMs: number, machineDefault: string): Promise<{ lab: Lab; report: Report; code: number }> {
  const lab = await Lab.create({ up: { rateMbit: 8, bufferMs }, down: { rateMbit: 20, bufferMs } });
  t.teardown(() => lab.destroy());
  await setMachineDefault(t, lab, machineDefault);
  await startResponder(lab);
  const run = await cliIn(lab, 'appliance', [
    'qualify',
    '--target',
    ADDRESSES.hospital,
    '--iperf-pool',
    '2',
    '--plan',
    'quick',
    '--out',
    t.testdir(),
    '--json',
    '--lang',
    'en',
    '--profile',
    'teleconsultation-hd',
  ]);
  t.notMatch(run.stderr, /USMP_E_/, 'no error code printed');
  return { lab, report: JSON.parse(run.stdout) as Report, code: run.code };
}

/**
 * Median RTT seen by ping during a plain iperf3 cubic upload of as many flows as the load model
 * (a single cubic flow drains the queue after each loss, so its RTT saws between 210 and 300 ms
 * here; four keep it full), its first 2 s (slow start) left out.
 */
async function pingDuringCubicUpload(lab: Lab): Promise<number> {
  await startIperfServer(lab, REFERENCE_PORT);
  const upload = lab.exec('appliance', ['iperf3', '-c', ADDRESSES.hospital, '-p', String(REFERENCE_PORT), '-C', 'cubic', '-P', '4', '-t', '12', '-J'], {
    timeoutMs: 40_000,
  });
  const ping = await measurePing(lab, 550, 0.02);
  const iperf = JSON.parse((await upload).stdout) as { end: { sender_tcp_congestion?: string } };
  if (iperf.end.sender_tcp_congestion !== 'cubic') throw new Error(`the reference upload ran ${iperf.end.sender_tcp_congestion ?? '?'}, not cubic`);
  return percentile(ping.samplesMs.slice(100), 0.5);
}

for (const machineDefault of ['bbr', 'cubic']) {
  t.test(
    `machine default ${machineDefault}: 8/20 Mbit/s with a 300 ms buffer fails on latency under load, as ping alongside a cubic upload sees it`,
    opts,
    async (t) => {
      const { lab, report, code } = await qualifyQuick(t, 300, machineDefault);
      t.same(report.measurements.load_model, { congestion_control: 'cubic', streams_per_direction: 4 }, 'the load model is in the report');
      t.match(report.methods.latency_under_load, /4 TCP flows per direction, cubic congestion control at both ends/);
      t.equal(code, 1, 'a FAIL exits 1');
      t.match(report.verdict, /^fail/);
      t.equal(report.lines.find((l) => l.metric === 'loaded_rtt_increase_ms')?.verdict, 'fail', 'fails on latency under load');
      t.equal(report.remediation.category, 'qos', 'the remedy is QoS, not a faster link');
      t.match(report.remediation.hints.join('\n'), /bufferbloat/);
      const reference = await pingDuringCubicUpload(lab);
      const ours = report.measurements.loaded_rtt_ms.up.median;
      const error = ours / reference - 1;
      t.ok(
        Math.abs(error) <= 0.15,
        `loaded RTT during the upload ${ours} ms vs ping alongside iperf3 -C cubic ${reference.toFixed(1)} ms (${(100 * error).toFixed(1)} %)`,
      );
    },
  );

  t.test(`machine default ${machineDefault}: the same rates with a 20 ms buffer pass`, opts, async (t) => {
    const { report, code } = await qualifyQuick(t, 20, machineDefault);
    const { up, down, both } = report.measurements.loaded_rtt_ms;
    t.equal(
      report.lines.find((l) => l.metric === 'loaded_rtt_increase_ms')?.verdict,
      'pass',
      `latency under load passes (+${report.measurements.loaded_rtt_increase_ms} ms; loaded medians up ${up.median}, down ${down.median}, both ${both.median} ms)`,
    );
    t.ok(both.median >= Math.max(up.median, down.median), 'both directions at once cross both queues: at least either alone');
    t.equal(code, 0, 'PASS exits 0');
    t.match(report.verdict, /^pass/);
  });
}
