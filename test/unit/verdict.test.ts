import t from 'tap';
import { classifyMarks } from '../../src/qualify/dscp-check.js';
import { findProfile, loadProfiles, parseProfile } from '../../src/qualify/profiles.js';
import { globalVerdict, judge, type VerdictLine } from '../../src/qualify/verdict.js';

t.test('margins and marginal verdicts', async (t) => {
  const min = { min: 4, source: 's' };
  const max = { max: 100, source: 's' };
  t.match(judge('up_mbps', { value: 5, uncertainty: 0.1 }, min), { verdict: 'pass', margin: 1, limit: '≥ 4' });
  t.match(judge('up_mbps', { value: 4.05, uncertainty: 0.1 }, min), { verdict: 'pass*' });
  t.match(judge('up_mbps', { value: 3.95, uncertainty: 0.1 }, min), { verdict: 'fail*' });
  t.match(judge('up_mbps', { value: 3, uncertainty: 0.1 }, min), { verdict: 'fail', margin: -1 });
  t.match(judge('rtt_ms', { value: 120, uncertainty: 0.3 }, max), { verdict: 'fail', margin: -20, limit: '≤ 100' });
  t.match(judge('rtt_ms', undefined, max), { verdict: 'fail', value: null }, 'not measured is not a pass');
});

t.test('global verdict: the worst line wins; info lines never decide', async (t) => {
  const l = (verdict: VerdictLine['verdict']): VerdictLine => ({
    metric: 'm',
    value: 1,
    limit: null,
    margin: null,
    uncertainty: null,
    verdict,
    source: '',
    unit: '',
  });
  t.equal(globalVerdict([l('pass'), l('info')]), 'pass');
  t.equal(globalVerdict([l('pass'), l('pass*')]), 'pass*');
  t.equal(globalVerdict([l('pass*'), l('fail*')]), 'fail*');
  t.equal(globalVerdict([l('fail*'), l('fail'), l('pass')]), 'fail');
});

t.test('built-in profiles load, each limit has a source', async (t) => {
  const profiles = loadProfiles();
  t.same([...profiles.keys()].sort(), ['connected-devices', 'tele-expertise-imaging', 'teleconsultation-hd']);
  for (const p of profiles.values()) for (const [k, v] of Object.entries(p.limits)) t.ok(v?.source, `${p.name}.${k}`);
  t.throws(() => findProfile(profiles, 'nope'), { code: 'USMP_E_PROFILE_UNKNOWN', hint: /teleconsultation-hd/ });
});

t.test('a bad site profile is refused with the reason', async (t) => {
  const bad = (o: unknown) => () => parseProfile(JSON.stringify(o), 'x.json');
  t.throws(() => parseProfile('{', 'x.json'), { code: 'USMP_E_CONFIG_INVALID', message: /not JSON/ });
  t.throws(bad({ name: 'Bad Name', title: { fr: 'a', en: 'b' }, limits: {} }), /name/);
  t.throws(bad({ name: 'p', title: { fr: 'a', en: 'b' }, limits: { speed: { min: 1, source: 's' } } }), /unknown limit "speed"/);
  t.throws(bad({ name: 'p', title: { fr: 'a', en: 'b' }, limits: { rtt_ms: { max: 1 } } }), /source/);
  t.throws(bad({ name: 'p', title: { fr: 'a', en: 'b' }, limits: { rtt_ms: { max: 1, min: 0, source: 's' } } }), /exactly one/);
});

t.test('DSCP outcome per direction', async (t) => {
  t.match(classifyMarks(46, [46, 46, undefined]), { status: 'preserved', sent: 'EF', received: 'EF' });
  t.match(classifyMarks(46, [0, 0]), { status: 'bleached', received: 'CS0' });
  t.match(classifyMarks(34, [36, 36]), { status: 'remarked', received: 'AF42' });
  t.match(classifyMarks(46, [46, 0, 46]), { status: 'remarked' }, 'a mix is not "preserved"');
  t.match(classifyMarks(46, [undefined]), { status: 'not-verified' });
});

t.test('a site profile directory adds to the built-in profiles', async (t) => {
  const dir = t.testdir({
    'site.json': JSON.stringify({
      name: 'site-dermatology',
      title: { fr: 'Dermatologie', en: 'Dermatology' },
      limits: { up_mbps: { min: 6, source: 'site decision' } },
    }),
  });
  const profiles = loadProfiles([dir, '/nonexistent/dir']);
  t.equal(findProfile(profiles, 'site-dermatology').limits.up_mbps?.min, 6);
  t.ok(profiles.has('teleconsultation-hd'));
});
