// What `qualify` and `qualify --station` share: the qualification of the link to the
// hospital, and the report written from it.

import { join } from 'node:path';
import { assess, type Assessment } from '../../qualify/assess.js';
import { findProfile, loadProfiles, type Profile } from '../../qualify/profiles.js';
import { runQualification, type PlanName, type QualificationData } from '../../qualify/run.js';
import type { PlaceSection } from '../../station/place-book.js';
import { renderSummary } from '../../qualify/summary.js';
import { siteIdentityFrom, writeReport } from '../../report/qualification-report.js';
import { queueForCollector, signingKeyOrReason, writeReportHtml } from '../../report/publish.js';
import type { ReportDocument } from '../../report/report-document.js';
import { qosReportSection } from '../../qos/report-section.js';
import { UsmpError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../output.js';
import { progressPrinter } from '../progress.js';
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

export interface LinkRun {
  target: string;
  profile: Profile;
  plan: PlanName;
  lang: 'fr' | 'en';
  startedAt: Date;
  durationS: number;
  data: QualificationData;
  assessment: Assessment;
}

/** The qualification of the link to the hospital, as `qualify` measures it. */
export async function measureLink(ctx: CliContext, flags: QualifyFlags): Promise<LinkRun> {
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
  return { target, profile, plan, lang, startedAt, durationS: (Date.now() - startedAt.getTime()) / 1000, data, assessment: assess(data, profile, lang) };
}

/** Writes report.json (signed when a key is there) and its HTML, prints the summary, queues it for the collector. */
export async function publishReport(ctx: CliContext, flags: QualifyFlags, run: LinkRun, places?: readonly PlaceSection[]): Promise<number> {
  const config = ctx.config().values;
  const { target, profile, lang, startedAt, data, assessment } = run;
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
      durationS: run.durationS,
      data,
      assessment,
      qos,
      places,
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
  const placeFailed = (places ?? []).some((p) => p.verdict !== 'pass');
  return assessment.verdict.startsWith('fail') || placeFailed ? EXIT.MEASURED_FAIL : EXIT.OK;
}
