import t from 'tap';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateSigningKey } from '../../src/report/signing.js';
import { Appliance } from '../bridge/fixtures.js';
import { until } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { enrolmentOf, REGIONS } from '../fixtures/national-reports.js';
import { TestCa } from '../fixtures/test-pki.js';
import { startResponder } from '../lab/cli-in-lab.js';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';

// Three real appliances (`usmp-edge run`) and one real collector, in a lab: the collector and
// the responder at the hospital (198.19.1.10), appliance A in the appliance's namespace
// monitoring the link, B and C on the unit's LAN; every document crosses the lab's WAN over
// HTTPS. Heartbeats are shortened to 2 s and silence to 6 s. A fault on the link shows on the
// grid by A's next heartbeat; B killed is flagged silent by the collector and cleared when it
// returns; the collector stopped for a while gets every document afterwards, none twice —
// judged against each appliance's own sequence counter and outbox.

const unavailable = labUnavailableReason();
const HEARTBEAT_S = 2;
const SILENT_AFTER_S = 6;

interface FleetSite {
  site_key: string;
  silent: boolean;
  version: string | null;
  link_state: string | null;
  last_received_at: string | null;
}

function pendingCount(outbox: string): number {
  try {
    return readdirSync(join(outbox, 'pending')).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
}

t.test(
  'three appliances, one collector across the lab: a link fault, a silent appliance, an outage of the collector',
  unavailable ? { skip: unavailable } : {},
  async (t) => {
    const dir = t.testdir();
    const lab = await Lab.create();
    t.teardown(() => lab.destroy());
    const { credentialsFile } = await startResponder(lab);
    const ca = new TestCa('usmp test national CA');
    t.teardown(() => ca.cleanup());
    const certificate = ca.issue(ADDRESSES.hospital, `IP:${ADDRESSES.hospital},IP:127.0.0.1`);
    chmodSync(certificate.keyFile, 0o600);
    const sites = ['A', 'B', 'C'].map((name, i) => ({
      name,
      applianceId: `usmp-live-${name}`,
      code: `0940${i}00X`,
      region: REGIONS[i]!,
      keyFile: join(dir, `key-${name}.pem`),
      outbox: join(dir, `outbox-${name}`),
    }));
    const keys = sites.map((s) => generateSigningKey(s.keyFile));
    const configFile = CollectorProcess.configFile(dir, {
      enrolments: sites.map((s, i) => enrolmentOf(keys[i]!, s.applianceId, { establishmentCode: s.code, region: s.region })),
      tls: certificate,
      // the people's door on the hospital's loopback: the test reads it from there
      listen: '127.0.0.1:0',
      intakeListen: `${ADDRESSES.hospital}:8444`,
      extra: { silent_after_minutes: SILENT_AFTER_S / 60, intake_requests_per_minute: 100_000 },
    });
    const inHospital = (argv: string[]) => ['ip', 'netns', 'exec', lab.ns('hospital'), ...argv];
    const startCollector = () => CollectorProcess.start(configFile, process.env, { wrap: inHospital });
    let collector = await startCollector();
    t.teardown(() => collector.stop());
    await collector.addUser('national-team', ['national']);
    const token = await collector.token('national-team');
    const intakeUrl = `https://${ADDRESSES.hospital}:8444`;
    const fleet = async (): Promise<FleetSite[]> => {
      const script = `require('node:https').get(process.argv[1], { ca: require('node:fs').readFileSync(process.argv[2]), headers: { authorization: 'Bearer ' + process.argv[3] } }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); }).on('error', (e) => { console.error(e.message); process.exit(1); })`;
      const answer = await lab.exec('hospital', [process.execPath, '-e', script, `${collector.url}/api/v1/fleet`, ca.caFile, token], { timeoutMs: 15_000 });
      return (JSON.parse(answer.stdout) as { sites: FleetSite[] }).sites;
    };
    const siteOf = async (s: (typeof sites)[number]) => (await fleet()).find((r) => r.site_key === s.code);

    const appliances = await Promise.all(
      sites.map((s) =>
        Appliance.create(undefined, [], {
          sections: {
            site: { appliance_id: s.applianceId, establishment_code: s.code, establishment: `Centre pénitentiaire ${s.name}`, region: s.region },
            report: {
              signing_key_file: s.keyFile,
              collector_url: intakeUrl,
              collector_ca_file: ca.caFile,
              outbox_dir: s.outbox,
              retry_min_s: 0.2,
              retry_max_s: 1,
            },
            telemetry: { heartbeat_minutes: HEARTBEAT_S / 60 },
            ...(s.name === 'A'
              ? {
                  monitor: { target: ADDRESSES.hospital, profile: 'teleconsultation-hd', throughput: { interval_min: 0 } },
                  qualify: { profiles_dir: '/nonexistent', responder_credentials_file: credentialsFile },
                }
              : {}),
          },
        }),
      ),
    );
    t.teardown(() => Promise.all(appliances.map((a) => a.destroy())));
    const where = (s: (typeof sites)[number]) => (argv: string[]) => ['ip', 'netns', 'exec', lab.ns(s.name === 'A' ? 'appliance' : 'usmp'), ...argv];
    await Promise.all(appliances.map((a, i) => a.start(where(sites[i]!))));

    await until(
      "A's link judged OK on the grid, and B and C heard from",
      40_000,
      async () => {
        const grid = await fleet();
        return grid.length === 3 && grid.every((r) => r.last_received_at !== null) && grid.find((r) => r.site_key === sites[0]!.code)?.link_state === 'ok';
      },
      { everyMs: 1000 },
    );
    const grid = await fleet();
    t.same(
      grid.map((r) => [r.site_key, r.link_state]).sort(),
      [
        [sites[0]!.code, 'ok'],
        [sites[1]!.code, 'unknown'],
        [sites[2]!.code, 'unknown'],
      ],
      'A monitors its link; B and C do not',
    );

    // a fault on the link: +150 ms each way, past the profile's 100 ms RTT
    await lab.setLinks({ up: { delayMs: 150 }, down: { delayMs: 150 } });
    const alerts = () => appliances[0]!.events('alert.raised').map((l) => l['alert'] as { metric: string; since: string });
    await until('A to raise its RTT alert', 45_000, () => alerts().some((a) => a.metric === 'rtt_ms'), { everyMs: 250 });
    const raisedAt = Date.now();
    const degradedSince = alerts().find((a) => a.metric === 'rtt_ms')!.since;
    await until('the grid to show A degraded', (HEARTBEAT_S + 15) * 1000, async () => (await siteOf(sites[0]!))?.link_state === 'degraded', { everyMs: 250 });
    t.comment(
      `the fault on the grid ${((Date.now() - raisedAt) / 1000).toFixed(1)} s after the alert (a heartbeat every ${HEARTBEAT_S} s, +300 ms RTT on the way)`,
    );
    t.same(
      (await fleet()).filter((r) => r.link_state === 'degraded').map((r) => r.site_key),
      [sites[0]!.code],
      'only A',
    );
    await lab.setLinks({ up: {}, down: {} });

    // B dies: flagged silent by the collector itself, then cleared when it is back
    await appliances[1]!.signal('SIGKILL');
    const killedAt = Date.now();
    await until('the collector to flag B silent', (SILENT_AFTER_S + 20) * 1000, () =>
      collector.logLines.some((l) => l['event'] === 'collector.appliance_silent' && l['site'] === sites[1]!.code),
    );
    t.ok(Date.now() - killedAt >= SILENT_AFTER_S * 1000 - HEARTBEAT_S * 1000, `not before the silent delay (${Date.now() - killedAt} ms)`);
    t.same((await fleet()).map((r) => [r.site_key, r.silent]).sort(), sites.map((s) => [s.code, s.name === 'B']).sort(), 'the grid flags B, and only B');
    t.notOk(
      collector.logLines.some((l) => l['event'] === 'collector.appliance_silent' && l['site'] !== sites[1]!.code),
      'A and C never flagged',
    );
    await appliances[1]!.start(where(sites[1]!));
    await until('the collector to hear from B again', (SILENT_AFTER_S + 20) * 1000, () =>
      collector.logLines.some((l) => l['event'] === 'collector.appliance_heard' && l['site'] === sites[1]!.code),
    );
    t.notOk(
      (await fleet()).some((r) => r.silent),
      'cleared on the grid',
    );

    // the collector stops for a while: documents queue in the appliances' outboxes
    await collector.stop();
    await until('documents to queue while the collector is away', 20_000, () => sites.every((s) => pendingCount(s.outbox) >= 2));
    collector = await startCollector();
    await until('every outbox to drain', 40_000, () => sites.every((s) => pendingCount(s.outbox) === 0));
    await Promise.all(appliances.map((a) => a.signal('SIGTERM')));
    await collector.stop();
    const db = new Database(join(dir, 'reports.sqlite'), { readonly: true });
    t.teardown(() => db.close());
    for (const s of sites) {
      const numbered = Number(readFileSync(join(s.outbox, 'telemetry-sequence'), 'utf8'));
      const queued = pendingCount(s.outbox);
      const stored = db
        .prepare(
          'SELECT COUNT(*) AS n, COUNT(DISTINCT sequence) AS d, MIN(sequence) AS lo FROM (SELECT sequence FROM heartbeats WHERE site_key = ? UNION ALL SELECT sequence FROM fleet_alerts WHERE site_key = ? UNION ALL SELECT 0 FROM hourly WHERE site_key = ?)',
        )
        .get(s.code, s.code, s.code) as { n: number; d: number; lo: number };
      t.ok(numbered > 5, `${s.applianceId} numbered ${numbered} documents`);
      t.equal(stored.n + queued, numbered, `${s.applianceId}: every document stored (${stored.n}) or still queued (${queued})`);
      t.equal(stored.d, stored.n, `${s.applianceId}: none twice`);
      t.equal(stored.lo, 1, `${s.applianceId}: from the first`);
      t.equal((db.prepare('SELECT sequence_gaps AS g FROM fleet WHERE site_key = ?').get(s.code) as { g: number }).g, 0, `${s.applianceId}: no gap`);
    }
    // by the next heartbeat: the first one A measured after its RTT went degraded says so
    const next = db.prepare('SELECT link_state, at FROM heartbeats WHERE site_key = ? AND at >= ? ORDER BY at LIMIT 1').get(sites[0]!.code, degradedSince) as {
      link_state: string;
      at: string;
    };
    t.equal(
      next.link_state,
      'degraded',
      `A's first heartbeat after the fault (${((Date.parse(next.at) - Date.parse(degradedSince)) / 1000).toFixed(1)} s after it) carries it`,
    );
    const sentAlerts = ['alert.raised', 'alert.changed', 'alert.cleared'].reduce((n, e) => n + appliances[0]!.events(e).length, 0);
    const storedAlerts = (db.prepare('SELECT COUNT(*) AS n FROM fleet_alerts WHERE site_key = ?').get(sites[0]!.code) as { n: number }).n;
    t.ok(sentAlerts >= 1, `A raised ${sentAlerts} alert(s)`);
    t.equal(storedAlerts, sentAlerts, 'every alert A logged reached the collector');
  },
);
