import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { UsmpError } from '../../errors.js';
import { EnrolledKeys, loadEnrolments } from '../../report/enrolled-keys.js';
import { mergeReports } from '../../report/merge.js';
import { renderReportHtml } from '../../report/render/html-report.js';
import { NATIONAL_HEADER, csvLine, nationalRow } from '../../report/render/national-csv.js';
import { pschedulerRuns } from '../../report/render/pscheduler.js';
import type { ReportDocument } from '../../report/report-document.js';
import { generateSigningKey, loadSigningKey, signReport } from '../../report/signing.js';
import { collectorClient } from '../../report/upload/collector-client.js';
import { ReportOutbox } from '../../report/upload/report-outbox.js';
import { ReportUploader } from '../../report/upload/report-uploader.js';
import { verifyReportText } from '../../report/verify-report.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge report keygen|sign|verify|render|upload|merge

interface Flags {
  json?: boolean;
  keys?: string;
  lang?: 'fr' | 'en';
  format?: 'html' | 'csv' | 'pscheduler';
  out?: string;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsmpError('USMP_E_USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A verified report, or the precise reason it is refused (as a UsmpError). */
function verifiedOrThrow(text: string, file: string, keysFile: string | undefined): ReportDocument {
  const keys = keysFile ? new EnrolledKeys(loadEnrolments(keysFile)) : undefined;
  const outcome = verifyReportText(text, { keys });
  if (!outcome.ok)
    throw new UsmpError(outcome.code, `${file}: ${outcome.reason}`, {
      details: outcome.problems ? { problems: outcome.problems.map((p) => ({ path: p.split(':')[0]!, message: p.slice(p.indexOf(':') + 2) })) } : undefined,
    });
  return outcome.report as unknown as ReportDocument;
}

export function registerReportCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const report = program
    .command('report')
    .description('audit reports: the appliance key, signing, verification, rendering, upload to the national collector, offline merge');
  const wrap =
    <A extends unknown[]>(cmd: Command, action: (ctx: CliContext, flags: Flags, ...args: A) => Promise<number> | number) =>
    async (...args: A) => {
      const ctx = context();
      const flags = cmd.opts<Flags>();
      try {
        setExit(await action(ctx, flags, ...args));
      } catch (err) {
        setExit(reportError(err, ctx.out, flags.json === true));
      }
    };

  const keygen = report
    .command('keygen')
    .description("create this appliance's Ed25519 signing key (report.signing_key_file) and print the line to enrol it at the collector")
    .option(
      '--if-missing',
      'keep an existing key (and print its enrolment line) instead of refusing; the daemon unit runs this at each start, so an image gets its key at first boot',
    )
    .option('--json', 'print one JSON document on stdout');
  keygen.action(
    wrap(keygen, (ctx, flags) => {
      const config = ctx.config().values;
      const path = config.report.signing_key_file;
      const keep = (flags as Flags & { ifMissing?: boolean }).ifMissing === true && existsSync(path);
      const key = keep ? loadSigningKey(path) : generateSigningKey(path);
      const enrolment = {
        appliance_id: config.site.appliance_id || hostname(),
        establishment_code: config.site.establishment_code,
        region: config.site.region,
        public_key: key.publicKeyB64,
        key_id: key.keyId,
      };
      if (flags.json) ctx.out.json({ ...enrolment, private_key_file: path });
      else {
        ctx.out.say(keep ? `appliance key kept: ${path}` : `appliance key created: ${path} (mode 600; only this appliance signs with it)`);
        ctx.out.say(`public key ${key.publicKeyB64} (key id ${key.keyId})`);
        const quoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
        ctx.out.say(
          `enrol it at the national collector: usmp-edge collector enroll --appliance-id ${enrolment.appliance_id} --public-key ${key.publicKeyB64} --establishment-code ${enrolment.establishment_code || 'CODE'} --region ${enrolment.region ? quoted(enrolment.region) : 'REGION'}`,
        );
      }
      return EXIT.OK;
    }),
  );

  const signCmd = report
    .command('sign <file>')
    .description("sign a report with this appliance's key (rewrites FILE)")
    .option('--json', 'print the signature on stdout');
  signCmd.action(
    wrap(signCmd, (ctx, flags, file: string) => {
      const key = loadSigningKey(ctx.config().values.report.signing_key_file);
      const text = readText(file);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw new UsmpError('USMP_E_REPORT_MALFORMED', `${file}: not JSON: ${(err as Error).message}`);
      }
      const signed = signReport(parsed, key);
      const outcome = verifyReportText(JSON.stringify(signed));
      if (!outcome.ok) throw new UsmpError(outcome.code, `${file}: ${outcome.reason}`);
      writeFileSync(file, `${JSON.stringify(signed, null, 2)}\n`);
      if (flags.json) ctx.out.json(signed['signature']);
      ctx.out.say(`${file} signed by key ${key.keyId}`);
      return EXIT.OK;
    }),
  );

  const verifyCmd = report
    .command('verify <file>')
    .description(
      'check a report: JSON, schema, Ed25519 signature, and (with --keys) that its key is enrolled and was valid when it signed; exit 0 valid, 2 refused with the reason',
    )
    .option('--keys <file>', "enrolled appliances (the collector's appliances.json); without it the signature is checked against the key it names")
    .option('--json', 'print one JSON document on stdout');
  verifyCmd.action(
    wrap(verifyCmd, (ctx, flags, file: string) => {
      const r = verifiedOrThrow(readText(file), file, flags.keys);
      const summary = {
        valid: true,
        report_id: r.report_id,
        key_id: r.signature!.key_id,
        signed_at: r.signature!.signed_at,
        appliance_id: r.site.appliance_id,
        enrolment_checked: Boolean(flags.keys),
      };
      if (flags.json) ctx.out.json(summary);
      ctx.out.say(
        `${file}: valid — report ${r.report_id} of ${r.site.establishment || r.site.appliance_id}, signed by key ${summary.key_id} at ${summary.signed_at}${flags.keys ? ', enrolled' : ' (enrolment not checked: give --keys)'}`,
      );
      return EXIT.OK;
    }),
  );

