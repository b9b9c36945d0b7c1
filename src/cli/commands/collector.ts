import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AccessStore } from '../../collector/auth/access-store.js';
import { OidcLogin } from '../../collector/auth/oidc-login.js';
import { CollectorServer } from '../../collector/collector-server.js';
import { watchedEnrolments } from '../../collector/enrolment-watch.js';
import { ReportIntake } from '../../collector/report-intake.js';
import { openConfiguredDatabase } from '../../collector/sql/configured-database.js';
import { SqlReportStore } from '../../collector/sql-report-store.js';
import { SqlTelemetryStore } from '../../collector/sql-telemetry-store.js';
import { SilentWatch, type SilentNotice } from '../../collector/silent-watch.js';
import { WebhookSink } from '../../monitor/alerts/webhook-sink.js';
import { splitHostPort } from '../../config/formats.js';
import type { ConfigValues } from '../../config/load.js';
import { UsmpError } from '../../errors.js';
import { writeFileDurably } from '../../exec/durable-file.js';
import { parseEnrolments, type EnrolledAppliance } from '../../report/enrolled-keys.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { registerCollectorUsers } from './collector-users.js';

// usmp-edge collector: the national collector (intake, dashboard, exports);
// usmp-edge collector enroll: trusts one more appliance key, for one establishment;
// usmp-edge collector revoke: that key vouches for nothing from now on.

interface EnrollFlags {
  applianceId: string;
  publicKey: string;
  establishmentCode: string;
  region: string;
  expires?: string;
  json?: boolean;
}

interface RevokeFlags {
  keyId: string;
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

  registerRevoke(collector, context, setExit);
  registerCollectorUsers(collector, context, setExit);

  const enroll = collector
    .command('enroll')
    .description('trust an appliance key (the line printed by usmp-edge report keygen); writes collector.appliances_file')
    .requiredOption('--appliance-id <id>', 'the appliance (site.appliance_id in its configuration)')
    .requiredOption('--public-key <base64>', 'its Ed25519 public key')
    .requiredOption('--establishment-code <code>', 'the establishment it serves: its reports are taken for this site only')
    .requiredOption('--region <direction>', 'the establishment\'s interregional direction (e.g. "DISP Dijon"), as regional roles name it')
    .option('--expires <date>', `end of validity, YYYY-MM-DD (default: ${DEFAULT_VALIDITY_YEARS} years)`)
    .option('--json', 'print the entry on stdout');
  enroll.action(async () => {
    const ctx = context();
    const flags = enroll.opts<EnrollFlags>();
    try {
      const path = ctx.config().values.collector.appliances_file;
      const current = readEnrolments(path);
      const now = new Date();
      const expires =
        flags.expires ?? new Date(Date.UTC(now.getUTCFullYear() + DEFAULT_VALIDITY_YEARS, now.getUTCMonth(), now.getUTCDate())).toISOString().slice(0, 10);
      const entry = {
        appliance_id: flags.applianceId,
        establishment_code: flags.establishmentCode,
        region: flags.region,
        public_key: flags.publicKey,
        enrolled_at: now.toISOString().slice(0, 10),
        expires_at: expires,
      };
      // the same checks as when the collector reads the file
      const [checked] = parseEnrolments(JSON.stringify({ appliances: [entry] }), '--public-key/--establishment-code/--expires');
      const same = current.findIndex((c) => c.key_id === checked!.key_id);
      let next: EnrolledAppliance[];
      if (same < 0) next = [...current, checked!];
      else {
        // a key enrolled before codes were required gets its code; anything else is refused
        const existing = current[same]!;
        if (existing.establishment_code !== '' || existing.appliance_id !== checked!.appliance_id)
          throw new UsmpError(
            'USMP_E_USAGE',
            `key ${checked!.key_id} is enrolled already (appliance ${existing.appliance_id}, establishment ${existing.establishment_code || 'none'})`,
          );
        next = current.map((c, i) => (i === same ? { ...c, establishment_code: checked!.establishment_code, region: checked!.region } : c));
      }
      writeFileDurably(path, `${JSON.stringify({ appliances: next }, null, 2)}\n`, 0o644, 0o755);
      const written = next.find((c) => c.key_id === checked!.key_id)!;
      if (flags.json) ctx.out.json(written);
      ctx.out.say(
        same < 0
          ? `appliance ${written.appliance_id} enrolled for establishment ${written.establishment_code}, ${written.region ?? ''} (key ${written.key_id}, valid until ${written.expires_at ?? 'no end'}) in ${path}`
          : `key ${written.key_id} of ${written.appliance_id} now speaks for establishment ${written.establishment_code} (${path})`,
      );
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags.json === true));
    }
  });
}

