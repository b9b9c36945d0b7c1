import t from 'tap';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { SystemdNotifier } from '../../src/daemon/sd-notify.js';
import { parseClockRates } from '../../src/monitor/rtp/rtp-streams.js';
import { nagiosLine } from '../../src/cli/commands/check.js';
import type { HealthReport } from '../../src/daemon/health.js';

// systemd's side of Type=notify, played by a datagram socket of our own: READY=1, STATUS=…,
// and WATCHDOG=1 at half of WATCHDOG_USEC [sd_notify(3)]. Also the Nagios line's format.

interface DgramServer {
  bind(path: string): void;
  close(): void;
  on(e: 'message', l: (m: Buffer) => void): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram', onMessage?: (m: Buffer) => void): DgramServer };
const log = pino({ level: 'silent' });

t.test('READY, STATUS and the watchdog reach $NOTIFY_SOCKET', async (t) => {
  // a short directory: a unix socket path holds at most 107 octets, and tap's test directory
  // under a long clone path does not fit
  const dir = mkdtempSync(join(tmpdir(), 'usmp-sd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notify.sock');
  const received: string[] = [];
  const server = unixDgram.createSocket('unix_dgram', (m) => received.push(m.toString()));
  server.bind(path);
  t.teardown(() => server.close());
  const notifier = new SystemdNotifier(log, { NOTIFY_SOCKET: path, WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) });
  t.ok(notifier.active);
  notifier.send('READY=1\nSTATUS=ok');
  await new Promise((r) => setTimeout(r, 1200));
  notifier.close();
  t.equal(received[0], 'READY=1\nSTATUS=ok');
  t.ok(received.filter((m) => m === 'WATCHDOG=1').length >= 2, `watchdog fed every 0.5 s (${received.length - 1} times in 1.2 s)`);
});

t.test('no NOTIFY_SOCKET: nothing is sent; a watchdog meant for another pid is not fed', async (t) => {
  t.notOk(new SystemdNotifier(log, {}).active);
  const other = new SystemdNotifier(log, { NOTIFY_SOCKET: '/nonexistent/sock', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' });
  other.send('READY=1'); // an unreachable socket is logged, not thrown
  other.close();
});

t.test('clock rates of dynamic payload types; a bad one names where it came from', async (t) => {
  t.same(parseClockRates(['96=90000', '111=48000']), { 96: 90000, 111: 48000 });
  t.throws(() => parseClockRates(['96:90000'], 'capture.clock_rates'), { code: 'USMP_E_USAGE', message: /capture\.clock_rates 96:90000/ });
  t.throws(() => parseClockRates(['200=8000']), { message: /payload type 0\.\.127/ });
});

t.test('the Nagios line: status word, reasons, perfdata with limits', async (t) => {
  const report = {
    status: 'degraded',
    reasons: ['link degraded: rtt_ms 45 ms (limit 25)'],
    parts: {},
    link: {
      state: 'degraded',
      metrics: { rtt_ms: { state: 'degraded', value: 45, limit: 25, unit: 'ms', since: '' } },
      last_window: { rttMedianMs: 45, ipdvMeanMs: 0.3, lossUpPct: 0, lossDownPct: 0.555 },
      throughput_mbps: { up: 19.1 },
    },
    bridge: { outbox_depth: 3, outbox_capacity: 100, outbox_oldest_age_s: 2, devices_connected: 1 },
  } as unknown as HealthReport;
  t.same(nagiosLine(report), {
    code: 1,
    line: 'USMP-EDGE WARNING - link degraded: rtt_ms 45 ms (limit 25) | rtt=45ms;25;;0; ipdv=0.3ms;;;0; loss_up=0%;;;0;100 loss_down=0.56%;;;0;100 up_mbps=19.1;;;0; outbox=3;;;0;100 outbox_oldest=2s;;;0; devices=1;;;0;',
  });
  t.equal(nagiosLine({ ...report, status: 'ok', link: { ...report.link!, state: 'down' } }).code, 2, 'a link down is CRITICAL');
  t.equal(nagiosLine({ ...report, status: 'failed' }).code, 2);
});
