import t from 'tap';
import { ADDRESSES, Lab, labUnavailableReason, type LinkImpairment } from '../lab/index.js';
import { startResponder } from '../lab/cli-in-lab.js';
import { Appliance, waitUntil } from '../bridge/fixtures.js';

// Always-on monitoring in the lab [issue 6, "done when"]: each fault — rate halved, 2 % loss,
// +40 ms delay, DSCP bleached — raises the right alert within 30 s of being applied, and its
// removal clears it; a link flapping every 5 s for 2 minutes gives one alert and one clear.
// Each scenario has its own lab and its own `usmp-edge run` (default 15 s windows, 12 probes/s);
// they run side by side to keep CI short. leave_windows is 2 here (4 by default) for the same
// reason: it only delays the clear. ONLY=<part of a name> (or ONLY=flap) runs one scenario.

const unavailable = labUnavailableReason();
const WINDOW_MS = 15_000;

interface Scenario {
  name: string;
  metrics: string[];
  base?: Partial<Record<'up' | 'down', LinkImpairment>>;
  fault: Partial<Record<'up' | 'down', LinkImpairment>>;
  monitor?: Record<string, unknown>;
  /** How long to let the clean link run first (baseline, first throughput tests). */
  warmupMs?: number;
}

type Alert = { kind: string; metric: string; state: string; since: string; measured: unknown; limit: unknown; affects: string[]; message: string };

