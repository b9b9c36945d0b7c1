import t from 'tap';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { generateSigningKey } from '../../src/report/signing.js';
import { Appliance } from '../bridge/fixtures.js';
import { until } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { enrolmentOf, REGIONS } from '../fixtures/national-reports.js';
import { TestCa } from '../fixtures/test-pki.js';

// Three real appliances (`usmp-edge run`) send their telemetry to one real collector over
// HTTPS, with the heartbeat shortened to ~1 s and silence to 6 s. One appliance killed is
// flagged silent by the collector and cleared when it comes back; the collector stopped for a
// while gets every document afterwards, none twice, none missing — judged against each
// appliance's own sequence counter.


interface FleetSite {
  site_key: string;
  silent: boolean;
  version: string | null;
  last_received_at: string | null;
  sequence_gaps: number;
}

function getJson<T>(url: string, ca: string, token: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(new Error(`${res.statusCode}: ${body.slice(0, 200)}: ${(err as Error).message}`));
        }
      });
    }).on('error', reject);
  });
}

t.test('three appliances, one collector: heartbeats, silence, an outage of the collector', async (t) => {
  const dir = t.testdir();
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  const sites = [0, 1, 2].map((i) => ({ index: 400 + i, applianceId: `usmp-live-${i}`, code: `0940${i}00X`, region: REGIONS[(400 + i) % REGIONS.length]!, keyFile: join(dir, `key-${i}.pem`) }));
  const keys = sites.map((s) => generateSigningKey(s.keyFile));
  const silentAfterS = 6;
  // the collector comes back on the same address after its outage
  const intakeListen = `127.0.0.1:${(await freeTcpPorts(1))[0]!}`;
  const fixed = CollectorProcess.configFile(dir, {
    enrolments: sites.map((s, i) => enrolmentOf(keys[i]!, s.applianceId, { establishmentCode: s.code, region: s.region })),
    tls: certificate,
    intakeListen,
    extra: { silent_after_minutes: silentAfterS / 60, intake_requests_per_minute: 100_000 },
  });
  let collector = await CollectorProcess.start(fixed);
  t.teardown(() => collector.stop());
  await collector.addUser('national-team', ['national']);
  const token = await collector.token('national-team');
  const fleet = async () => (await getJson<{ sites: FleetSite[] }>(`${collector.url}/api/v1/fleet`, ca.caPem, token)).sites;

  const appliances = await Promise.all(sites.map((s) => Appliance.create(undefined, [], {
    sections: {
      site: { appliance_id: s.applianceId, establishment_code: s.code, establishment: `Centre pénitentiaire n° ${s.index}`, region: s.region },
      report: { signing_key_file: s.keyFile, collector_url: collector.intakeUrl, collector_ca_file: ca.caFile, outbox_dir: join(dir, `outbox-${s.applianceId}`), retry_min_s: 0.2, retry_max_s: 1 },
      telemetry: { heartbeat_minutes: 1 / 60 },
    },
  })));
  t.teardown(() => Promise.all(appliances.map((a) => a.destroy())));
  await Promise.all(appliances.map((a) => a.start()));

  await until('every appliance on the grid', 20_000, async () => (await fleet()).filter((s) => s.last_received_at !== null).length === 3);
  let grid = await fleet();
  t.same(grid.map((s) => s.site_key).sort(), sites.map((s) => s.code).sort(), 'the three sites');
  t.ok(grid.every((s) => s.version && !s.silent), 'each with its version, none silent');

  // one appliance dies: flagged silent by the collector itself, then cleared when it is back
  await appliances[1]!.signal('SIGKILL');
  const killedAt = Date.now();
  await until('the collector to flag the killed appliance silent', (silentAfterS + 20) * 1000, () => collector.logLines.some((l) => l['event'] === 'collector.appliance_silent' && l['site'] === sites[1]!.code));
  t.ok(Date.now() - killedAt >= silentAfterS * 1000 - 1500, `not before the silent delay (${Date.now() - killedAt} ms)`);
  grid = await fleet();
  t.same(grid.map((s) => [s.site_key, s.silent]).sort(), sites.map((s, i) => [s.code, i === 1]).sort(), 'the grid flags it, and only it');
  t.notOk(collector.logLines.some((l) => l['event'] === 'collector.appliance_silent' && l['site'] !== sites[1]!.code), 'the living ones never flagged');
  await appliances[1]!.start();
  await until('the collector to hear from it again', (silentAfterS + 20) * 1000, () => collector.logLines.some((l) => l['event'] === 'collector.appliance_heard' && l['site'] === sites[1]!.code));
  t.notOk((await fleet()).some((s) => s.silent), 'cleared on the grid');

  // the collector stops for a while: heartbeats queue in the appliances' outboxes
  await collector.stop();
  const outboxOf = (i: number) => join(dir, `outbox-${sites[i]!.applianceId}`);
  await until('heartbeats to queue while the collector is away', 15_000, () => sites.every((_, i) => pendingCount(outboxOf(i)) >= 3));
  collector = await CollectorProcess.start(fixed);
  await until('every outbox to drain', 30_000, () => sites.every((_, i) => pendingCount(outboxOf(i)) === 0));
  // the appliances stop; then every document each one numbered is stored once, or still queued
  await Promise.all(appliances.map((a) => a.signal('SIGTERM')));
  await collector.stop();
  const db = new Database(join(dir, 'reports.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  sites.forEach((s, i) => {
    const numbered = Number(readFileSync(join(outboxOf(i), 'telemetry-sequence'), 'utf8'));
    const queued = pendingCount(outboxOf(i));
    const stored = db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT sequence) AS d, MIN(sequence) AS lo FROM (SELECT sequence FROM heartbeats WHERE site_key = ? UNION ALL SELECT sequence FROM fleet_alerts WHERE site_key = ? UNION ALL SELECT 0 FROM hourly WHERE site_key = ?)').get(s.code, s.code, s.code) as { n: number; d: number; lo: number };
    t.ok(numbered > 5, `${s.applianceId} numbered ${numbered} documents`);
    t.equal(stored.n + queued, numbered, `${s.applianceId}: every document stored (${stored.n}) or still queued (${queued})`);
    t.equal(stored.d, stored.n, `${s.applianceId}: none twice`);
    t.equal(stored.lo, 1, `${s.applianceId}: from the first`);
    t.equal((db.prepare('SELECT sequence_gaps AS g FROM fleet WHERE site_key = ?').get(s.code) as { g: number }).g, 0, `${s.applianceId}: no gap`);
  });
});

function pendingCount(outbox: string): number {
  try {
    return readdirSync(join(outbox, 'pending')).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
}
