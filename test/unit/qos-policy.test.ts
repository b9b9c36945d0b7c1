import t from 'tap';
import { readFileSync } from 'node:fs';
import { cidrContains, parseCidr, parsePortRange } from '../../src/qos/addresses.js';
import { classify } from '../../src/qos/classify.js';
import { diffObjects, formatDiff } from '../../src/qos/objects.js';
import { bestEffortMbps, parsePolicy, type PolicyInput } from '../../src/qos/policy.js';
import { loadConfig } from '../../src/config/load.js';
import { LINK_LAYER_PRESETS, NO_LINK_LAYER, ptmRateFactor, stabArgs, wireBytes } from '../../src/qos/link-layer.js';

// The policy model's validation: every problem named with its key path.

const video = {
  name: 'video',
  dscp: 'AF41',
  priority: 2,
  rate_mbps: 4,
  ceil_mbps: 19,
  match: { local: ['198.18.1.10/32'], remote: ['198.19.0.0/16'], protocol: 'udp' },
};
const input = (over: Partial<PolicyInput> = {}): PolicyInput => ({ up_mbps: 20, down_mbps: 20, shape_percent: 95, classes: [video], ...over });

t.test('a good policy', async (t) => {
  const { policy, problems } = parsePolicy(input());
  t.same(problems, []);
  t.equal(policy?.classes[0]?.dscp, 34, 'AF41 is 34 [RFC 2597]');
  t.equal(bestEffortMbps(policy!, 'up'), 15, 'best effort gets the rest of 19 Mbit/s');
});

t.test('the example policy shipped in config/ is valid', async (t) => {
  const example = JSON.parse(readFileSync(new URL('../../config/qos-policy.example.json', import.meta.url), 'utf8')) as { qos: PolicyInput };
  t.same(parsePolicy(example.qos).problems, []);
});

t.test('each mistake is reported at its path', async (t) => {
  const cases: Array<[string, Partial<PolicyInput>, RegExp]> = [
    ['no classes', { classes: [] }, /qos\.classes: must list at least one class/],
    ['rates over the link', { classes: [{ ...video, rate_mbps: 19 }] }, /qos\.classes: committed rates add up to 19 Mbit\/s but the up link is shaped at 19/],
    ['ceiling over the link', { classes: [{ ...video, ceil_mbps: 25 }] }, /qos\.classes\[0\]\.ceil_mbps: 25 Mbit\/s is above the shaped up rate 19/],
    ['ceiling under the rate', { classes: [{ ...video, ceil_mbps: 2 }] }, /qos\.classes\[0\]\.ceil_mbps: 2 is below rate_mbps 4/],
    ['unknown DSCP', { classes: [{ ...video, dscp: 'AF99' }] }, /qos\.classes\[0\]\.dscp: must be a DSCP name/],
    [
      'bad prefix',
      { classes: [{ ...video, match: { ...video.match, remote: ['198.19.0.0/33'] } }] },
      /qos\.classes\[0\]\.match\.remote\[0\]: "198\.19\.0\.0\/33" is not an address or prefix/,
    ],
    ['bad port', { classes: [{ ...video, match: { ...video.match, remote_ports: ['70000'] } }] }, /remote_ports\[0\]: "70000" is not a port/],
    ['matches everything', { classes: [{ ...video, match: { protocol: 'udp' } }] }, /matches every packet/],
    ['mixed families', { classes: [{ ...video, match: { local: ['198.18.1.10'], remote: ['2001:db8::/32'] } }] }, /mixes IPv4 and IPv6/],
    ['unknown field', { classes: [{ ...video, burst: 3 }] }, /qos\.classes\[0\]\.burst: is not a class field/],
    [
      'overlap',
      { classes: [video, { ...video, name: 'voice', dscp: 'EF', match: { local: ['198.18.1.0/24'], remote: ['198.19.1.10'], protocol: 'any' } }] },
      /qos\.classes\[1\]\.match: overlaps class video: both would take udp traffic 198\.18\.1\.10\/32 ↔ 198\.19\.1\.10\/32/,
    ],
    ['shared DSCP', { classes: [video, { ...video, name: 'other', match: { remote: ['203.0.113.0/24'] } }] }, /DSCP 34 is already the mark of class video/],
    ['duplicate name', { classes: [video, { ...video, dscp: 'EF', match: { remote: ['203.0.113.0/24'] } }] }, /"video" is already used/],
    ['bad shape', { shape_percent: 30 }, /qos\.shape_percent: must be between 50 and 100/],
  ];
  for (const [what, over, expected] of cases) {
    const { policy, problems } = parsePolicy(input(over));
    t.equal(policy, undefined, `${what}: refused`);
    t.match(problems.map((p) => `${p.path}: ${p.message}`).join('\n'), expected, what);
  }
});

t.test('disjoint matchers do not overlap', async (t) => {
  const tcpDevices = { ...video, name: 'devices', dscp: 'AF21', match: { local: ['198.18.1.10/32'], remote: ['198.19.0.0/16'], protocol: 'tcp' } };
  const otherPorts = { ...video, name: 'voice', dscp: 'EF', match: { ...video.match, remote_ports: ['5004'] } };
  const videoPorts = { ...video, match: { ...video.match, remote_ports: ['5006-5100'] } };
  t.same(parsePolicy(input({ classes: [video, tcpDevices] })).problems, [], 'udp and tcp');
  t.same(parsePolicy(input({ classes: [videoPorts, otherPorts] })).problems, [], 'disjoint port ranges');
});

