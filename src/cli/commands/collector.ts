import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CollectorServer } from '../../collector/collector-server.js';
import { watchedEnrolments } from '../../collector/enrolment-watch.js';
import { ReportIntake } from '../../collector/report-intake.js';
import { SqliteReportStore } from '../../collector/sqlite-report-store.js';
import { splitHostPort } from '../../config/formats.js';
import { UsmpError } from '../../errors.js';
import { writeFileDurably } from '../../exec/durable-file.js';
import { parseEnrolments, type EnrolledAppliance } from '../../report/enrolled-keys.js';
import { keyIdOf } from '../../report/signing.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge collector: the national collector (intake, dashboard, exports) [issue 7 §5];
// usmp-edge collector enroll: trusts one more appliance key.

interface EnrollFlags {
  applianceId: string;
  publicKey: string;
  establishmentCode?: string;
  expires?: string;
  json?: boolean;
}

const DEFAULT_VALIDITY_YEARS = 3;

export function registerCollectorCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const collector = program
    .command('collector')
    .description('the national collector: HTTPS intake of signed reports, national dashboard, CSV/JSON/pScheduler exports; SIGTERM stops')
    .action(async () => {
      const ctx = context();
      try {
        await runCollector(ctx);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });

  const enroll = collector
    .command('enroll')
    .description('trust an appliance key (the line printed by usmp-edge report keygen); writes collector.appliances_file')
    .requiredOption('--appliance-id <id>', 'the appliance (site.appliance_id in its configuration)')
    .requiredOption('--public-key <base64>', 'its Ed25519 public key')
    .option('--establishment-code <code>', 'the establishment it serves')
    .option('--expires <date>', `end of validity, YYYY-MM-DD (default: ${DEFAULT_VALIDITY_YEARS} years)`)
    .option('--json', 'print the entry on stdout');
  enroll.action(async () => {
    const ctx = context();
    const flags = enroll.opts<EnrollFlags>();
    try {
      const path = ctx.config().values.collector.appliances_file;
      let current: EnrolledAppliance[] = [];
      let text: string | undefined;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        text = undefined;
      }
      if (text !== undefined) current = parseEnrolments(text, path);
      const now = new Date();
      const expires = flags.expires ?? new Date(Date.UTC(now.getUTCFullYear() + DEFAULT_VALIDITY_YEARS, now.getUTCMonth(), now.getUTCDate())).toISOString().slice(0, 10);
      const entry = { appliance_id: flags.applianceId, establishment_code: flags.establishmentCode ?? '', public_key: flags.publicKey, key_id: '', enrolled_at: now.toISOString().slice(0, 10), expires_at: expires };
      // the same checks as when the collector reads the file
      const [checked] = parseEnrolments(JSON.stringify({ appliances: [{ ...entry, key_id: undefined }] }), '--public-key/--expires');
      if (current.some((c) => c.key_id === checked!.key_id)) throw new UsmpError('USMP_E_USAGE', `key ${keyIdOf(flags.publicKey)} is enrolled already`);
      writeFileDurably(path, `${JSON.stringify({ appliances: [...current, checked] }, null, 2)}\n`, 0o644, 0o755);
      if (flags.json) ctx.out.json(checked);
      ctx.out.say(`appliance ${checked!.appliance_id} enrolled (key ${checked!.key_id}, valid until ${checked!.expires_at}) in ${path}`);
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags.json === true));
    }
  });
}

async function runCollector(ctx: CliContext): Promise<void> {
  const config = ctx.config().values.collector;
  const log = ctx.logger(1);
  const { host, port } = splitHostPort(config.listen);
  const tls = config.tls_cert_file || config.tls_key_file ? { cert: readFileSync(config.tls_cert_file), key: readFileSync(config.tls_key_file) } : undefined;
  if (!tls) log.warn({ event: 'collector.plain_http' }, 'collector.tls_cert_file is empty: serving plain HTTP (put a TLS proxy in front)');
  const store = new SqliteReportStore(config.database);
  const intake = new ReportIntake({ store, keys: watchedEnrolments(config.appliances_file, log), log });
  const server = new CollectorServer({ store, intake, log, host, port, maxReportBytes: config.max_report_kib * 1024, tls });
  try {
    await server.listen();
    const signal = await new Promise<string>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve(s));
    });
    log.info({ event: 'collector.stopping', signal }, 'stopping');
  } finally {
    await server.close();
    store.close();
  }
}
