import t from 'tap';
import { pino } from 'pino';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import type { PartHealth } from '../../src/daemon/health.js';
import type { DaemonPart } from '../../src/daemon/part.js';
import { startOrder, Supervisor } from '../../src/daemon/supervisor.js';

// The supervisor with parts made here: dependency order, a cycle refused, a failed start reported
// by name while the others run, a reload restarting only what its configuration changed.

const log = pino({ level: 'silent' });
const base = loadConfig({ file: '/nonexistent', explicit: false, env: {} });

function part(name: string, events: string[], o: Partial<DaemonPart> & { fail?: () => boolean } = {}): DaemonPart {
  return {
    name,
    sections: o.sections ?? [],
    ...(o.dependsOn ? { dependsOn: o.dependsOn } : {}),
    start: async () => {
      if (o.fail?.()) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
    },
    stop: async () => void events.push(`stop ${name}`),
    health: (): PartHealth => ({ status: 'running' }),
  };
}

t.test('each part starts after those it depends on, and stops before them', async (t) => {
  const events: string[] = [];
  const s = new Supervisor(
    [part('metrics', events, { dependsOn: ['monitor'] }), part('monitor', events, { dependsOn: ['bridge'] }), part('bridge', events)],
    base,
    log,
  );
  await s.start();
  await s.stop();
  t.same(events, ['start bridge', 'start monitor', 'start metrics', 'stop metrics', 'stop monitor', 'stop bridge']);
  t.throws(() => startOrder([part('a', [], { dependsOn: ['b'] }), part('b', [], { dependsOn: ['a'] })]), /cycle: a → b → a/);
  t.throws(() => startOrder([part('a', [], { dependsOn: ['nothing'] })]), /depends on nothing, which is not a part/);
});

t.test('a part that fails is reported by name; the others run; a reload restarts only what changed', async (t) => {
  const events: string[] = [];
  let broken = true;
  const s = new Supervisor(
    [part('capture', events, { sections: ['capture'] }), part('monitor', events, { sections: ['monitor'], fail: () => broken })],
    base,
    log,
  );
  t.teardown(() => s.stop());
  await s.start();
  t.match(s.health(), { capture: { status: 'running' }, monitor: { status: 'failed', error: 'monitor cannot start', attempts: 1 } });
  broken = false;
  const next: LoadedConfig = { ...base, values: { ...base.values, monitor: { ...base.values.monitor, target: '198.19.1.10' } } };
  t.same(await s.reload(next), ['monitor'], 'only the part whose section changed');
  // a failed start is stopped at once (it releases what it opened), then by the reload
  t.same(events, ['start capture', 'stop monitor', 'stop monitor', 'start monitor']);
  t.match(s.health(), { monitor: { status: 'running' } });
  t.same(await s.reload(next), [], 'nothing changed: nothing restarts');
});

// compile-time (npm run lint type-checks): a misspelt section is refused by the build
const misspelt: DaemonPart = {
  name: 'x',
  // @ts-expect-error 'captur' is no section of the configuration
  sections: ['captur'],
  start: async () => undefined,
  stop: async () => undefined,
  health: () => ({ status: 'running' }),
};
void misspelt;
