import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { binomialCountInterval, Z } from '../../src/measure/statistics.js';
import { ADDRESSES, Lab, labUnavailableReason, measurePing, measureTcpGoodput, startIperfServer } from './index.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { TCP_SHARE_OF_HTB_RATE } from '../../src/lab/shaping.js';
import { exitOf, within } from '../fixtures/bounded.js';

// The lab proves it does what it claims, with plain iperf3 and ping.

const unavailable = labUnavailableReason();
const opts = unavailable ? { skip: unavailable } : {};

t.test('asymmetric and symmetric rates are within ±3 % of what TCP can get through htb', opts, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 8 }, down: { rateMbit: 40 } });
  t.teardown(() => lab.destroy());
  await startIperfServer(lab);
  for (const [up, down] of [
    [8, 40],
    [100, 100],
  ] as const) {
    await lab.setLinks({ up: { rateMbit: up }, down: { rateMbit: down } });
    for (const [direction, rate] of [
      ['up', up],
      ['down', down],
    ] as const) {
      // 10 s: over 5 s a single stall (a retransmission timeout alone is ≥ 200 ms) once gave −3.3 % at 8 Mbit/s.
      const measured = await measureTcpGoodput(lab, direction, 10);
      const expected = rate * TCP_SHARE_OF_HTB_RATE;
      const error = measured.mbps / expected - 1;
      const label = `${direction} at ${rate} Mbit/s: ${measured.mbps.toFixed(2)} vs ${expected.toFixed(2)} (${(error * 100).toFixed(2)} %, ${measured.retransmits} retransmits)`;
      // On a machine whose other core is busy, iperf3 itself may be what limits the rate: then
      // the lab's shaping was not measured, and the check says so instead of passing or failing.
      const cpuBound = Math.max(measured.cpuPct.local, measured.cpuPct.remote) >= 90;
      if (Math.abs(error) > 0.03 && cpuBound)
        t.pass(label, { skip: `not measurable: iperf3 used ${Math.max(measured.cpuPct.local, measured.cpuPct.remote).toFixed(0)} % of a CPU` });
      else t.ok(Math.abs(error) <= 0.03, label);
    }
  }
});

t.test('random loss falls in its binomial interval and matches the nftables counter', opts, async (t) => {
  const lab = await Lab.create({ up: { lossPct: 1 } });
  t.teardown(() => lab.destroy());
  const ping = await measurePing(lab, 10_000, 0.0005);
  const lost = ping.transmitted - ping.received;
  // 99.9 % interval: a 95 % one would fail one CI run in twenty by construction.
  const { low, high } = binomialCountInterval(ping.transmitted, 0.01, Z[0.999]);
  t.ok(lost >= low && lost <= high, `lost ${lost} of ${ping.transmitted}, interval ${low}..${high}`);
  const counters = await lab.impairmentCounters();
  t.equal(counters['loss-up'], lost, 'every lost ping was dropped by the lab rule, nothing else lost');
});

t.test('delay and jitter: delays drawn as configured; mean RTT within ±0.5 ms of what the emulator applied', opts, async (t) => {
  // An odd seed: the directions get seeds 42 and 43, which the emulator once turned into the
  // same jitter sequence (seed | 1), so a packet's reply drew the delay its request had drawn.
  const lab = await Lab.create({ up: { delayMs: 25, jitterMs: 5 }, down: { delayMs: 25, jitterMs: 5 }, seed: 41 });
  t.teardown(() => lab.destroy());
  const ping = await measurePing(lab, 2000, 0.002);
  t.equal(ping.received, ping.transmitted, 'no loss');
  t.equal(ping.samplesMs.length, ping.received, 'one RTT per reply');
  // The emulator never releases a packet early: no RTT under 25 − 5 + 25 − 5 ms.
  t.ok(ping.rttMs.min >= 40 - 0.01, `min ${ping.rttMs.min} ms ≥ 40 ms`);
  // Independent directions, each uniform ±5 ms: RTT σ = √(2 × 10²/12) = 4.08 ms (σ of that
  // estimate ≈ 0.07 ms over 2000 replies); the same draw both ways would give 5.77 ms.
  const sd = Math.sqrt(ping.samplesMs.reduce((sum, x) => sum + (x - ping.rttMs.mean) ** 2, 0) / (ping.samplesMs.length - 1));
  t.ok(sd >= 3.7 && sd <= 4.5, `RTT standard deviation ${sd.toFixed(2)} ms (4.08 for independent directions)`);
  const stats = await lab.emulatorStats('up');
  const down = await lab.emulatorStats('down');
  t.equal(stats?.dropped_overflow, 0);
  t.ok((stats?.received ?? 0) >= 2000, 'the emulator saw every request');
  // Late is possible: with one of the two cores busy, the emulator's thread is sometimes not
  // running when a packet is due (13 replies of 2000 over the band and one at 74 ms, once). It
  // counts those itself: replies over the band are judged against its own count of packets it
  // released more than 1 ms late, and the worst reply against the worst lateness it reports.
  const lateReleases = (stats?.late_over_1ms ?? 0) + (down?.late_over_1ms ?? 0);
  const late = ping.samplesMs.filter((rtt) => rtt > 60 + 2).length;
  t.ok(
    late <= lateReleases + ping.received / 200,
    `${late} of ${ping.received} replies over 60 ms (+2 ms); the emulator released ${lateReleases} packets over 1 ms late; 0.5 % more allowed`,
  );
  const worstLateMs = ((stats?.lateness_max_us ?? 0) + (down?.lateness_max_us ?? 0)) / 1000;
  t.ok(ping.rttMs.max <= 60 + worstLateMs + 10, `max ${ping.rttMs.max} ms ≤ 60 ms + ${worstLateMs.toFixed(3)} ms the emulator reports late at worst + 10 ms`);
  for (const [direction, s] of [
    ['up', stats],
    ['down', down],
  ] as const) {
    // on average it is punctual: a systematically late emulator would fail here
    t.ok((s?.lateness_mean_us ?? Infinity) <= 500, `${direction}: released ${s?.lateness_mean_us} µs late on average (≤ 500 µs)`);
  }
  for (const [direction, s] of [
    ['up', stats],
    ['down', down],
  ] as const) {
    // Mean of ~2000 uniform draws of ±5 ms: σ ≈ 65 µs.
    t.ok(Math.abs((s?.scheduled_mean_us ?? 0) - 25_000) <= 250, `${direction}: delays drawn average ${s?.scheduled_mean_us} µs for 25 000 configured`);
  }
  // What the emulator applied is what it drew plus how late it released; on a busy machine it
  // is late, and ping sees that too. The rest (veth hops, the emulator's read) stays small.
  const appliedMs = ((stats?.scheduled_mean_us ?? 0) + (down?.scheduled_mean_us ?? 0) + (stats?.lateness_mean_us ?? 0) + (down?.lateness_mean_us ?? 0)) / 1000;
  const error = ping.rttMs.mean - appliedMs;
  t.ok(Math.abs(error) <= 0.5, `mean RTT ${ping.rttMs.mean} ms for ${appliedMs.toFixed(3)} ms applied (${error.toFixed(3)} ms; configured 50)`);
});

