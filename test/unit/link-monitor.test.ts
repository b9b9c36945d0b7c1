import t from 'tap';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { LinkMonitor } from '../../src/monitor/link-monitor.js';
import { MetricState } from '../../src/monitor/degradation.js';
import { WebhookSink } from '../../src/monitor/alerts/webhook-sink.js';
import type { Alert } from '../../src/monitor/alerts/alert.js';
import { RttBaseline, type ProbeWindow } from '../../src/monitor/link-rules.js';
import { loadProfiles } from '../../src/qualify/profiles.js';

// The degradation state machine and the monitor's judgement, on synthetic windows with a
// controlled clock; the webhook sink against a local HTTP server.

const log = pino({ level: 'silent' });
const profiles = loadProfiles();
const hd = profiles.get('teleconsultation-hd')!;

function monitor(alerts: Alert[], leaveWindows = 2): LinkMonitor {
  return new LinkMonitor({
    profile: hd,
    profiles: [...profiles.values()],
    rules: { rttIncreaseMs: 20, throughputDropRatio: 0.7 },
    hysteresis: { enterWindows: 1, leaveWindows },
    baselinePeriodMs: 86_400_000,
    appliance: 'test',
    sinks: [{ name: 'memory', deliver: (a) => alerts.push(a) }],
    log,
    now: () => 0,
  });
}

let clock = 0;
function win(over: Partial<ProbeWindow> = {}): ProbeWindow {
  clock += 15_000;
  return {
    startedAt: clock - 15_000,
    endedAt: clock,
    sent: 180,
    received: 180,
    rttMedianMs: 5,
    ipdvMeanMs: 0.2,
    lossUpPct: 0,
    lossDownPct: 0,
    dscpUp: 'preserved',
    dscpDown: 'preserved',
    ...over,
  };
}

t.test('hysteresis: a state changes only after enough windows in a row', async (t) => {
  const m = new MetricState({ enterWindows: 2, leaveWindows: 3 }, 0);
  t.equal(m.observe('degraded', 1), undefined, 'one bad window is not enough');
  t.equal(m.observe('ok', 2), undefined);
  t.equal(m.observe('degraded', 3), undefined);
  t.match(m.observe('degraded', 4), { from: 'ok', to: 'degraded', at: 4 });
  t.equal(m.observe('ok', 5), undefined);
  t.equal(m.observe('ok', 6), undefined);
  t.equal(m.observe('degraded', 7), undefined, 'a bad window resets the way back');
  for (const at of [8, 9]) t.equal(m.observe('ok', at), undefined);
  t.match(m.observe('ok', 10), { from: 'degraded', to: 'ok', previousSince: 4 });
});

t.test('+40 ms over the baseline raises an RTT alert, its removal clears it; the alert says what, since when, measured vs limit', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  for (let i = 0; i < 3; i++) m.onWindow(win());
  t.same(alerts, [], 'a clean link raises nothing');
  m.onWindow(win({ rttMedianMs: 45 }));
  const raised = alerts.filter((a) => a.metric === 'rtt_ms');
  t.match(raised, [{ kind: 'raised', state: 'degraded', measured: 45, limit: 25, unit: 'ms', profile: 'teleconsultation-hd' }]);
  t.match(raised[0]!.message, /round-trip time DEGRADED since .*45 ms \(limit 25 ms\)/);
  t.ok(
    alerts.some((a) => a.metric === 'overall' && a.kind === 'raised'),
    'the overall state follows',
  );
  m.onWindow(win());
  m.onWindow(win());
  t.match(
    alerts.filter((a) => a.metric === 'rtt_ms').map((a) => a.kind),
    ['raised', 'cleared'],
  );
  t.equal(m.state, 'ok');
});