t.test('the configuration loader reports policy problems with the others', async (t) => {
  const readText = (): string => JSON.stringify({ qos: { up_mbps: 20, down_mbps: 20, classes: [{ ...video, rate_mbps: 19 }] } });
  t.throws(() => loadConfig({ file: '/x.json', readText }), {
    code: 'USMP_E_CONFIG_INVALID',
    details: {
      problems: [
        { path: 'qos.classes', message: /up link/ },
        { path: 'qos.classes', message: /down link/ },
      ],
    },
  });
});

t.test('addresses, ports and classification', async (t) => {
  t.equal(parseCidr('198.18.1.77/24')?.text, '198.18.1.0/24', 'host bits cleared');
  t.ok(cidrContains(parseCidr('2001:db8::/32')!, '2001:db8:1::5'), 'IPv6 containment');
  t.notOk(cidrContains(parseCidr('198.18.0.0/16')!, '198.19.0.1'));
  t.same(parsePortRange('5004-5005'), { first: 5004, last: 5005 });
  t.equal(parsePortRange('9-1'), undefined, 'reversed range');
  const { policy } = parsePolicy(input());
  t.equal(classify(policy!, { direction: 'up', local: '198.18.1.10', remote: '198.19.1.10', protocol: 'udp', remotePort: 862 }), 'video');
  t.equal(classify(policy!, { direction: 'up', local: '198.18.1.11', remote: '198.19.1.10', protocol: 'udp', remotePort: 862 }), 'best-effort');
});

t.test('the diff compares only what we set, and says it plainly', async (t) => {
  const diff = diffObjects(
    [
      { key: 'a', props: { rate: '1' } },
      { key: 'b', props: { x: '1' } },
    ],
    [
      { key: 'a', props: { rate: '2', priority: '8' } },
      { key: 'c', props: {} },
    ],
  );
  t.same(formatDiff(diff), ['+ b x=1', '~ a rate: 2 → 1', '- c '], 'a read-back default (priority) is not a change');
  t.same(formatDiff(diffObjects([], [])), ['no change: the policy in force is the configured one']);
});

t.test('link layer: presets, custom figures, and each bad setting refused at its key path', async (t) => {
  const ll = (link_layer: PolicyInput['link_layer']): ReturnType<typeof parsePolicy> => parsePolicy(input({ link_layer }));
  t.same(ll({ preset: 'adsl-pppoe-llc' }).policy?.linkLayer, { preset: 'adsl-pppoe-llc', type: 'atm', overhead: 40, mpu: 0 });
  t.same(ll({ preset: 'custom', type: 'ptm', overhead: 30, mpu: 0 }).policy?.linkLayer, { preset: 'custom', type: 'ptm', overhead: 30, mpu: 0 });
  t.same(ll(undefined).policy?.linkLayer.type, 'none', 'absent: IP octets, as before');
  const cases: Array<[string, PolicyInput['link_layer'], RegExp]> = [
    ['unknown preset', { preset: 'fibre' }, /qos\.link_layer\.preset: "fibre" is not a link layer \(one of none, ethernet/],
    ['overhead out of range', { preset: 'custom', type: 'atm', overhead: 300 }, /qos\.link_layer\.overhead: must be a whole number of octets from -64 to 256/],
    ['negative mpu', { preset: 'custom', type: 'ethernet', overhead: 38, mpu: -1 }, /qos\.link_layer\.mpu: must be a whole number of octets from 0 to 256/],
    ['custom without a type', { preset: 'custom', overhead: 40 }, /qos\.link_layer\.type: must be ethernet, ptm or atm with preset custom/],
    [
      'a preset with its own overhead',
      { preset: 'ethernet', overhead: 20 },
      /qos\.link_layer\.overhead: is given by the preset ethernet; choose preset custom to set it/,
    ],
  ];
  for (const [what, link, expected] of cases) {
    const { policy, problems } = ll(link);
    t.notOk(policy, `${what}: no policy`);
    t.match(problems.map((p) => `${p.path}: ${p.message}`).join('\n'), expected, what);
  }
});

t.test('link layer: what a packet costs on the line (the ADSL example: 200 → 265, 40 → 106 octets)', async (t) => {
  const adsl = { preset: 'adsl-pppoe-llc', ...LINK_LAYER_PRESETS['adsl-pppoe-llc']! };
  t.same([wireBytes(adsl, 200), wireBytes(adsl, 40), wireBytes(adsl, 1500)], [265, 106, 1749], 'five, two and thirty-three 53-octet cells');
  const eth = { preset: 'ethernet', ...LINK_LAYER_PRESETS.ethernet! };
  t.same([wireBytes(eth, 40), wireBytes(eth, 1500)], [84, 1538], 'a TCP ACK takes the 84-octet minimum; a full frame 1538');
  const vdsl = { preset: 'vdsl-pppoe', ...LINK_LAYER_PRESETS['vdsl-pppoe']! };
  t.equal(wireBytes(vdsl, 1470), (1500 * 65) / 64, 'PTM: 64b/65b on top of the overhead');
  t.same(
    stabArgs(adsl),
    ['stab', 'linklayer', 'atm', 'overhead', '26', 'mpu', '0'],
    'the size table counts from the MAC header the kernel already counts: 40 − 14',
  );
  t.same(stabArgs(NO_LINK_LAYER), [], 'none: no size table');
  t.equal(ptmRateFactor(vdsl), 64 / 65);
});
