import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsmpError } from '../../src/errors.js';
import { connectRouter, type RouterConnectOptions } from '../../src/qos/routeros/connect.js';
import { RouterOsQosBackend } from '../../src/qos/routeros/backend.js';
import { ROLLBACK_NAME } from '../../src/qos/routeros/rollback-script.js';
import { parsePolicy, type PolicyInput, type QosPolicy } from '../../src/qos/policy.js';
import { labPolicy } from './fixtures.js';
import { ROUTER_PASSWORD, ROUTER_USER, siteRouter } from './simulator/fixtures.js';
import type { RouterOsSimulator, SimulatorOptions } from './simulator/server.js';

// What a real RouterOS 7 does to a client that the first simulator did not: dynamic rules,
// /32 dropped on read-back, policies enforced, next-run as the router's local date and time,
// IPv6 in its own firewall, large site menus. Each behaviour is cited in simulator/model.ts.

const { policy } = parsePolicy(labPolicy() as unknown as PolicyInput);
const v6Policy = parsePolicy({
  ...(labPolicy() as unknown as PolicyInput),
  classes: [
    {
      name: 'video6',
      dscp: 'AF41',
      priority: 2,
      rate_mbps: 4,
      ceil_mbps: 19,
      match: { local: ['2001:db8:1::10'], remote: ['2001:db8:2::/48'], protocol: 'udp' },
    },
  ],
}).policy!;

type OpenBackend = (queueKind?: 'fq-codel' | 'cake') => Promise<RouterOsQosBackend>;

async function withRouter(
  options: SimulatorOptions,
  work: (backend: RouterOsQosBackend, sim: RouterOsSimulator, open: OpenBackend) => Promise<void>,
  queueKind?: 'fq-codel' | 'cake',
): Promise<void> {
  const sim = siteRouter(options);
  const port = await sim.listen();
  const opened: RouterOsQosBackend[] = [];
  const open: OpenBackend = async (kind) => {
    const session = await connectRouter({
      host: '127.0.0.1',
      port,
      tls: false,
      caFile: '',
      username: ROUTER_USER,
      password: ROUTER_PASSWORD,
      commandTimeoutMs: 3000,
    });
    const b = new RouterOsQosBackend({
      session,
      interfaces: { wan: 'ether1', lan: 'bridge', ...(kind ? { queueKind: kind } : {}) },
      checkTarget: '198.19.1.10',
      username: ROUTER_USER,
    });
    opened.push(b);
    return b;
  };
  try {
    await work(await open(queueKind), sim, open);
  } finally {
    for (const b of opened) await b.close();
    await sim.close();
  }
}

async function applyAndCheck(backend: RouterOsQosBackend, p: QosPolicy): Promise<void> {
  await backend.prepare();
  await backend.apply(p);
}

t.test('apply reads back clean on a router with dynamic rules, /32 dropped and a 5 000-entry address list', async (t) => {
  await withRouter({}, async (backend, sim) => {
    await applyAndCheck(backend, policy!);
    const check = await backend.check(policy!);
    t.ok(check.ok, `the confirmation check passes: ${check.findings.join('; ')}`);
    const lists = sim.model.menu('/ip/firewall/address-list').filter((i) => i.comment?.startsWith('usmp-qos:'));
    t.ok(lists.length > 0 && lists.every((i) => !i.address!.endsWith('/32')), 'the router stored our hosts without /32, and the read-back still matches');
    const mangle = sim.model.menu('/ip/firewall/mangle');
    t.equal(mangle[0]?.dynamic, 'true', 'the dynamic change-mss rule stays first (nothing can go before it)');
    t.ok(
      mangle.findIndex((r) => r.comment?.startsWith('usmp-qos:')) < mangle.findIndex((r) => r.comment === 'site: backup route'),
      "ours sit before the site's first static rule",
    );
    const prints = sim.log.filter((s) => s[0]!.endsWith('/print') && s[0] !== '/system/clock/print');
    t.same(
      prints.filter((s) => !s.some((w) => w.startsWith('=.proplist='))).map((s) => s[0]),
      [],
      'every menu print names its properties (.proplist)',
    );
  });
});

