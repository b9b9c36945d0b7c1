import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The installed wrapper decides, from the command line, whether a command runs as the service
// user (with CAP_NET_ADMIN alone for qos and qualify) or as the caller. An option that takes a
// value must not be mistaken for the command: `--log-level debug device add x` run as root
// would otherwise leave devices.json owned by root.

const WRAPPER = fileURLToPath(new URL('../../scripts/usmp-edge-wrapper.sh', import.meta.url));
const decide = (...args: string[]): string =>
  execFileSync('sh', [WRAPPER, ...args], { env: { ...process.env, USMP_EDGE_WRAPPER_PRINT: '1' } })
    .toString()
    .trim();
const asRoot = process.getuid?.() === 0 ? {} : { skip: 'the wrapper decides only when run by root' };

t.test('as root: the command, past options and their values', asRoot, async (t) => {
  t.equal(decide('qos', 'plan'), 'service-user+net_admin');
  t.equal(decide('--log-level', 'debug', 'qos', 'apply'), 'service-user+net_admin', '--log-level takes a value');
  t.equal(decide('--log-level', 'debug', 'device', 'add', 'ecg-1'), 'service-user', 'a device is enrolled as the service user');
  t.equal(decide('-c', '/etc/usmp-edge/config.json', 'report', 'keygen'), 'service-user');
  t.equal(decide('--config', 'x.json', '--log-level', 'info', 'qualify'), 'service-user+net_admin');
  t.equal(decide('--config=x.json', 'run'), 'service-user', 'the --option=value form');
  t.equal(decide('collector', 'user', 'add', 'a', '--role', 'national'), 'service-user', "the collector's database stays the service's");
  t.equal(decide('config', 'check'), 'caller');
  t.equal(decide('--log-level', 'qos', 'probe', 'latency'), 'caller', 'a value that looks like a command is still a value');
  t.equal(decide(), 'caller');
});
