import t from 'tap';
import { join } from 'node:path';
import { pino } from 'pino';
import { verifySignedText } from '../../src/report/verify-report.js';
import { ReportOutbox } from '../../src/report/upload/report-outbox.js';
import { EnrolledKeys } from '../../src/report/enrolled-keys.js';
import { findProfile, loadProfiles } from '../../src/qualify/profiles.js';
import { hourOf, HourlySummary } from '../../src/telemetry/hourly-summary.js';
import { TELEMETRY_RULES } from '../../src/telemetry/telemetry-document.js';
import { TelemetrySender } from '../../src/telemetry/telemetry-sender.js';
import type { MonitorSnapshot } from '../../src/monitor/link-monitor.js';
import type { ProbeWindow } from '../../src/monitor/link-rules.js';
import { enrolmentOf, siteFixture } from '../fixtures/national-reports.js';
import { telemetrySite } from '../fixtures/telemetry-documents.js';

// The hour's summary from made-up windows whose figures are known, and the sender's signed,
// numbered documents checked by the collector's own verifier.

const HOUR = Date.parse('2026-12-01T10:00:00Z');
const profile = findProfile(loadProfiles(), 'teleconsultation-hd');

function window(startMs: number, o: Partial<ProbeWindow> = {}): ProbeWindow {
  return {
    startedAt: startMs,
    endedAt: startMs + 5000,
    sent: 60,
    received: 60,
    rttMedianMs: 10,
    ipdvMeanMs: 1,
    lossUpPct: 0,
    lossDownPct: 0,
    lossCounts: { up: { lost: 0, of: 60 }, down: { lost: 0, of: 60 } },
    ...o,
  };
}

const ok: Pick<MonitorSnapshot, 'state' | 'metrics'> = { state: 'ok', metrics: { rtt_ms: { state: 'ok', since: '', value: 10, limit: 150, unit: 'ms' } } };
const degradedRtt: Pick<MonitorSnapshot, 'state' | 'metrics'> = {
  state: 'degraded',
  metrics: { rtt_ms: { state: 'degraded', since: '', value: 200, limit: 150, unit: 'ms' } },
};
const down: Pick<MonitorSnapshot, 'state' | 'metrics'> = {
  state: 'down',
  metrics: { reachability: { state: 'down', since: '', value: 0, limit: 1, unit: '' } },
};

t.test('an hour summed from its windows', async (t) => {
  const hour = new HourlySummary(HOUR, profile);
  // 720 windows of 5 s: 600 calm at 10 ms, 60 degraded at 200 ms, 60 down (no reply)
  for (let i = 0; i < 720; i++) {
    const start = HOUR + i * 5000;
    if (i < 600) hour.addWindow(window(start, { rttMedianMs: 10 + (i % 10) }), ok);
    else if (i < 660) hour.addWindow(window(start, { rttMedianMs: 200, lossCounts: { up: { lost: 6, of: 60 }, down: { lost: 0, of: 60 } } }), degradedRtt);
    else
      hour.addWindow(
        window(start, { rttMedianMs: undefined, ipdvMeanMs: undefined, received: 0, lossCounts: { up: { lost: 60, of: 60 }, down: { lost: 0, of: 0 } } }),
        down,
      );
  }
  hour.addWindow(window(HOUR + 3_600_000), ok); // the next hour's: not counted here
  hour.addThroughput('up', 19.456, HOUR + 1000);
  hour.addAlert('raised');
  hour.addAlert('changed');
  hour.addAlert('cleared');
  const body = hour.body();
  t.equal(body.minutes_observed, 60);
  t.equal(body.degraded_minutes.overall, 10, '5 min degraded + 5 min down');
  t.equal(body.degraded_minutes.rtt_ms, 5);
  t.equal(body.degraded_minutes.reachability, 5);
  t.equal(body.availability_pct, Math.round(((100 * 55) / 60) * 1000) / 1000, 'down 5 of 60 minutes');
  t.equal(body.rtt_ms!.median, 15, "median of the windows' medians (660 with a reply: the 330th and 331st are 15 ms)");
  t.equal(body.rtt_ms!.p95, 200, 'p95 catches the degraded twelfth');
  t.equal(body.loss_pct.up, Math.round(((100 * (60 * 6 + 60 * 60)) / (720 * 60)) * 10000) / 10000, 'loss counted in probes, not averaged over windows');
  t.equal(body.loss_pct.down, 0);
  t.same(body.alerts, { raised: 1, cleared: 1 });
  t.same(body.throughput, [{ at: new Date(HOUR + 1000).toISOString(), direction: 'up', mbps: 19.46 }]);
  t.equal(body.limits.rtt_ms, profile.limits.rtt_ms?.max ?? null, "the profile's limits travel with the figures");
  t.equal(hourOf(HOUR + 3_599_999), HOUR);
  const empty = new HourlySummary(HOUR, profile).body();
  t.same(
    [empty.minutes_observed, empty.rtt_ms, empty.availability_pct, empty.loss_pct],
    [0, null, null, { up: null, down: null }],
    'an hour without windows says so',
  );
});

t.test('the sender numbers, signs and queues; its numbering survives a restart', async (t) => {
  const dir = t.testdir();
  const site = siteFixture(600);
  const outbox = new ReportOutbox(join(dir, 'outbox'));
  let nudged = 0;
  const make = () =>
    new TelemetrySender({ outbox, key: site.key, site: telemetrySite(site), queued: () => nudged++, log: pino({ level: 'silent' }), now: () => HOUR + 60_000 });
  const sender = make();
  const hour = new HourlySummary(HOUR - 3_600_000, profile);
  sender.send('hourly_summary', HOUR, { summary: hour.body() });
  sender.send('alert', HOUR + 1000, {
    alert: {
      id: '11111111-1111-4111-8111-111111111111',
      kind: 'raised',
      metric: 'rtt_ms',
      state: 'degraded',
      previous: 'ok',
      since: new Date(HOUR + 1000).toISOString(),
      previous_duration_s: 10,
      measured: 180,
      limit: 150,
      unit: 'ms',
      profile: profile.name,
      message: 'RTT',
    },
  });
  const again = make();
  again.send('heartbeat', HOUR + 2000, {
    heartbeat: {
      interval_s: 300,
      uptime_s: 1,
      link: { state: 'unknown', since: null, rtt_ms: null, loss_up_pct: null, loss_down_pct: null },
      outbox: { depth: 0, oldest_age_s: null },
      report_outbox_depth: 2,
      devices_connected: null,
      hospital_connected: null,
      disk_free_mib: 10,
      clock_synchronised: null,
    },
  });
  t.equal(nudged, 3, 'the uploader is told each time');
  const keys = new EnrolledKeys([enrolmentOf(site.key, site.applianceId, { establishmentCode: site.code, region: telemetrySite(site).region })]);
  const documents = outbox.pending().map((p) => verifySignedText(p.text, TELEMETRY_RULES, { keys, now: new Date(HOUR + 120_000) }));
  t.same(
    documents.map((d) => (d.ok ? (d.report as { sequence: number }).sequence : d.reason)),
    [1, 2, 3],
    'each valid for the collector, numbered 1, 2, 3 across the restart',
  );
});