  const render = report
    .command('render <file>')
    .description('render a report as a self-contained HTML page (printable), a national-table CSV row, or pScheduler results')
    .addOption(new Option('--format <format>', 'html, csv or pscheduler').choices(['html', 'csv', 'pscheduler']).default('html'))
    .addOption(new Option('--lang <lang>', 'language of the page').choices(['fr', 'en']))
    .option('--out <file>', 'where to write (default: beside FILE; - for stdout)');
  render.action(
    wrap(render, async (ctx, flags, file: string) => {
      const text = readText(file);
      let r: ReportDocument;
      try {
        r = JSON.parse(text) as ReportDocument;
      } catch (err) {
        throw new UsmpError('USMP_E_REPORT_MALFORMED', `${file}: not JSON: ${(err as Error).message}`);
      }
      const outcome = verifyReportText(text);
      // an unsigned report may be rendered (a draft), a broken one may not
      if (!outcome.ok && outcome.code !== 'USMP_E_REPORT_UNSIGNED') throw new UsmpError(outcome.code, `${file}: ${outcome.reason}`);
      const lang = flags.lang ?? ctx.config().values.qualify.lang;
      const format = flags.format ?? 'html';
      const body =
        format === 'html'
          ? await renderReportHtml(r, lang)
          : format === 'csv'
            ? NATIONAL_HEADER + csvLine(nationalRow(r, 'not checked'))
            : pschedulerRuns(r)
                .map((run) => `${JSON.stringify(run)}\n`)
                .join('');
      const out = flags.out ?? join(dirname(file), `${basename(file, '.json')}.${format === 'html' ? 'html' : format === 'csv' ? 'csv' : 'pscheduler.ndjson'}`);
      if (out === '-') process.stdout.write(body);
      else {
        writeFileSync(out, body);
        ctx.out.say(`${out} written${outcome.ok ? '' : ' (the report is not signed)'}`);
      }
      return EXIT.OK;
    }),
  );

  const upload = report
    .command('upload [file]')
    .description('queue a signed report for the national collector (report.collector_url) and send what waits in the outbox now; without FILE, only send')
    .option('--json', 'print one JSON document on stdout');
  upload.action(
    wrap(upload, async (ctx, flags, file?: string) => {
      const config = ctx.config().values.report;
      if (!config.collector_url)
        throw new UsmpError('USMP_E_USAGE', "report.collector_url is empty: set the national collector's address in the configuration");
      const outbox = new ReportOutbox(config.outbox_dir);
      if (file) {
        const text = readText(file);
        verifiedOrThrow(text, file, undefined);
        ctx.out.say(`report ${outbox.enqueue(text)} queued in ${config.outbox_dir}`);
      }
      const log = ctx.logger(2);
      const uploader = new ReportUploader({
        outbox,
        post: collectorClient(config.collector_url, config.collector_ca_file),
        log,
        expiryDays: config.expiry_days,
        retryMinS: config.retry_min_s,
        retryMaxS: config.retry_max_s,
      });
      const result = await uploader.runOnce();
      const left = outbox.count();
      if (flags.json) ctx.out.json({ ...result, pending: left });
      ctx.out.say(
        `delivered ${result.delivered}, already there ${result.duplicates}, refused ${result.rejected}, expired ${result.expired}; ${left} waiting${result.error ? ` (the collector: ${result.error}; the daemon retries by itself)` : ''}`,
      );
      return result.rejected > 0 ? EXIT.ERROR : EXIT.OK;
    }),
  );

  const merge = report
    .command('merge <dir>')
    .description("the collector's work offline: verify every report under DIR, write reports.csv, reports.json, pscheduler.ndjson, places.csv and index.html")
    .option('--keys <file>', 'enrolled appliances; without it signatures are checked against their own keys')
    .option('--out <dir>', 'where to write the exports', 'merged')
    .addOption(new Option('--lang <lang>', 'language of index.html').choices(['fr', 'en']).default('fr'))
    .option('--json', 'print one JSON document on stdout');
  merge.action(
    wrap(merge, async (ctx, flags, dir: string) => {
      const keys = flags.keys ? new EnrolledKeys(loadEnrolments(flags.keys)) : undefined;
      const result = await mergeReports({ dir, outDir: flags.out ?? 'merged', keys, lang: flags.lang ?? 'fr' });
      if (flags.json) ctx.out.json({ ...result, enrolment: keys ? 'checked' : 'not checked' });
      for (const r of result.refused) ctx.out.say(`refused ${r.file}: ${r.code}: ${r.reason}`);
      for (const s of result.skipped) ctx.out.say(`left out of the exports: report ${s.report_id}: ${s.reason}`);
      ctx.out.say(
        `${result.merged} report(s) merged, ${result.duplicates} duplicate(s), ${result.refused.length} refused; written: ${result.files.join(', ')}`,
      );
      // without --keys a self-signed forgery passes: every row and this summary say so
      if (!keys)
        ctx.out.say(
          'enrolment NOT checked (no --keys): each signature was checked against the key it carries, so anyone could have signed; the exports say "not checked" in their enrolment column',
        );
      return result.refused.length > 0 ? EXIT.ERROR : EXIT.OK;
    }),
  );
}
