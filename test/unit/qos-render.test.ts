import t from 'tap';
import { parsePolicy, type PolicyInput } from '../../src/qos/policy.js';
import { renderRuleset, desiredNftObjects, parseNftState } from '../../src/qos/linux/nft-ruleset.js';
import { desiredTcObjects, parseRate, parseTcState, rateChangeBatch, rootSentOctets, treeBatch } from '../../src/qos/linux/tc-tree.js';
import { desiredRouterObjects, normaliseValue, routerAddress } from '../../src/qos/routeros/objects.js';
import { rollbackScript } from '../../src/qos/routeros/rollback-script.js';
import { durationMs, parseRouterDate, parseRouterDateTime } from '../../src/qos/routeros/router-time.js';

// What each backend would write for a policy, and how it reads the device back.

const input = {
  up_mbps: 20,
  down_mbps: 40,
  shape_percent: 95,
  classes: [
    {
      name: 'voice',
      dscp: 'EF',
      priority: 1,
      rate_mbps: 0.5,
      ceil_mbps: 2,
      match: { local: ['198.18.1.10'], remote: ['198.19.0.0/16'], protocol: 'udp', remote_ports: ['5004', '5006-5100'] },
    },
    { name: 'devices', dscp: 'AF21', priority: 3, rate_mbps: 1, ceil_mbps: 19, match: { remote_ports: ['8883'], protocol: 'any' } },
  ],
} as PolicyInput;
const { policy } = parsePolicy(input);
const ifs = { wan: 'wan0', lan: 'lan0' };