t.test('a link flapping every 5 s for 2 minutes gives one alert and one clear', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  m.onWindow(win());
  // 15 s windows over 5 s down / 5 s up: each window loses a third to two thirds of its probes
  for (let i = 0; i < 8; i++) m.onWindow(win({ received: i % 2 ? 60 : 120, lossUpPct: i % 2 ? 66 : 33, lossDownPct: 0 }));
  // the way back: 790 answered probes of evidence (12 / ln(0.995/0.98)), then leave_windows (2)
  for (let i = 0; i < 7; i++) m.onWindow(win());
  const loss = alerts.filter((a) => a.metric === 'loss_up_pct');
  t.match(
    loss.map((a) => a.kind),
    ['raised', 'cleared'],
  );
  t.match(
    alerts.filter((a) => a.metric === 'overall').map((a) => a.kind),
    ['raised', 'cleared'],
  );
  t.same(loss[0]!.affects.sort(), ['connected-devices', 'tele-expertise-imaging', 'teleconsultation-hd'], 'every profile with a loss limit is affected');
});

t.test('loss is judged on evidence: 1 probe of 180 lost is no alert, a steady 2 % is, and its end clears it', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  for (let i = 0; i < 20; i++) m.onWindow(win({ lossUpPct: 100 / 180, lossCounts: { up: { lost: 1, of: 180 }, down: { lost: 0, of: 180 } } }));
  t.same(
    alerts.filter((a) => a.metric === 'loss_up_pct'),
    [],
    'one loss a window (0.56 %, past a 1 % limit in 1 window of 90 as a point value at 0.3 %) raises nothing',
  );
  let windows = 0;
  while (!alerts.some((a) => a.metric === 'loss_up_pct') && windows < 20) {
    windows++;
    m.onWindow(win({ lossUpPct: 2.2, lossCounts: { up: { lost: 4, of: 180 }, down: { lost: 0, of: 180 } } }));
  }
  // each such window adds 4·ln 4 + 176·ln(0.98/0.995) = 2.87 to the evidence, which must reach 12
  const expected = Math.ceil(12 / (4 * Math.log(4) + 176 * Math.log(0.98 / 0.995)));
  t.equal(windows, expected, `4 lost of 180 a window: raised after ${windows} windows`);
  t.match(
    alerts.find((a) => a.metric === 'loss_up_pct'),
    { kind: 'raised', limit: 1, unit: '%' },
  );
  t.ok(m.wantsConfirmation, 'the prober confirms while the loss lasts');
  for (let i = 0; i < 8; i++) m.onWindow(win());
  t.match(
    alerts.filter((a) => a.metric === 'loss_up_pct').map((a) => a.kind),
    ['raised', 'cleared'],
  );
  t.notOk(m.wantsConfirmation, 'and stops confirming once it cleared');
});

t.test('RTT is judged on the interval of its median: a jittery window whose interval reaches under the limit is no alert', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  for (let i = 0; i < 3; i++) m.onWindow(win());
  m.onWindow(win({ rttMedianMs: 26, rttMedianCiMs: { low: 24, high: 28 } }));
  t.same(
    alerts.filter((a) => a.metric === 'rtt_ms'),
    [],
    'median 26 ms past the 25 ms limit, but its interval 24–28 is not all past it',
  );
  m.onWindow(win({ rttMedianMs: 45, rttMedianCiMs: { low: 43, high: 47 } }));
  t.match(
    alerts.filter((a) => a.metric === 'rtt_ms'),
    [{ kind: 'raised', measured: 45 }],
  );
  m.onWindow(win({ rttMedianMs: 14, rttMedianCiMs: { low: 10, high: 16 } }));
  m.onWindow(win({ rttMedianMs: 14, rttMedianCiMs: { low: 10, high: 16 } }));
  t.equal(alerts.filter((a) => a.metric === 'rtt_ms').length, 1, 'back under the leave value (15 ms) as a median, but not all of its interval: not cleared');
  m.onWindow(win());
  m.onWindow(win());
  t.match(
    alerts.filter((a) => a.metric === 'rtt_ms').map((a) => a.kind),
    ['raised', 'cleared'],
  );
});

