import t from 'tap';
import { readFileSync } from 'node:fs';
import { runThroughput, iperfArgs } from '../../src/measure/iperf3/client.js';
import { dropOverlapping, extractJson, parseThroughput, type Iperf3Json } from '../../src/measure/iperf3/parse.js';
import type { ProcessRunner, RunOutcome } from '../../src/exec/process-runner.js';

const fixture = (name: string): Iperf3Json => JSON.parse(readFileSync(new URL(`../fixtures/iperf3/${name}.json`, import.meta.url), 'utf8')) as Iperf3Json;

t.test('receiver side: upload from the server intervals, omitted seconds left out', async (t) => {
  const json = fixture('tcp-up-omit');
  const up = parseThroughput(json, 'up', false).up!;
  t.equal(up.source, 'receiver-intervals');
  const server = json.server_output_json!.intervals!.map((i) => i.sum).filter((s) => !s.omitted && s.seconds > 0);
  const expected = (server.reduce((a, s) => a + s.bytes, 0) * 8) / server.reduce((a, s) => a + s.seconds, 0) / 1e6;
  t.equal(up.mbps.toFixed(6), expected.toFixed(6));
  t.ok(up.retransmits !== undefined && up.sent_bytes! > 0);
});

t.test('receiver side: download from our intervals; bidir from both', async (t) => {
  const down = parseThroughput(fixture('tcp-down-omit'), 'down', false).down!;
  t.ok(down.mbps > 0 && down.seconds >= 2.9 && down.seconds <= 3.1, `${down.seconds} s measured after 1 s omitted`);
  const both = parseThroughput(fixture('tcp-bidir'), 'bidir', false);
  t.ok(both.up!.mbps > 0 && both.down!.mbps > 0);
});

t.test('UDP: loss and jitter from the receiver', async (t) => {
  const up = parseThroughput(fixture('udp-up'), 'up', true).up!;
  t.equal(up.loss_pct, 0);
  t.ok(up.jitter_ms !== undefined && up.jitter_ms >= 0);
  t.ok(Math.abs(up.mbps - 20) < 1, `${up.mbps} Mbit/s at 20 offered on loopback`);
});

t.test('the iperf 3.12 --omit artefact (an interval overlapping the next) is dropped', async (t) => {
  // Intervals as a receiving 3.12 client reported them in the lab, 20 Mbit/s htb, -O 2 -R.
  const seen = [
    { start: 1.0, seconds: 2.0, bytes: 2_382_500 },
    { start: 1.0, seconds: 1.0, bytes: 2_392_500 },
    { start: 2.0, seconds: 1.0, bytes: 2_397_500 },
  ];
  t.same(
    dropOverlapping(seen).map((s) => s.start),
    [1.0, 2.0],
  );
});

t.test('JSON followed by a text trailer (#1143) still parses; error key read', async (t) => {
  t.same(extractJson('{"a":{"b":"}"}}\niperf3: error - something'), { a: { b: '}' } });
  t.equal(extractJson('no json here'), undefined);
  t.match(fixture('refused').error, /unable to connect|Connection refused/i);
});

t.test('arguments: explicit UDP size and rate, direction flags, DSCP', async (t) => {
  const argv = iperfArgs({ target: 'h', ports: [5201], direction: 'down', protocol: 'udp', durationS: 5, udpRateMbps: 8, dscp: 46 }, 5202);
  t.match(argv.join(' '), /^iperf3 -c h -p 5202 -J --get-server-output --connect-timeout 3000 -t 5 -O 0 -R -u -b 8M -l 1200 --dscp 46$/);
  t.match(iperfArgs({ target: 'h', ports: [1], direction: 'bidir', protocol: 'tcp', durationS: 1 }, 1).join(' '), /--bidir/);
});

t.test('a TCP load names its flows and congestion control; UDP has none', async (t) => {
  const load = { parallel: 4, congestionControl: 'cubic' };
  t.match(iperfArgs({ target: 'h', ports: [1], direction: 'down', protocol: 'tcp', durationS: 10, ...load }, 1).join(' '), / -R -P 4 -C cubic$/);
  t.notMatch(iperfArgs({ target: 'h', ports: [1], direction: 'up', protocol: 'udp', durationS: 10, udpRateMbps: 1, ...load }, 1).join(' '), /-C/);
});

function scripted(outcomes: Array<Partial<RunOutcome>>): ProcessRunner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run({ argv }) {
      calls.push([...argv]);
      const next = outcomes.shift() ?? {};
      return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ...next };
    },
  };
}

const ok = JSON.stringify(fixture('tcp-up-omit'));

t.test('a busy server: the next port of the pool', async (t) => {
  const runner = scripted([{ stdout: '{"error":"the server is busy running a test. try again later"}' }, { stdout: ok }]);
  const r = await runThroughput({ target: 'h', ports: [5201, 5202], direction: 'up', protocol: 'tcp', durationS: 3, runner });
  t.equal(r.port, 5202);
  t.equal(r.attempts, 2);
  const allBusy = scripted([{ stdout: '{"error":"the server is busy"}' }]);
  await t.rejects(runThroughput({ target: 'h', ports: [5201], direction: 'up', protocol: 'tcp', durationS: 3, runner: allBusy }), {
    code: 'USMP_E_IPERF_FAILED',
    message: /busy/,
  });
});