t.test('an IPv6 class is written to /ipv6/firewall and confirmed', async (t) => {
  await withRouter({}, async (backend, sim) => {
    await applyAndCheck(backend, v6Policy);
    t.ok(
      sim.model.menu('/ipv6/firewall/address-list').some((i) => i.address === '2001:db8:1::10/128'),
      'the IPv6 host, stored with /128',
    );
    t.ok(
      sim.model.menu('/ipv6/firewall/mangle').some((i) => i['new-connection-mark'] === 'usmp-qos-video6'),
      'its marks in the IPv6 mangle table',
    );
    t.notOk(
      sim.model.menu('/ip/firewall/mangle').some((i) => i.comment?.includes('video6')),
      'nothing of it in the IPv4 table',
    );
    t.ok((await backend.check(v6Policy)).ok, 'read-back matches');
  });
});

t.test('a router without IPv6: its missing /ipv6 menus read as empty, and an IPv4 policy applies', async (t) => {
  await withRouter({ ipv6: false }, async (backend, sim) => {
    await applyAndCheck(backend, policy!);
    t.ok((await backend.check(policy!)).ok, 'applied and read back');
    t.ok(
      sim.model.menu('/ip/firewall/mangle').some((r) => r.comment?.startsWith('usmp-qos:v1:mangle:devices')),
      'the address-less class is marked in IPv4 only',
    );
  });
});

t.test('an account without the test policy is refused before anything changes', async (t) => {
  await withRouter({ groupPolicy: 'read,write,api' }, async (backend, sim) => {
    const before = JSON.stringify(sim.model.snapshot());
    const err = await backend.prepare().catch((e: unknown) => e as UsmpError);
    t.match(err, { code: 'USMP_E_ROUTER_PERMISSION', message: /lacks the test policy/, hint: /policy=read,write,api,test/ });
    t.equal(JSON.stringify(sim.model.snapshot()), before, 'the router is as it was');
  });
});

t.test("the roll-back is armed with explicit policies, and its deadline is read on the router's clock", async (t) => {
  await withRouter({ clockOffsetMs: 3_600_000 + 1234 }, async (backend, sim) => {
    await applyAndCheck(backend, policy!);
    const guard = await backend.armRollback(30);
    const scheduler = sim.model.menu('/system/scheduler').find((s) => s.name === ROLLBACK_NAME)!;
    t.equal(scheduler.policy, 'read,write', 'the scheduler runs with read,write only');
    t.equal(sim.model.menu('/system/script').find((s) => s.name === ROLLBACK_NAME)?.policy, 'read,write', 'and so does its script');
    const armed = await backend.armed();
    const left = (armed!.deadline.getTime() - Date.now()) / 1000;
    t.ok(left > 27 && left <= 31, `the deadline is ${left.toFixed(1)} s away (30 s armed; the router's clock is an hour ahead)`);
    t.ok(await guard.disarm(), 'disarmed');
  });
});

t.test('a roll-back step that fails does not stop the others, and the scheduler never fires twice', async (t) => {
  const errors: Error[] = [];
  await withRouter({ onScriptError: (e) => errors.push(e) }, async (backend, sim) => {
    await applyAndCheck(backend, policy!);
    const withA = sim.model.snapshot();
    await backend.armRollback(2);
    await backend.apply({ ...policy!, classes: policy!.classes.map((c, i) => (i === 0 ? { ...c, rateMbps: 6 } : c)) });
    // The site removes its FastTrack rule during the confirmation window: the roll-back cannot
    // put our FastTrack exclusions back before it, and must restore everything else.
    const fasttrack = sim.model.menu('/ip/firewall/filter').find((r) => r.action === 'fasttrack-connection')!;
    sim.model.remove('/ip/firewall/filter', fasttrack['.id']!);
    const deadline = Date.now() + 10_000;
    while (sim.model.menu('/system/scheduler').some((s) => s.name === ROLLBACK_NAME) && Date.now() < deadline) await sleep(100);
    await sleep(2500); // one more interval: a scheduler left behind would fire again
    t.same(errors, [], 'the script ran to its end');
    t.match(sim.model.log.join('\n'), /usmp-qos roll-back: restore filter:video:no-fasttrack failed/, "the failed step is in the router's log");
    t.notOk(
      sim.model.menu('/system/scheduler').some((s) => s.name === ROLLBACK_NAME),
      'the scheduler is gone',
    );
    t.notOk(
      sim.model.menu('/system/script').some((s) => s.name === ROLLBACK_NAME),
      'the script removed itself',
    );
    const expected: Record<string, unknown[]> = {
      ...withA,
      '/ip/firewall/filter': withA['/ip/firewall/filter']!.filter((r) => r.action !== 'fasttrack-connection' && !r.comment?.includes('no-fasttrack')),
    };
    const after = sim.model.snapshot();
    t.same(after['/queue/tree'], expected['/queue/tree'], 'the queues of policy A are back');
    t.same(after, expected, "the state of policy A, less the site's removed rule and the exclusions that needed it");
  });
});

