import { join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { assess } from '../../qualify/assess.js';
import { findProfile, loadProfiles } from '../../qualify/profiles.js';
import { runQualification, type PlanName } from '../../qualify/run.js';
import { renderSummary } from '../../qualify/summary.js';
import { siteIdentityFrom, writeReport } from '../../report/qualification-report.js';
import { queueForCollector, signingKeyOrReason, writeReportHtml } from '../../report/publish.js';
import type { ReportDocument } from '../../report/report-document.js';
import { qosReportSection } from '../../qos/report-section.js';
import { UsmpError } from '../../errors.js';
import { DEFAULT_STAMP_PORT } from '../../measure/stamp/packets.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { progressPrinter } from '../progress.js';
import { integerIn, port } from './options.js';
import { interruptSignal } from './probe.js';
import { holdForMeasurement } from './measurement-timing.js';
import { loadModelFrom } from '../../measure/iperf3/load-model.js';
import { credentialsField } from '../../responder/appliance-credentials.js';

export interface QualifyFlags {
  target?: string;
  profile?: string;
  plan?: PlanName;
  out?: string;
  lang?: 'fr' | 'en';
  json?: boolean;
  stampPort: number;
  iperfPort: number;
  iperfPool: number;
}

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
    .action(async (flags: QualifyFlags) => {
      const ctx = context();
      try {
        setExit(await runQualifyCommand(ctx, flags));
      } catch (err) {
        setExit(reportError(err, ctx.out, flags.json === true));
      }
    });
}

export async function runQualifyCommand(ctx: CliContext, flags: QualifyFlags): Promise<number> {
  const config = ctx.config().values;
  const target = flags.target ?? config.qualify.target;
  if (!target) throw new UsmpError('USMP_E_USAGE', 'no target: give --target HOST (or set qualify.target)');
  const profile = findProfile(loadProfiles([config.qualify.profiles_dir]), flags.profile ?? config.qualify.profile);
  const plan = flags.plan ?? config.qualify.plan;
  const lang = flags.lang ?? config.qualify.lang;
  const startedAt = new Date();
  const timing = holdForMeasurement(ctx.logger(2));
  const data = await runQualification(
    {
      target,
      stampPort: flags.stampPort,
      iperfPorts: Array.from({ length: flags.iperfPool }, (_, i) => flags.iperfPort + i),
      synchronized: false,
      load: loadModelFrom(config),
      signal: interruptSignal(),
      ...credentialsField(ctx.config().secrets),
    },
    profile,
    plan,
    progressPrinter(),
  ).finally(() => timing.release());
  const assessment = assess(data, profile, lang);
  const qos = await qosReportSection(ctx.config());
  const dir = flags.out ?? join(config.qualify.out_dir, `${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}-${target}`);
  const reportSettings = config.report;
  const signing = signingKeyOrReason(reportSettings.signing_key_file);
  const { path, report } = writeReport(
    dir,
    {
      site: siteIdentityFrom(config.site),
      target,
      profile: profile.name,
      startedAt,
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      data,
      assessment,
      qos,
    },
    signing.key,
  );
  const htmlPath = await writeReportHtml(dir, report as unknown as ReportDocument, lang);
  if (flags.json) ctx.out.json(report);
  ctx.out.say(
    renderSummary(
      {
        verdict: assessment.verdict,
        lines: assessment.lines,
        hints: assessment.remediation.hints,
        reportPath: path,
        profileTitle: profile.title[lang],
        target,
      },
      lang,
    ),
  );
  ctx.out.say(`${htmlPath} (${lang === 'fr' ? 'à imprimer ou ouvrir dans un navigateur' : 'to print or open in a browser'})`);
  if (!signing.key) ctx.out.say(`${lang === 'fr' ? 'rapport non signé' : 'report not signed'}: ${signing.reason ?? ''}`);
  else if (reportSettings.collector_url) ctx.out.say(await queueForCollector(`${JSON.stringify(report, null, 2)}\n`, reportSettings, ctx.logger(2)));
  return assessment.verdict.startsWith('fail') ? EXIT.MEASURED_FAIL : EXIT.OK;
}
