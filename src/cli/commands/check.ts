import { UsmpError } from '../../errors.js';
import type { Command } from 'commander';
import type { HealthReport } from '../../daemon/health.js';
import type { CliContext } from '../context.js';

// usmp-edge check: a Nagios/Centreon plugin [Nagios Plugin Development Guidelines: exit 0 OK,
// 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line, then "|" and perfdata
// 'label'=value[UOM];[warn];[crit];[min];[max]]. It reads the daemon's /health.

export const NAGIOS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;

export function registerCheckCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const check = program
    .command('check')
    .description('Nagios/Centreon plugin: reads /health of the running daemon; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, with perfdata')
    .option('--url <url>', 'health URL (default: http://<metrics.listen>/health)')
    .option('--timeout-s <s>', 'give up after this long (UNKNOWN)', '10');
  check.action(async () => {
    const ctx = context();
    const opts = check.opts<{ url?: string; timeoutS: string }>();
    let url = opts.url;
    try {
      if (!url) {
        const listen = ctx.config().values.metrics.listen;
        if (!listen) throw new UsmpError('USMP_E_HEALTH_UNREACHABLE', 'metrics.listen is empty: the daemon serves no /health (give --url)');
        url = `http://${listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}/health`;
      }
      let report: HealthReport;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(Number(opts.timeoutS) * 1000) });
        report = (await response.json()) as HealthReport;
      } catch (err) {
        const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        throw new UsmpError('USMP_E_HEALTH_UNREACHABLE', `${cause}`, { cause: err });
      }
      const { code, line } = nagiosLine(report);
      process.stdout.write(`${line}\n`);
      setExit(code);
    } catch (err) {
      const code = err instanceof UsmpError ? `${err.code}: ` : '';
      process.stdout.write(`USMP-EDGE UNKNOWN - no health from ${url ?? 'the daemon'}: ${code}${(err as Error).message}\n`);
      setExit(NAGIOS.UNKNOWN);
    }
  });
}

export function nagiosLine(r: HealthReport): { code: number; line: string } {
  const linkDown = r.link?.state === 'down';
  const code = r.status === 'failed' || linkDown ? NAGIOS.CRITICAL : r.status === 'degraded' ? NAGIOS.WARNING : NAGIOS.OK;
  const label = (['OK', 'WARNING', 'CRITICAL'] as const)[code];
  const summary =
    r.reasons.length > 0
      ? r.reasons.join('; ')
      : `link ${r.link?.state ?? 'not monitored'}, hospital ${r.bridge?.hospital_connected ? 'connected' : 'not connected'}, outbox ${r.bridge?.outbox_depth ?? 0}`;
  const perf: string[] = [];
  const m = r.link?.metrics;
  const w = r.link?.last_window;
  const limit = (x: { limit: number | string } | undefined) => (typeof x?.limit === 'number' ? String(x.limit) : '');
  if (w?.rttMedianMs !== undefined) perf.push(`rtt=${w.rttMedianMs}ms;${limit(m?.rtt_ms)};;0;`);
  if (w?.ipdvMeanMs !== undefined) perf.push(`ipdv=${w.ipdvMeanMs}ms;${limit(m?.ipdv_ms)};;0;`);
  if (w) perf.push(`loss_up=${round(w.lossUpPct)}%;${limit(m?.loss_up_pct)};;0;100`, `loss_down=${round(w.lossDownPct)}%;${limit(m?.loss_down_pct)};;0;100`);
  for (const d of ['up', 'down'] as const) if (r.link?.throughput_mbps[d] !== undefined) perf.push(`${d}_mbps=${r.link.throughput_mbps[d]};;;0;`);
  if (r.bridge)
    perf.push(
      `outbox=${r.bridge.outbox_depth};;;0;${r.bridge.outbox_capacity}`,
      `outbox_oldest=${r.bridge.outbox_oldest_age_s ?? 0}s;;;0;`,
      `devices=${r.bridge.devices_connected};;;0;`,
    );
  return { code, line: `USMP-EDGE ${label} - ${summary}${perf.length ? ` | ${perf.join(' ')}` : ''}` };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