t.test('a UDP set-up datagram lost: retried, then given up', async (t) => {
  const lost = '{"error":"unable to read from stream socket: Resource temporarily unavailable"}';
  const runner = scripted([{ stdout: lost }, { stdout: JSON.stringify(fixture('udp-up')) }]);
  const r = await runThroughput({ target: 'h', ports: [5201], direction: 'up', protocol: 'udp', durationS: 2, udpRateMbps: 20, runner });
  t.equal(r.attempts, 2);
  const never = scripted([{ stdout: lost }, { stdout: lost }, { stdout: lost }]);
  await t.rejects(runThroughput({ target: 'h', ports: [5201], direction: 'up', protocol: 'udp', durationS: 2, runner: never }), {
    code: 'USMP_E_IPERF_FAILED',
  });
  t.equal(never.calls.length, 3);
});

t.test('failures map to stable codes', async (t) => {
  const cases: Array<[Partial<RunOutcome>, string]> = [
    [{ stdout: '{"error":"unable to connect to server: Connection refused"}' }, 'USMP_E_RESPONDER_ABSENT'],
    [{ stdout: '{"error":"unable to connect to server: No route to host"}' }, 'USMP_E_TARGET_UNREACHABLE'],
    [{ timedOut: true }, 'USMP_E_MEASUREMENT_TIMEOUT'],
    [{ code: 1, stderr: 'iperf3: error - something new' }, 'USMP_E_IPERF_FAILED'],
  ];
  for (const [outcome, code] of cases) {
    await t.rejects(
      runThroughput({ target: 'h', ports: [5201], direction: 'down', protocol: 'tcp', durationS: 1, runner: scripted([outcome]) }),
      { code },
      code,
    );
  }
});

t.test('a congestion control an end refuses or did not run: its own code, never a silent fallback', async (t) => {
  const refused = scripted([{ stdout: '{"error":"unable to set TCP_CONGESTION: Supplied congestion control algorithm not supported on this host"}' }]);
  await t.rejects(runThroughput({ target: 'h', ports: [5201], direction: 'up', protocol: 'tcp', durationS: 1, congestionControl: 'cubic', runner: refused }), {
    code: 'USMP_E_CONGESTION_CONTROL',
    message: /cubic refused/,
  });
  const json = fixture('tcp-up-omit');
  const ranBbr = JSON.stringify({ ...json, end: { ...json.end, sender_tcp_congestion: 'bbr', receiver_tcp_congestion: 'cubic' } });
  await t.rejects(
    runThroughput({
      target: 'h',
      ports: [5201],
      direction: 'up',
      protocol: 'tcp',
      durationS: 1,
      congestionControl: 'cubic',
      runner: scripted([{ stdout: ranBbr }]),
    }),
    { code: 'USMP_E_CONGESTION_CONTROL', message: /sender bbr/ },
  );
  const ranCubic = JSON.stringify({ ...json, end: { ...json.end, sender_tcp_congestion: 'cubic', receiver_tcp_congestion: 'cubic' } });
  const r = await runThroughput({
    target: 'h',
    ports: [5201],
    direction: 'up',
    protocol: 'tcp',
    durationS: 1,
    congestionControl: 'cubic',
    runner: scripted([{ stdout: ranCubic }]),
  });
  t.same(r.congestion, { sender: 'cubic', receiver: 'cubic' }, 'what each end ran is kept with the result');
});

t.test("a responder host that does not allow the load model's congestion control is named at start", async (t) => {
  const { congestionControlRefusal } = await import('../../src/measure/iperf3/load-model.js');
  const allowed = (list: string) => () => `${list}\n`;
  t.match(
    congestionControlRefusal('cubic', allowed('reno bbr'), false),
    /cubic is not in net\.ipv4\.tcp_allowed_congestion_control \(reno bbr\).*"reno bbr cubic"/,
  );
  t.equal(congestionControlRefusal('cubic', allowed('reno cubic'), false), undefined, "Debian's default list");
  t.equal(congestionControlRefusal('cubic', allowed('reno bbr'), true), undefined, 'root may choose any');
  t.equal(
    congestionControlRefusal(
      'cubic',
      () => {
        throw new Error('ENOENT');
      },
      false,
    ),
    undefined,
    'no procfs: nothing to say',
  );
  const closed = scripted([{ stdout: '{"error":"control socket has closed unexpectedly"}' }]);
  await t.rejects(runThroughput({ target: 'h', ports: [5201], direction: 'down', protocol: 'tcp', durationS: 1, congestionControl: 'cubic', runner: closed }), {
    code: 'USMP_E_IPERF_FAILED',
    hint: /does not allow cubic/,
  });
});

t.test('responder iperf3 servers are bounded: rate ceiling, idle restart, receive timeout', async (t) => {
  const { serverArgs } = await import('../../src/measure/iperf3/server-pool.js');
  t.same(serverArgs({ bind: '198.19.1.10', firstPort: 5201, size: 2, maxMbps: 1000 }, 5202), [
    '-s',
    '-J',
    '-p',
    '5202',
    '-B',
    '198.19.1.10',
    '--server-bitrate-limit',
    '1000M/5',
    '--idle-timeout',
    '120',
    '--rcv-timeout',
    '30000',
  ]);
  t.notOk(serverArgs({ bind: '0.0.0.0', firstPort: 5201, size: 1 }, 5201).includes('-B'), 'any address: no -B');
});