async function withMonitoredLab(name: string, base: Scenario['base'], monitor: Record<string, unknown>, body: (lab: Lab, appliance: Appliance, alerts: () => Alert[]) => Promise<void>): Promise<void> {
  const lab = await Lab.create({ up: base?.up ?? {}, down: base?.down ?? {} });
  let appliance: Appliance | undefined;
  try {
    await startResponder(lab);
    appliance = await Appliance.create(undefined, [], {
      sections: {
        monitor: { target: ADDRESSES.hospital, profile: 'teleconsultation-hd', leave_windows: 2, throughput: { interval_min: 0 }, ...monitor },
        qualify: { profiles_dir: '/nonexistent' },
      },
    });
    await appliance.start((argv) => ['ip', 'netns', 'exec', lab.ns('appliance'), ...argv]);
    const alerts = () => appliance!.lines.filter((l) => l.includes('"event":"alert.')).map((l) => (JSON.parse(l) as { alert: Alert }).alert);
    await body(lab, appliance, alerts);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}\n${appliance?.lines.slice(-20).join('\n') ?? ''}`);
  } finally {
    await appliance?.destroy();
    await lab.destroy();
  }
}

async function runScenario(s: Scenario): Promise<string[]> {
  const problems: string[] = [];
  await withMonitoredLab(s.name, s.base, s.monitor ?? {}, async (lab, _appliance, alerts) => {
    await new Promise((r) => setTimeout(r, s.warmupMs ?? 2 * WINDOW_MS + 2000));
    if (alerts().length > 0) problems.push(`alerts on the clean link: ${alerts().map((a) => a.message).join(' / ')}`);
    await lab.setLinks({ up: { ...s.base?.up, ...s.fault.up }, down: { ...s.base?.down, ...s.fault.down } });
    const faultAt = Date.now();
    const raised = () => alerts().find((a) => a.kind === 'raised' && s.metrics.includes(a.metric));
    await waitUntil(() => raised() !== undefined, 45_000);
    const alert = raised();
    const after = (Date.now() - faultAt) / 1000;
    if (!alert) problems.push(`no ${s.metrics.join('/')} alert within 45 s`);
    else {
      const seconds = (Date.parse(alert.since) - faultAt) / 1000;
      if (seconds > 30) problems.push(`${alert.metric} alert after ${seconds.toFixed(1)} s (> 30 s)`);
      t.comment(`${s.name}: "${alert.message}" ${seconds.toFixed(1)} s after the fault (seen after ${after.toFixed(1)} s)`);
      if (!alert.since || alert.measured === undefined || alert.limit === undefined) problems.push(`the alert lacks since/measured/limit: ${JSON.stringify(alert)}`);
    }
    await lab.setLinks({ up: s.base?.up ?? {}, down: s.base?.down ?? {} });
    const metric = alert?.metric;
    const cleared = () => alerts().some((a) => a.kind === 'cleared' && a.metric === metric);
    if (metric && !(await waitUntil(cleared, 4 * WINDOW_MS + 10_000))) problems.push(`${metric} not cleared after the fault was removed`);
    const others = alerts().filter((a) => a.metric !== 'overall' && !s.metrics.includes(a.metric));
    if (others.length > 0) problems.push(`unrelated alerts: ${others.map((a) => a.message).join(' / ')}`);
  });
  return problems;
}

async function flapping(): Promise<string[]> {
  const problems: string[] = [];
  await withMonitoredLab('flapping', {}, {}, async (lab, _appliance, alerts) => {
    await new Promise((r) => setTimeout(r, WINDOW_MS + 2000));
    const until = Date.now() + 120_000;
    for (let down = true; Date.now() < until; down = !down) {
      await lab.setLinks({ up: down ? { lossPct: 100 } : {}, down: {} });
      await new Promise((r) => setTimeout(r, 5000));
    }
    await lab.setLinks({ up: {}, down: {} });
    await waitUntil(() => alerts().some((a) => a.kind === 'cleared' && a.metric === 'overall'), 4 * WINDOW_MS + 10_000);
    const overall = alerts().filter((a) => a.metric === 'overall').map((a) => `${a.kind}:${a.state}`);
    t.comment(`flapping: overall alerts ${overall.join(', ')}; all: ${alerts().map((a) => `${a.metric} ${a.kind} ${a.state}`).join(', ')}`);
    if (overall.join(',') !== 'raised:degraded,cleared:ok') problems.push(`overall alerts were ${overall.join(', ') || 'none'}, expected one DEGRADED and one clear`);
    const perMetric = new Map<string, number>();
    for (const a of alerts()) perMetric.set(`${a.metric} ${a.kind}`, (perMetric.get(`${a.metric} ${a.kind}`) ?? 0) + 1);
    for (const [key, n] of perMetric) if (n > 1) problems.push(`${key} ${n} times`);
  });
  return problems;
}

t.test('each fault raises its alert within 30 s and clears; flapping gives one alert and one clear', unavailable ? { skip: unavailable } : { timeout: 600_000 }, async (t) => {
  const scenarios: Scenario[] = [
    // the default profile checks DSCP too: the marks of replies re-injected by the delay
    // emulator are read (and no DSCP alert may come with the delay)
    { name: '+40 ms delay', metrics: ['rtt_ms'], fault: { up: { delayMs: 20 }, down: { delayMs: 20 } } },
    { name: '2 % loss', metrics: ['loss_up_pct', 'loss_down_pct'], fault: { up: { lossPct: 2 }, down: { lossPct: 2 } } },
    { name: 'DSCP bleached', metrics: ['dscp_up'], fault: { up: { dscp: { kind: 'bleach' } } } },
    {
      name: 'rate halved',
      metrics: ['up_mbps', 'down_mbps'],
      base: { up: { rateMbit: 20 }, down: { rateMbit: 20 } },
      fault: { up: { rateMbit: 10 }, down: { rateMbit: 10 } },
      // the lab's schedule: a 2 × 3 s test every 15 s (6 h by default), any hour
      monitor: { throughput: { interval_min: 0.25, duration_s: 3, iperf_ports: 2 } },
      warmupMs: 40_000,
    },
  ];
  const only = process.env.ONLY;
  const results = await Promise.all([...scenarios.filter((s) => !only || s.name.includes(only)).map((s) => runScenario(s).catch((e: Error) => [e.message])), ...(!only || only === 'flap' ? [flapping().catch((e: Error) => [e.message])] : [])]);
  for (const [i, problems] of results.entries()) t.same(problems, [], i < scenarios.length ? scenarios[i]!.name : 'flapping every 5 s for 2 minutes');
});