t.test('DSCP is bleached or re-marked in one direction only', opts, async (t) => {
  const lab = await Lab.create({ up: { dscp: { kind: 'bleach' } }, down: { dscp: { kind: 'remap', map: { 46: 34 } } } });
  t.teardown(() => lab.destroy());
  // Count the echo requests that arrive, by DSCP, at each end.
  const counting = (from: string): string =>
    [
      'table ip seen {',
      '  chain input {',
      '    type filter hook input priority 0;',
      ...['ef', 'af41', 'cs0'].map((mark) => `    ip saddr ${from} icmp type echo-request ip dscp ${mark} counter comment "${mark}"`),
      '  }',
      '}',
    ].join('\n');
  await lab.exec('hospital', ['nft', '-f', '-'], { input: counting(ADDRESSES.applianceWan) });
  await lab.exec('appliance', ['nft', '-f', '-'], { input: counting(ADDRESSES.hospital) });
  await measurePing(lab, 20, 0.01, 56, 0xb8); // EF requests up
  await lab.exec('hospital', ['ping', '-q', '-c', '20', '-i', '0.01', '-Q', '0xb8', ADDRESSES.applianceWan]); // EF requests down
  const seen = async (role: 'hospital' | 'appliance'): Promise<Record<string, number>> => {
    const { stdout } = await lab.exec(role, ['nft', 'list', 'table', 'ip', 'seen']);
    return Object.fromEntries([...stdout.matchAll(/packets (\d+) bytes \d+ comment "(\w+)"/g)].map((m) => [m[2], Number(m[1])]));
  };
  t.same(await seen('hospital'), { ef: 0, af41: 0, cs0: 20 }, 'up: EF bleached to 0');
  t.same(await seen('appliance'), { ef: 0, af41: 20, cs0: 0 }, 'down: EF re-marked AF41');
});

t.test('teardown leaves nothing, and leftovers of a killed run are removed at the next start', opts, async (t) => {
  const lab = await Lab.create({ up: { delayMs: 5 } });
  const names = ['usmp', 'appliance', 'wan', 'hospital'].map((r) => lab.ns(r as 'wan'));
  const pids = lab.processIds();
  t.equal(pids.length, 1, 'one emulator running');
  await lab.destroy();
  const after = listNamespaces();
  for (const ns of names) t.notOk(after.includes(ns), `${ns} deleted`);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} ended`);

  // A run killed with SIGKILL cannot clean up: the next Lab.create must.
  const fixture = fileURLToPath(new URL('./fixtures/create-and-wait.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  const id = await within(
    'the lab fixture to print its id',
    30_000,
    new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))),
  );
  t.ok(listNamespaces().includes(`${id}-wan`), 'the killed run left its namespaces');
  child.kill('SIGKILL');
  await exitOf(child, 'the SIGKILLed lab fixture');
  const next = await Lab.create();
  await next.destroy();
  t.notOk(
    listNamespaces().some((ns) => ns.startsWith(`${id}-`)),
    'removed by the next run',
  );

  // A run stopped with SIGTERM cleans up itself.
  const polite = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  const politeId = await within(
    'the lab fixture to print its id',
    30_000,
    new Promise<string>((resolve) => polite.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))),
  );
  polite.kill('SIGTERM');
  await exitOf(polite, 'the SIGTERMed lab fixture', 30_000);
  t.notOk(
    listNamespaces().some((ns) => ns.startsWith(`${politeId}-`)),
    'SIGTERM tears the lab down',
  );
});
