import t from 'tap';
import { UsmpError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { connectRouter, type RouterConnectOptions } from '../../src/qos/routeros/connect.js';
import { RouterOsQosBackend } from '../../src/qos/routeros/backend.js';
import { parsePolicy } from '../../src/qos/policy.js';
import { makeTestPki } from './simulator/certificate.js';
import { ROUTER_PASSWORD, ROUTER_USER, siteRouter } from './simulator/fixtures.js';
import type { Faults } from './simulator/server.js';
import { labPolicy } from './fixtures.js';

// Router faults: trap, stall, dropped connection, !empty, !fatal, wrong
// password, TLS failure, garbage — each a clear error with its code, none a crash. The whole
// file runs in one process: an uncaught exception would fail it.

const uncaught: unknown[] = [];
process.on('uncaughtException', (err) => uncaught.push(err));
const pki = makeTestPki();
const sim = siteRouter({ tls: { key: pki.key, cert: pki.cert } });
const port = await sim.listen();
t.teardown(async () => {
  await sim.close();
  pki.cleanup();
});
const { policy } = parsePolicy(labPolicy() as unknown as Parameters<typeof parsePolicy>[0]);

const options = (over: Partial<RouterConnectOptions> = {}): RouterConnectOptions => ({
  host: '127.0.0.1',
  port,
  tls: true,
  caFile: pki.caFile,
  username: ROUTER_USER,
  password: ROUTER_PASSWORD,
  commandTimeoutMs: 400,
  ...over,
});

async function codeOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
    return 'no error';
  } catch (err) {
    return err instanceof UsmpError ? err.code : `not a UsmpError: ${String(err)}`;
  }
}

async function applyWith(faults: Faults): Promise<string> {
  sim.faults = faults;
  try {
    return await codeOf(async () => {
      const session = await connectRouter(options());
      const backend = new RouterOsQosBackend({ session, interfaces: { wan: 'ether1', lan: 'bridge' }, checkTarget: '198.19.1.10', username: ROUTER_USER });
      try {
        await backend.prepare();
        await backend.apply(policy!);
      } finally {
        await backend.close();
      }
    });
  } finally {
    sim.faults = {};
  }
}

t.test('each router fault gives its own code', async (t) => {
  t.equal(await applyWith({ trap: (c) => (c === '/queue/tree/add' ? 'failure: out of memory' : undefined) }), 'USMP_E_ROUTER_TRAP', 'trap on add');
  t.equal(await applyWith({ stall: (c) => c === '/ip/firewall/mangle/print' }), 'USMP_E_ROUTER_TIMEOUT', 'a stalled command hits its deadline');
  t.equal(await applyWith({ drop: (c) => c === '/ip/firewall/address-list/print' }), 'USMP_E_ROUTER_CLOSED', 'dropped connection');
  t.equal(await applyWith({ fatal: (c) => c === '/queue/tree/print' }), 'USMP_E_ROUTER_CLOSED', '!fatal');
  t.equal(await applyWith({ garbage: (c) => c === '/ip/firewall/mangle/print' }), 'USMP_E_ROUTER_PROTOCOL', 'a reserved control byte');
  t.equal(await applyWith({ splitBytes: 3 }), 'no error', 'replies split into 3-byte segments are read whole');
  t.equal(await codeOf(() => connectRouter(options({ password: 'wrong' }))), 'USMP_E_ROUTER_LOGIN', 'wrong password');
  t.equal(await codeOf(() => connectRouter(options({ caFile: '' }))), 'USMP_E_ROUTER_TLS', 'a certificate from an unknown CA');
  t.equal(await codeOf(() => connectRouter(options({ caFile: '/nonexistent/ca.pem' }))), 'USMP_E_ROUTER_TLS', 'an unreadable CA file');
  t.equal(await codeOf(() => connectRouter(options({ tls: false }))), 'USMP_E_ROUTER_CLOSED', 'plain API against api-ssl');
  t.equal(await codeOf(() => connectRouter(options({ port: 1 }))), 'USMP_E_ROUTER_CONNECT', 'nothing listening');
});

t.test('!empty (RouterOS 7.18) is an empty result, and 7.17 silence too', async (t) => {
  for (const version of ['7.18', '7.17'] as const) {
    sim.options.version = version;
    const session = await connectRouter(options());
    t.same(await session.run('/system/scheduler/print', {}, ['?name=nothing-like-this']), [], `print with no result on ${version}`);
    session.close();
  }
  sim.options.version = '7.18';
  t.ok(
    sim.log.some((s) => s[0] === '/system/scheduler/print'),
    'the queries reached the simulator',
  );
});

t.test('the password is never logged, and never in an error', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', pretty: 'never', fd: 2, destination: { write: (line: string) => void lines.push(line) } });
  const err = await connectRouter(options({ password: 'wrong-password-123' })).catch((e: unknown) => e as UsmpError);
  log.error({ err, options: options({ password: 'wrong-password-123' }) }, 'login failed');
  t.notMatch(JSON.stringify(err) + String((err as Error).message), /wrong-password-123/);
  t.notMatch(lines.join('\n'), /wrong-password-123/);
});

t.test('a failed session leaves the process alive and serving', async (t) => {
  t.same(uncaught, [], 'no uncaught exception in this process');
  const session = await connectRouter(options());
  t.ok((await session.run('/queue/tree/print')).length >= 1, 'a new session works after all the faults');
  session.close();
});
