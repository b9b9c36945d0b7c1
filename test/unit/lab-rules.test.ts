import t from 'tap';
import { impairmentRuleset } from '../../src/lab/impairments.js';
import { bufferBytes, MIN_BUFFER_BYTES, validateImpairment } from '../../src/lab/link-model.js';
import { hasShaperRoot, shaperCommands, shaperRootCommand } from '../../src/lab/shaping.js';

// The lab's rule builders, checked without root. The self-test checks their effect.

t.test('htb class and queue for a direction', async (t) => {
  const [klass, queue] = shaperCommands('to-hos', { rateMbit: 8, bufferMs: 100 });
  t.match(klass, ['tc', 'class', 'replace', 'dev', 'to-hos', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '8000000bit', 'ceil', '8000000bit']);
  t.match(queue, ['tc', 'qdisc', 'replace', 'dev', 'to-hos', 'parent', '1:10', 'handle', '10:', 'bfifo', 'limit', '100000b']);
  t.same(shaperCommands('to-hos', {}), [], 'unshaped: nothing to install');
  t.ok(hasShaperRoot('qdisc htb 1: root refcnt 2 r2q 10 default 0x10'));
  t.notOk(hasShaperRoot('qdisc noqueue 0: root refcnt 2'));
  const atm = { sizeTable: { linklayer: 'atm' as const, overhead: 26 } };
  t.ok(
    hasShaperRoot('qdisc htb 1: root refcnt 2 r2q 10 default 0x10\n linklayer atm overhead 26 mtu 2047 tsize 512', atm),
    'the size table asked for is there',
  );
  t.notOk(hasShaperRoot('qdisc htb 1: root refcnt 2 r2q 10 default 0x10', atm), 'a root without it must be rebuilt');
  t.notOk(
    hasShaperRoot('qdisc htb 1: root refcnt 2 r2q 10 default 0x10\n linklayer atm overhead 26 mtu 2047 tsize 512'),
    'and one with it, when none is asked for',
  );
  t.same(shaperRootCommand('to-hos', atm), [
    'tc',
    'qdisc',
    'add',
    'dev',
    'to-hos',
    'root',
    'handle',
    '1:',
    'stab',
    'linklayer',
    'atm',
    'overhead',
    '26',
    'mpu',
    '0',
    'htb',
    'default',
    '10',
  ]);
});

t.test('queue size follows the rate, with a floor', async (t) => {
  t.equal(bufferBytes({ rateMbit: 100, bufferMs: 50 }), 625_000);
  t.equal(bufferBytes({ rateMbit: 1, bufferMs: 10 }), MIN_BUFFER_BYTES);
  t.equal(bufferBytes({}), 0);
});

t.test('loss and DSCP rules replace the table atomically and match the egress device', async (t) => {
  const ruleset = impairmentRuleset({
    up: { dev: 'to-hos', link: { lossPct: 2, dscp: { kind: 'bleach' } } },
    down: { dev: 'to-app', link: { dscp: { kind: 'remap', map: { 46: 34 } } } },
  });
  t.match(ruleset, /^add table ip usmp_lab\ndelete table ip usmp_lab\ntable ip usmp_lab \{/);
  t.match(ruleset, /oifname "to-hos" numgen random mod 1000000 < 20000 counter drop comment "loss-up"/);
  t.match(ruleset, /oifname "to-hos" counter ip dscp set 0 comment "bleach-up"/);
  t.match(ruleset, /oifname "to-app" ip dscp 46 counter ip dscp set 34 comment "remap-down"/);
  t.notMatch(ruleset, /loss-down/);
});

t.test('impossible links are refused with the direction named', async (t) => {
  t.throws(() => validateImpairment('up', { delayMs: 5, jitterMs: 10 }), /lab link up: jitterMs/);
  t.throws(() => validateImpairment('down', { lossPct: 120 }), /lab link down: lossPct/);
  t.throws(() => validateImpairment('down', { rateMbit: 0 }), /rateMbit/);
  t.doesNotThrow(() => validateImpairment('up', { rateMbit: 8, lossPct: 1, delayMs: 25, jitterMs: 5 }));
});
