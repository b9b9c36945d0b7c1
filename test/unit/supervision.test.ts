import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { MetricsServer } from '../../src/daemon/metrics-server.js';
import type { HealthReport } from '../../src/daemon/health.js';

// What the project ships for the supervision teams: Prometheus rules that promtool accepts and
// whose alerts fire on the series that should fire them (promtool's own rule tests), and a
// Grafana dashboard whose every query names a metric the appliance's /metrics really exports.

const DIR = fileURLToPath(new URL('../../supervision/', import.meta.url));
const METRIC = /\busmp_edge_[a-z_]+/g;

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd: `${DIR}prometheus`, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

async function exportedMetrics(): Promise<Set<string>> {
  const health: HealthReport = { status: 'ok', reasons: [], version: 'test', uptime_s: 1, parts: {} };
  const text = await new MetricsServer(() => health, pino({ level: 'silent' })).registry.metrics();
  return new Set([...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!));
}

t.test('the Prometheus rules: valid, and each alert fires when it should and not before', async (t) => {
  const check = await promtool(['check', 'rules', 'usmp-edge-rules.yml']);
  t.equal(check.code, 0, check.output);
  t.match(check.output, /SUCCESS: 5 rules found/);
  const unit = await promtool(['test', 'rules', 'usmp-edge-rules.test.yml']);
  t.equal(unit.code, 0, unit.output);
  t.match(unit.output, /SUCCESS/);
});

t.test('every metric the rules and the dashboard query is exported by the appliance', async (t) => {
  const exported = await exportedMetrics();
  t.ok(exported.has('usmp_edge_link_state'), 'the registry is read');
  const rules = readFileSync(`${DIR}prometheus/usmp-edge-rules.yml`, 'utf8');
  const dashboard = JSON.parse(readFileSync(`${DIR}grafana/usmp-edge-appliance.json`, 'utf8')) as {
    uid: string;
    panels: Array<{ id: number; title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string }> };
  };
  const queried = new Set(
    [...rules.matchAll(METRIC), ...dashboard.panels.flatMap((p) => p.targets.flatMap((q) => [...q.expr.matchAll(METRIC)]))].map((m) => m[0]),
  );
  t.ok(queried.size >= 15, `${queried.size} metrics queried`);
  for (const name of queried) t.ok(exported.has(name), `${name} is exported`);
  t.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids unique');
  t.same(
    dashboard.templating.list.map((v) => v.name),
    ['datasource', 'appliance'],
    'the data source is chosen at import, not hard-wired',
  );
});