t.test('the RTT baseline is the lowest window median of the period, as a plain minimum gives it', async (t) => {
  const baseline = new RttBaseline(60_000);
  const seen: Array<{ at: number; median: number }> = [];
  let x = 7;
  for (let at = 0; at < 3_000_000; at += 5000) {
    x = (x * 48271) % 2147483647;
    const median = 20 + (x % 1000) / 100;
    baseline.add(at, median);
    seen.push({ at, median });
    const naive = Math.min(...seen.filter((s) => s.at >= at - 60_000).map((s) => s.median));
    if (baseline.value !== naive) {
      t.fail(`at ${at}: ${baseline.value} vs ${naive}`);
      return;
    }
  }
  t.pass('600 windows: the same minimum at each');
});

t.test('no reply at all: DOWN; DSCP bleached: DEGRADED for the profile that needs its marks', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  m.onWindow(win({ received: 0, rttMedianMs: undefined, ipdvMeanMs: undefined, lossUpPct: 100, lossDownPct: 0 }));
  t.match(
    alerts.find((a) => a.metric === 'reachability'),
    { state: 'down', kind: 'raised' },
  );
  t.match(
    alerts.find((a) => a.metric === 'overall'),
    { state: 'down' },
  );
  m.onWindow(win({ dscpUp: 'bleached' }));
  t.match(
    alerts.find((a) => a.metric === 'dscp_up'),
    { state: 'degraded', measured: 'bleached', affects: ['teleconsultation-hd'] },
  );
});

t.test('throughput halved against the best recent test raises an alert; a test overlapping a window sets it aside', async (t) => {
  const alerts: Alert[] = [];
  const m = monitor(alerts);
  m.onThroughput('up', 19, 1);
  m.onThroughput('up', 19.2, 2);
  m.onThroughput('up', 9.6, 3);
  t.match(
    alerts.find((a) => a.metric === 'up_mbps'),
    { kind: 'raised', measured: 9.6, unit: 'Mbit/s' },
  );
  m.onThroughput('up', 19, 4);
  t.match(
    alerts.filter((a) => a.metric === 'up_mbps').map((a) => a.kind),
    ['raised', 'cleared'],
  );
});

t.test('webhook: retried until the server takes it; refused or unreachable → dead-letter file', async (t) => {
  const received: unknown[] = [];
  let failures = 2;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/refuse') return res.writeHead(400).end();
      if (failures-- > 0) return res.writeHead(503).end();
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dir = t.testdir();
  const alert = { id: 'a1', kind: 'raised', metric: 'rtt_ms', message: 'x' } as Alert;
  const sink = new WebhookSink({
    url: `http://127.0.0.1:${port}/hook`,
    maxAttempts: 5,
    timeoutMs: 2000,
    deadLetterFile: join(dir, 'dead.ndjson'),
    log,
    baseDelayMs: 20,
    maxDelayMs: 50,
  });
  sink.deliver(alert);
  await sink.close();
  t.same(received, [alert], 'delivered after two 503s');
  const refused = new WebhookSink({
    url: `http://127.0.0.1:${port}/refuse`,
    maxAttempts: 5,
    timeoutMs: 2000,
    deadLetterFile: join(dir, 'dead.ndjson'),
    log,
    baseDelayMs: 20,
  });
  refused.deliver({ ...alert, id: 'a2' });
  await refused.close();
  const gone = new WebhookSink({
    url: 'http://127.0.0.1:1/hook',
    maxAttempts: 2,
    timeoutMs: 500,
    deadLetterFile: join(dir, 'dead.ndjson'),
    log,
    baseDelayMs: 20,
  });
  gone.deliver({ ...alert, id: 'a3' });
  await new Promise((r) => setTimeout(r, 300));
  await gone.close();
  const dead = readFileSync(join(dir, 'dead.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { reason: string; alert: Alert });
  t.match(dead, [
    { reason: 'refused with HTTP 400', alert: { id: 'a2' } },
    { reason: /unreachable/, alert: { id: 'a3' } },
  ]);
});
