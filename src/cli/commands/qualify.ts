import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_STAMP_PORT } from '../../measure/stamp/packets.js';
import type { CliContext } from '../context.js';
import { reportError } from '../output.js';
import { integerIn, port, positiveNumber } from './options.js';
import { runStationCommand, type StationFlags } from './qualify-station.js';
import { measureLink, publishReport, type QualifyFlags } from './qualify-run.js';

export type { QualifyFlags };

export function registerQualifyCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('qualify')
    .description('qualify the link to a responder for a telemedicine profile; writes report.json; exit 1 on a FAIL')
    .option('--target <host>', 'the responder at the hospital (default: qualify.target)')
    .option('--profile <name>', `teleconsultation-hd, tele-expertise-imaging, connected-devices, or a site profile (default: qualify.profile)`)
    .addOption(new Option('--plan <plan>', 'quick (≤ 90 s) or full (Y.1564 ramp, RFC 6349)').choices(['quick', 'full']))
    .option('--out <dir>', 'directory for report.json and raw.json (default: qualify.out_dir/<date>-<target>)')
    .addOption(new Option('--lang <lang>', 'language of the summary').choices(['fr', 'en']))
    .option('--json', 'print the report as one JSON document on stdout')
    .option('--stamp-port <n>', 'responder STAMP port', port, DEFAULT_STAMP_PORT)
    .option('--iperf-port <n>', 'responder first iperf3 port', integerIn(1, 65535), 5201)
    .option('--iperf-pool <n>', 'responder iperf3 ports', integerIn(1, 64), 4)
    .option('--station', "test from a care station's browser: serve the test page on the LAN, qualify the link after each place, join both")
    .option('--station-address <ip>', 'with --station: address of the page (default: station.listen_address)')
    .option('--station-port <n>', 'with --station: HTTPS port of the page, 0 for a free one (default: station.port)', port)
    .option('--session-minutes <n>', 'with --station: the session ends by itself after this time (default: station.session_minutes)', positiveNumber)
    .action(async (flags: QualifyFlags & StationFlags & { station?: boolean }) => {
      const ctx = context();
      try {
        setExit(await (flags.station ? runStationCommand(ctx, flags) : runQualifyCommand(ctx, flags)));
      } catch (err) {
        setExit(reportError(err, ctx.out, flags.json === true));
      }
    });
}

export async function runQualifyCommand(ctx: CliContext, flags: QualifyFlags): Promise<number> {
  return publishReport(ctx, flags, await measureLink(ctx, flags));
}