function registerRevoke(collector: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const revoke = collector
    .command('revoke')
    .description('stop trusting an appliance key (lost, stolen, or its appliance replaced): from now on its reports are refused; the reports taken before stay')
    .requiredOption('--key-id <id>', 'the key (16 hex digits, as listed in collector.appliances_file)')
    .option('--json', 'print the entry on stdout');
  revoke.action(async () => {
    const ctx = context();
    const flags = revoke.opts<RevokeFlags>();
    try {
      const path = ctx.config().values.collector.appliances_file;
      const current = readEnrolments(path);
      const target = current.find((c) => c.key_id === flags.keyId);
      if (!target) throw new UsmpError('USMP_E_USAGE', `no key ${flags.keyId} in ${path}`);
      const revoked = target.revoked_at ? target : { ...target, revoked_at: new Date().toISOString() };
      if (!target.revoked_at)
        writeFileDurably(path, `${JSON.stringify({ appliances: current.map((c) => (c === target ? revoked : c)) }, null, 2)}\n`, 0o644, 0o755);
      if (flags.json) ctx.out.json(revoked);
      ctx.out.say(
        target.revoked_at
          ? `key ${flags.keyId} was revoked already (${target.revoked_at})`
          : `key ${flags.keyId} of ${revoked.appliance_id} revoked (${revoked.revoked_at}); the collector refuses its reports from now on`,
      );
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags.json === true));
    }
  });
}