t.test('nftables: one transaction, classes marked, the trust boundary last', async (t) => {
  const text = renderRuleset(policy!, ifs);
  t.match(
    text,
    /^table inet usmp_qos \{\}\ndelete table inet usmp_qos\ntable bridge usmp_qos \{\}\ndelete table bridge usmp_qos\ntable inet usmp_qos \{/,
    'create-delete-create in both families: an atomic replacement, wherever the table was',
  );
  const bridged = renderRuleset(policy!, ifs, 'bridge');
  t.match(
    bridged,
    /\ntable bridge usmp_qos \{\n {2}chain classify \{\n {4}type filter hook forward priority filter;/,
    "inline-bridge: the bridged frames at the bridge family's forward hook (its postrouting has no input port)",
  );
  t.match(
    bridged,
    /chain classify_local \{\n {4}type filter hook output priority filter; policy accept;\n {4}oifname "wan0" ether type ip ip saddr 198\.18\.1\.10\/32 [^\n]* comment "usmp-qos:up:voice:local:/,
    "the appliance's own packets at its output hook",
  );
  t.notMatch(bridged.slice(bridged.indexOf('classify_local')), /iifname/, 'no trust-boundary rule there: those need an input port');
  t.match(bridged, /oifname "wan0" ether type ip ip saddr 198\.18\.1\.10\/32 /, 'frames are told IPv4 by their ether type');
  t.match(bridged, /oifname "wan0" ether type ip6 meta l4proto \{ tcp, udp \} th dport 8883 ip6 dscp set 18/);
  t.notMatch(bridged, /meta nfproto/, 'no nfproto in the bridge family');
  t.match(
    text,
    /oifname "wan0" ip saddr 198\.18\.1\.10\/32 ip daddr 198\.19\.0\.0\/16 meta l4proto udp th dport \{ 5004, 5006-5100 \} ip dscp set 46 counter accept comment "usmp-qos:up:voice:/,
  );
  t.match(
    text,
    /oifname "lan0" ip saddr 198\.19\.0\.0\/16 ip daddr 198\.18\.1\.10\/32 meta l4proto udp th sport \{ 5004, 5006-5100 \} ip dscp set 46/,
    'download: the hospital side is the source',
  );
  t.match(text, /meta nfproto ipv6 meta l4proto \{ tcp, udp \} th dport 8883 ip6 dscp set 18/, 'a class without addresses covers IPv6 too');
  t.match(
    text,
    /iifname "lan0" oifname "wan0" ip dscp set cs0 counter comment "usmp-qos:up:best-effort:/,
    'unmatched forwarded traffic is re-marked best effort',
  );
  const json = JSON.stringify({
    nftables: [
      { table: { family: 'inet', name: 'usmp_qos' } },
      { chain: { hook: 'postrouting' } },
      { rule: { comment: 'usmp-qos:up:voice:abc', expr: [{ counter: { packets: 7, bytes: 1 } }] } },
      { rule: { comment: 'someone else', expr: [] } },
    ],
  });
  const read = parseNftState(json);
  t.same(read.packets, { 'up:voice': 7 });
  t.same(
    read.objects.map((o) => o.key),
    ['nft:table:usmp_qos', 'nft:rule:up:voice'],
    'foreign rules are not ours',
  );
  t.equal(desiredNftObjects(policy!, ifs).length, 1 + 2 * (3 + 2), 'table, then per direction: voice, devices ×2 families, best effort ×2');
});

t.test('tc: the htb tree and its read-back', async (t) => {
  const batch = treeBatch(policy!, 'down', 'lan0');
  t.equal(batch[0], 'qdisc replace dev lan0 root handle 7e1e: htb default 99');
  t.ok(batch.includes('class add dev lan0 parent 7e1e: classid 7e1e:1 htb rate 38000kbit ceil 38000kbit quantum 1514'), 'root at 95 % of 40 Mbit/s');
  t.ok(batch.includes('filter add dev lan0 parent 7e1e: protocol ip prio 1 u32 match ip dsfield 0xb8 0xfc flowid 7e1e:10'), 'EF selected by DSCP');
  t.ok(
    batch.includes('filter add dev lan0 parent 7e1e: protocol ipv6 prio 101 u32 match ip6 priority 0xb8 0xfc flowid 7e1e:10'),
    'IPv6 filters in their own priority range',
  );
  const qdiscs = JSON.stringify([
    { kind: 'htb', handle: '7e1e:', root: true, options: { default: '0x99' } },
    { kind: 'pfifo', handle: '10:', parent: '7e1e:10', options: { limit: 100 } },
  ]);
  const classes =
    'class htb 7e1e:10 parent 7e1e:1 leaf 10: prio 0 rate 500Kbit ceil 2Mbit burst 1600b cburst 1600b \n Sent 42 bytes 3 pkt (dropped 0, overlimits 0 requeues 0) \n';
  const filters = JSON.stringify([{ protocol: 'ip', options: { flowid: '7e1e:10', match: { value: 'b80000', mask: 'fc0000', off: 0 } } }]);
  const read = parseTcState('lan0', qdiscs, classes, filters);
  const want = desiredTcObjects(policy!, 'down', 'lan0');
  for (const key of ['tc:lan0:qdisc:root', 'tc:lan0:class:7e1e:10', 'tc:lan0:qdisc:10:', 'tc:lan0:filter:ip:7e1e:10']) {
    t.same(read.objects.find((o) => o.key === key)?.props, want.find((o) => o.key === key)?.props, `${key} reads back as written`);
  }
  t.same(read.packets, { '7e1e:10': 3 });
  t.same(
    parseTcState('lan0', JSON.stringify([{ kind: 'noqueue', handle: '0:', root: true }]), '', '[]'),
    { root: { kind: 'noqueue', handle: '0:' }, objects: [], packets: {} },
    'a device without our tree',
  );
  t.same([parseRate('2500Kbit'), parseRate('19Mbit'), parseRate('1Gbit'), parseRate('512bit')], [2_500_000, 19_000_000, 1e9, 512]);
});

t.test('RouterOS: the recipe, read-back normalisation, the roll-back script', async (t) => {
  const both = { 4: true, 6: true };
  const objects = desiredRouterObjects(policy!, { wan: 'ether1', lan: 'bridge' }, both);
  const byKey = new Map(objects.map((o) => [o.key, o.props]));
  t.match(byKey.get('mangle:voice:conn-out'), {
    'src-address-list': 'usmp-qos-voice-local',
    'dst-address-list': 'usmp-qos-voice-remote',
    protocol: 'udp',
    'dst-port': '5004,5006-5100',
    'new-connection-mark': 'usmp-qos-voice',
  });
  t.same(
    byKey.get('address-list:usmp-qos-voice-local:198.18.1.10/32'),
    { list: 'usmp-qos-voice-local', address: '198.18.1.10' },
    'a single IPv4 host is written as RouterOS prints it, without /32',
  );
  t.notOk(
    [...byKey.keys()].some((k) => k.startsWith('mangle6:voice')),
    'an IPv4-only class has no IPv6 rules',
  );
  t.ok(
    byKey.has('mangle:devices:conn-out:tcp') && byKey.has('mangle:devices:conn-out:udp'),
    'ports with protocol any: one rule per protocol (RouterOS needs one)',
  );
  t.ok(byKey.has('mangle6:devices:conn-out:tcp') && byKey.has('mangle6:devices:packet'), 'a class without addresses is marked in both families');
  t.match(byKey.get('filter:voice:no-fasttrack'), { action: 'accept', 'connection-mark': 'usmp-qos-voice' });
  t.notOk(
    desiredRouterObjects(policy!, { wan: 'ether1', lan: 'bridge' }, { 4: false, 6: false }).some((o) => /^filter6?:/.test(o.key)),
    'no FastTrack rule, no exclusion',
  );
  t.match(byKey.get('queue:down-best-effort'), {
    parent: 'usmp-qos-down',
    'packet-mark': 'no-mark',
    priority: '8',
    'limit-at': '36500000',
    'max-limit': '38000000',
  });
  t.same(
    [normaliseValue('max-limit', '19M'), normaliseValue('limit-at', '500k'), normaliseValue('passthrough', 'true'), normaliseValue('comment', '19M')],
    ['19000000', '500000', 'yes', '19M'],
  );
  t.same(
    [routerAddress('198.18.1.10/32'), routerAddress('198.18.0.0/24'), routerAddress('2001:db8::1'), routerAddress('2001:db8::/48')],
    ['198.18.1.10', '198.18.0.0/24', '2001:db8::1/128', '2001:db8::/48'],
  );

  const { policy: v6 } = parsePolicy({
    ...input,
    classes: [
      {
        name: 'video',
        dscp: 'AF41',
        priority: 2,
        rate_mbps: 4,
        ceil_mbps: 19,
        match: { local: ['2001:db8:1::10'], remote: ['2001:db8:2::/48'], protocol: 'udp' },
      },
    ],
  });
  const v6Keys = desiredRouterObjects(v6!, { wan: 'ether1', lan: 'bridge' }, both).map((o) => o.key);
  t.ok(
    v6Keys.includes('address-list6:usmp-qos-video-remote:2001:db8:2::/48') && v6Keys.includes('mangle6:video:conn-out'),
    'IPv6 classes go to /ipv6/firewall',
  );
  t.ok(v6Keys.includes('address-list6:usmp-qos-video-local:2001:db8:1::10/128'), 'an IPv6 host with its /128, as RouterOS prints it');
  t.notOk(
    v6Keys.some((k) => /^(mangle|address-list|filter):/.test(k)),
    'an IPv6 class writes nothing to /ip/firewall',
  );

  const script = rollbackScript([{ key: 'queue:up', props: { name: 'usmp-qos-up', parent: 'ether1', comment: 'x"y$z' } }], 'abc', { 4: true, 6: false });
  t.match(
    script,
    /^\/system scheduler remove \[find where name="usmp-qos-rollback"\]\n/,
    'the script removes its scheduler first: it runs once, whatever fails after',
  );
  t.match(
    script,
    /:do \{ \/queue tree remove \[find where comment~"\^usmp-qos:v1:"\] \} on-error=\{ :log warning "usmp-qos roll-back: remove queue failed" \}/,
  );
  t.match(script, /\/queue tree add name="usmp-qos-up" parent="ether1" comment="x\\"y\\\$z" comment="usmp-qos:v1:queue:up"/, 'values quoted and escaped');
  t.match(script, /\/system script remove \[find where comment="usmp-qos:v1:script:abc"\]\n$/, 'the script removes itself last');
  t.same([durationMs('1m30s'), durationMs('00:01:30'), durationMs('45s'), durationMs('1d02:00:00')], [90_000, 90_000, 45_000, 93_600_000]);
});

t.test('RouterOS dates and times, in every form the router prints', async (t) => {
  const today = parseRouterDate('2026-12-02')!;
  t.same(parseRouterDate('dec/02/2026'), today, 'the pre-7.10 form of the same day');
  const at = Date.UTC(2026, 11, 2, 15, 38, 3);
  for (const text of ['2026-12-02 15:38:03', '12-02 15:38:03', 'dec/02/2026 15:38:03', 'Dec/02 15:38:03', '15:38:03'])
    t.equal(parseRouterDateTime(text, today), at, text);
  t.equal(parseRouterDateTime('2026-12-03 00:00:10', today)! - parseRouterDateTime('23:59:50', today)!, 20_000, 'a deadline past midnight');
  t.equal(parseRouterDateTime('20s', today), undefined, 'a duration is not a date');
});

t.test("link layer: a size table on the htb root, and on RouterOS the full-size packet's share of the line", async (t) => {
  const { policy: adsl } = parsePolicy({ ...input, link_layer: { preset: 'adsl-pppoe-llc' } });
  const batch = treeBatch(adsl!, 'up', 'wan0');
  t.equal(batch[0], 'qdisc replace dev wan0 root handle 7e1e: stab linklayer atm overhead 26 mpu 0 htb default 99');
  t.match(desiredTcObjects(adsl!, 'up', 'wan0')[0]!.props, { stab: 'atm/26/0' });
  const read = parseTcState(
    'wan0',
    JSON.stringify([
      { kind: 'htb', handle: '7e1e:', root: true, options: { default: '0x99' }, stab: { linklayer: 'atm', overhead: 26, mtu: 2047, tsize: 512 } },
    ]),
    '',
    '[]',
  );
  t.same(read.objects[0]!.props, desiredTcObjects(adsl!, 'up', 'wan0')[0]!.props, 'the size table reads back as written (tc -d -j)');
  const { policy: vdsl } = parsePolicy({ ...input, link_layer: { preset: 'vdsl-pppoe' } });
  t.match(treeBatch(vdsl!, 'up', 'wan0')[1], /classid 7e1e:1 htb rate 18708kbit /, 'PTM: 19 Mbit/s × 64/65 on the line');
  const queues = new Map(desiredRouterObjects(adsl!, { wan: 'ether1', lan: 'bridge' }, { 4: false, 6: false }).map((o) => [o.key, o.props]));
  t.equal(
    queues.get('queue:up')!['max-limit'],
    String(Math.round((19_000 * 1500) / 1749) * 1000),
    'RouterOS: 19 Mbit/s × 1500/1749 (33 ATM cells for 1500 octets)',
  );
});

t.test("autorate: the root's octets read from tc -s, and a rate change touches only the root and best effort", async (t) => {
  const text =
    'class htb 7e1e:99 parent 7e1e:1 prio 7 rate 15Mbit ceil 19Mbit burst 1597b cburst 1596b \n Sent 77 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) \n\nclass htb 7e1e:1 root rate 19Mbit ceil 19Mbit burst 1596b cburst 1596b \n Sent 123456 bytes 90 pkt (dropped 0, overlimits 0 requeues 0) \n';
  t.equal(rootSentOctets(text), 123456);
  const p = structuredClone(policy!);
  p.autorateMbps = { up: 9.5 };
  t.same(rateChangeBatch(p, 'up', 'wan0'), [
    'class change dev wan0 parent 7e1e: classid 7e1e:1 htb rate 9500kbit ceil 9500kbit quantum 1514',
    'class change dev wan0 parent 7e1e:1 classid 7e1e:99 htb rate 8000kbit ceil 9500kbit prio 7 quantum 1514',
  ]);
});