t.test("autorate on the router: a rate change sets the roots' and best effort's limits, and the read-back follows it", async (t) => {
  await withRouter({}, async (backend, sim) => {
    await applyAndCheck(backend, policy!);
    const moved = { ...policy!, autorateMbps: { up: 9.5 } };
    await backend.setShapedRates(moved);
    const queue = (name: string): Record<string, string> | undefined => sim.model.menu('/queue/tree').find((q) => q.name === name);
    t.match(queue('usmp-qos-up'), { 'max-limit': '9500000' }, 'the upload root at 9.5 Mbit/s');
    t.match(queue('usmp-qos-up-best-effort'), { 'max-limit': '9500000', 'limit-at': '4500000' }, 'best effort: the rest of it below the root');
    t.match(queue('usmp-qos-down'), { 'max-limit': '19000000' }, 'download untouched');
    t.ok((await backend.check(moved)).ok, 'the read-back matches the policy at its autorate rate');
    t.notOk((await backend.check(policy!)).ok, 'and no longer the configured rate');
    t.same(await backend.rootOctets(), { up: 0, down: 0 }, "the roots' byte counters are read (the simulator forwards nothing)");
  });
});

t.test('queue kind cake: one queue type of ours for every leaf, and back to the default without a trap', async (t) => {
  await withRouter(
    {},
    async (backend, sim, open) => {
      await applyAndCheck(backend, policy!);
      t.same(
        sim.model.menu('/queue/type').map((q) => [q.name, q.kind]),
        [['usmp-qos-cake', 'cake']],
      );
      const leaves = sim.model.menu('/queue/tree').filter((q) => q.comment?.startsWith('usmp-qos:') && q.parent?.startsWith('usmp-qos-'));
      t.ok(leaves.length === 6 && leaves.every((q) => q.queue === 'usmp-qos-cake'), 'every leaf uses it');
      t.ok((await backend.check(policy!)).ok, 'read-back matches');
      const plain = await open();
      await plain.prepare();
      await plain.apply(policy!);
      t.same(sim.model.menu('/queue/type'), [], 'the queue type is gone');
      t.ok(
        sim.model
          .menu('/queue/tree')
          .filter((q) => q.parent?.startsWith('usmp-qos-'))
          .every((q) => q.queue === 'default-small'),
        "the leaves are back on the router's default",
      );
    },
    'cake',
  );
});

t.test('a pre-6.43 router and non-ASCII credentials are refused clearly', async (t) => {
  const sim = siteRouter({ version: '6.42' });
  const port = await sim.listen();
  t.teardown(() => sim.close());
  const base: RouterConnectOptions = {
    host: '127.0.0.1',
    port,
    tls: false,
    caFile: '',
    username: ROUTER_USER,
    password: ROUTER_PASSWORD,
    commandTimeoutMs: 3000,
  };
  const old = await connectRouter(base).catch((e: unknown) => e as UsmpError);
  t.match(old, { code: 'USMP_E_ROUTER_LOGIN', message: /older than 6\.43/ }, 'a login challenge is not a success');
  const euro = await connectRouter({ ...base, password: 'pass€word' }).catch((e: unknown) => e as UsmpError);
  t.match(euro, { code: 'USMP_E_ROUTER_TEXT', message: /password holds a character outside ASCII/ });
  t.notMatch(`${(euro as UsmpError).message} ${JSON.stringify(euro)}`, /pass.word/, 'the password is not in the message');
  t.equal(sim.log.filter((s) => s[0] === '/login').length, 1, 'no login was sent with it');
});