/** The enrolment file's entries; none when it does not exist yet. */
function readEnrolments(path: string): EnrolledAppliance[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UsmpError('USMP_E_ENROLMENT_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return parseEnrolments(text, path);
}

function readPemFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsmpError('USMP_E_CONFIG_INVALID', `${key}: cannot read ${path || '(empty)'}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
}

async function runCollector(ctx: CliContext): Promise<void> {
  const loaded = ctx.config();
  const config = loaded.values.collector;
  const log = ctx.logger(1);
  const tls =
    config.tls_cert_file || config.tls_key_file
      ? { cert: readPemFile(config.tls_cert_file, 'collector.tls_cert_file'), key: readPemFile(config.tls_key_file, 'collector.tls_key_file') }
      : undefined;
  if (!tls && !config.plain_http_behind_proxy)
    throw new UsmpError(
      'USMP_E_CONFIG_INVALID',
      'the collector serves HTTPS only: set collector.tls_cert_file and collector.tls_key_file, or collector.plain_http_behind_proxy when a TLS proxy on this host serves it',
    );
  if (!tls) log.warn({ event: 'collector.plain_http' }, 'collector.plain_http_behind_proxy: serving plain HTTP for the TLS proxy in front');
  const oidc = oidcFromConfig(config.oidc, loaded.secrets.get('collector.oidc.client_secret'));
  const db = await openConfiguredDatabase(loaded, log);
  const store = new SqlReportStore(db);
  const telemetry = new SqlTelemetryStore(db);
  const access = new AccessStore(db);
  const webhookToken = loaded.secrets.get('collector.silent_webhook_token');
  const silentWatch = new SilentWatch({
    store: telemetry,
    silentAfterMs: config.silent_after_minutes * 60_000,
    log,
    webhook: config.silent_webhook_url
      ? new WebhookSink<SilentNotice>({
          url: config.silent_webhook_url,
          ...(webhookToken ? { authorization: `Bearer ${webhookToken}` } : {}),
          maxAttempts: 5,
          timeoutMs: 10_000,
          deadLetterFile: config.silent_dead_letter_file,
          log,
        })
      : undefined,
  });
  const keys = watchedEnrolments(config.appliances_file, log);
  try {
    // read at start, so that a damaged file or keys without an establishment are named now
    keys();
  } catch {
    // logged by the watcher; intake answers 503 until the file is fixed
  }
  const intake = new ReportIntake({ store, telemetry, keys, log, graceMs: config.expiry_grace_days * 86_400_000 });
  const session = { idleMs: config.session_idle_minutes * 60_000, absoluteMs: config.session_absolute_hours * 3_600_000 };
  const server = new CollectorServer({
    store,
    telemetry,
    intake,
    access,
    log,
    tls,
    oidc,
    session,
    silentAfterMs: config.silent_after_minutes * 60_000,
    behindProxy: config.plain_http_behind_proxy,
    people: { ...splitHostPort(config.listen), maxConnections: config.max_connections, requestsPerMinute: config.requests_per_minute },
    appliances: { ...splitHostPort(config.intake_listen), maxConnections: config.max_connections, requestsPerMinute: config.intake_requests_per_minute },
    maxReportBytes: config.max_report_kib * 1024,
    // a restart signs everyone's forms anew; sessions themselves are in the database
    cookieSecret: randomBytes(32),
  });
  const prune = setInterval(() => {
    access
      .pruneSessions(Date.now(), session)
      .catch((err: Error) => log.warn({ event: 'collector.prune_failed', err: err.message }, 'cannot delete ended sessions; tried again later'));
  }, 10 * 60_000);
  prune.unref();
  const compact = () =>
    telemetry.compact(Date.now()).then(
      (removed) => log.info({ event: 'collector.compacted', ...removed }, 'telemetry past its retention removed (daily roll-ups kept)'),
      (err: Error) => log.warn({ event: 'collector.compact_failed', err: err.message }, 'cannot remove old telemetry; tried again later'),
    );
  const compaction = setInterval(() => void compact(), 6 * 3_600_000);
  compaction.unref();
  try {
    await server.listen();
    void compact();
    silentWatch.start();
    if ((await access.users()).length === 0 && !oidc)
      log.warn(
        { event: 'collector.no_users' },
        'no local account and no OpenID provider: nobody can sign in yet (usmp-edge collector user add NAME --role national)',
      );
    const signal = await new Promise<string>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve(s));
    });
    log.info({ event: 'collector.stopping', signal }, 'stopping');
  } finally {
    clearInterval(prune);
    clearInterval(compaction);
    await silentWatch.stop();
    await server.close();
    await db.close();
  }
}

function oidcFromConfig(c: ConfigValues['collector']['oidc'], clientSecret: string | undefined): OidcLogin | undefined {
  if (!c.issuer) return undefined;
  const missing = [
    !c.client_id && 'collector.oidc.client_id',
    !clientSecret && 'collector.oidc.client_secret_file',
    !c.redirect_uri && 'collector.oidc.redirect_uri',
  ].filter(Boolean);
  if (missing.length > 0) throw new UsmpError('USMP_E_CONFIG_INVALID', `collector.oidc.issuer is set: ${missing.join(', ')} must be too`);
  if (!c.scopes.split(/\s+/).includes('openid')) throw new UsmpError('USMP_E_CONFIG_INVALID', 'collector.oidc.scopes must include openid');
  return new OidcLogin({
    issuer: c.issuer,
    clientId: c.client_id,
    clientSecret: clientSecret!,
    redirectUri: c.redirect_uri,
    scopes: c.scopes,
    groupsClaim: c.groups_claim,
    roleMap: c.role_map,
  });
}
