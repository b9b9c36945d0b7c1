import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type preHandlerHookHandler } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.js';
import { verifyPassword } from '../../broker/password-hash.js';
import { renderReportHtml } from '../../report/render/html-report.js';
import type { Lang } from '../../report/render/i18n.js';
import type { ReportDocument } from '../../report/report-document.js';
import { ACTS_SOURCE, type SiteLiveFigures } from '../../report/render/national-csv.js';
import type { AccessStore, SessionLimits } from '../auth/access-store.js';
import type { OidcLogin } from '../auth/oidc-login.js';
import { scopeOf, type ReaderRole } from '../auth/roles.js';
import type { SignInLimiter } from '../auth/sign-in-limiter.js';
import { renderDashboard } from '../dashboard-page.js';
import { EXPORT_TYPES, exportChunks, type ExportFormat } from '../exports.js';
import type { ReportIntake } from '../report-intake.js';
import type { ReportStore, ReportView } from '../report-store.js';
import { renderSitePage } from '../site-page.js';
import { isSilent, renderGrid, renderTimeline, renderVersions } from '../fleet-pages.js';
import { hourlyChunks } from '../hourly-export.js';
import type { FleetView, TelemetryStore } from '../telemetry-store.js';
import { fastifyOptions, type DoorOptions } from './door-options.js';
import { errorBody, errorHandler, HttpRefusal, rateLimitRefusal, SECURITY_HEADERS } from './http-errors.js';
import { accountBar, accountPage, loginPage, withAccountBar } from './people-pages.js';

// The people's door: nothing but /health and the sign-in pages answers without an
// authenticated reader, and every read is scoped to the reader's roles (report-store.ts
// SiteScope), counts included. A reader is a session (local account or OpenID Connect) in an
// HttpOnly, Secure, SameSite cookie, or — for exports and the API only — a bearer token. Every
// form that changes state carries a CSRF token (@fastify/csrf-protection).

export interface PeopleDoorOptions extends DoorOptions {
  store: ReportStore;
  telemetry?: TelemetryStore | undefined;
  silentAfterMs: number;
  access: AccessStore;
  intake: ReportIntake;
  log: Logger;
  session: SessionLimits;
  limiter: SignInLimiter;
  oidc?: OidcLogin | undefined;
  cookieSecret: Buffer;
  now?: () => number;
}

interface Reader {
  user: string;
  roles: ReaderRole[];
  via: 'session' | 'token';
  sessionId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    reader: Reader | null;
  }
}

const SESSION_COOKIE = '__Host-usmp_session';
const OIDC_COOKIE = '__Host-usmp_oidc';
// a structurally valid hash no password matches: an unknown name costs what a wrong password costs
const TIMING_DECOY = `$scrypt$ln=14,r=8,p=5$${'A'.repeat(22)}==$${'A'.repeat(43)}=`;
const COOKIE_BASE = { path: '/', httpOnly: true, secure: true } as const;

type Access = 'session' | 'session-or-token';

export async function peopleDoor(o: PeopleDoorOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const app = Fastify(fastifyOptions(o, 16 * 1024));
  app.server.maxConnections = o.maxConnections;
  app.server.headersTimeout = 15_000;
  app.setErrorHandler(errorHandler(o.log, 'people'));
  app.setNotFoundHandler((request, reply) => void reply.code(404).send(errorBody('USMP_E_NOT_FOUND', `nothing at ${request.url.slice(0, 100)}`)));
  await app.register(rateLimit, { max: o.requestsPerMinute, timeWindow: 60_000, cache: 10_000, errorResponseBuilder: rateLimitRefusal });
  await app.register(cookie, { secret: o.cookieSecret });
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  await app.register(csrf, { cookieKey: '__Host-usmp_csrf', cookieOpts: { ...COOKIE_BASE, sameSite: 'strict', signed: true } });
  app.decorateRequest('reader', null);
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  app.addHook('onRequest', async (request) => {
    request.reader = await readerOf(request);
  });

  async function readerOf(request: FastifyRequest): Promise<Reader | null> {
    const sessionId = request.cookies[SESSION_COOKIE];
    if (sessionId) {
      const session = await o.access.session(sessionId, now(), o.session);
      if (session) return { user: session.user, roles: session.roles, via: 'session', sessionId };
    }
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('Bearer ')) {
      const holder = await o.access.apiTokenHolder(authorization.slice('Bearer '.length).trim(), new Date(now()));
      if (holder) return { user: holder.user, roles: holder.roles, via: 'token' };
      throw new HttpRefusal(401, 'USMP_E_UNAUTHENTICATED', 'this bearer token is not valid (revoked, or never made here)');
    }
    return null;
  }

  /** The reader, or the refusal: pages send browsers to sign in, the rest answer 401. */
  const needs = (access: Access) => async (request: FastifyRequest, reply: FastifyReply) => {
    const reader = request.reader;
    if (reader && (reader.via === 'session' || access === 'session-or-token')) return;
    if (reader?.via === 'token') throw new HttpRefusal(401, 'USMP_E_UNAUTHENTICATED', 'bearer tokens open exports and the API only; sign in to see pages');
    if (request.method === 'GET' && access === 'session') return reply.redirect(`/login?next=${encodeURIComponent(request.url.slice(0, 500))}`, 303);
    throw new HttpRefusal(401, 'USMP_E_UNAUTHENTICATED', 'sign in, or send a bearer token (Authorization: Bearer usmpc_…)');
  };
  const viewOf = (request: FastifyRequest): ReportView => o.store.scoped(scopeOf(request.reader!.roles));
  const fleetOf = (request: FastifyRequest): FleetView => {
    if (!o.telemetry) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'this collector keeps no telemetry');
    return o.telemetry.scoped(scopeOf(request.reader!.roles));
  };
  const langOf = (request: FastifyRequest): Lang =>
    (request.query as Record<string, unknown>)['lang'] === 'en' || (request.body as Record<string, unknown> | undefined)?.['lang'] === 'en' ? 'en' : 'fr';
  const html = (request: FastifyRequest, reply: FastifyReply, page: string) => {
    const bar = accountBar({ lang: langOf(request), user: request.reader!.user, csrf: reply.generateCsrf() });
    return reply.type('text/html; charset=utf-8').send(withAccountBar(page, bar));
  };

  // @fastify/csrf-protection's hook, called on the instance it decorates
  const csrfProtection: preHandlerHookHandler = (request, reply, done) => app.csrfProtection(request, reply, done);

  app.get('/health', async () => ({ status: 'ok' }));

  // -- signing in and out

  app.get('/login', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    return reply.type('text/html; charset=utf-8').send(
      loginPage({
        lang: langOf(request),
        csrf: reply.generateCsrf(),
        next: safeNext(query['next']),
        error: query['error'] === 'oidc' ? { code: 'USMP_E_SIGN_IN', message: 'OpenID Connect: sign-in refused' } : undefined,
        oidc: o.oidc !== undefined,
      }),
    );
  });

  app.post('/login', { preHandler: csrfProtection }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const user = typeof body['username'] === 'string' ? body['username'].slice(0, 64) : '';
    const password = typeof body['password'] === 'string' ? body['password'].slice(0, 256) : '';
    const next = safeNext(typeof body['next'] === 'string' ? body['next'] : undefined);
    const lang = langOf(request);
    const refuse = (status: number, code: ErrorCode, reason: string, message: string) => {
      o.log.warn(
        { event: 'collector.sign_in_failed', code, user, source: 'local', remote: request.ip, reason },
        `sign-in refused for ${JSON.stringify(user)} from ${request.ip}: ${reason}`,
      );
      return reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(loginPage({ lang, csrf: reply.generateCsrf(), next, error: { code, message }, oidc: o.oidc !== undefined }));
    };
    const blocked = o.limiter.blocked(user, request.ip, now());
    if (blocked) return refuse(429, 'USMP_E_SIGN_IN_LIMITED', 'limited', blocked);
    const credentials = await o.access.credentialsOf(user);
    const ok = await verifyPassword(password, credentials?.passwordHash ?? TIMING_DECOY);
    if (!credentials || !ok) {
      o.limiter.failed(user, request.ip, now());
      return refuse(
        401,
        'USMP_E_SIGN_IN',
        credentials ? 'wrong_password' : 'unknown_user',
        lang === 'en' ? 'Wrong user name or password.' : 'Identifiant ou mot de passe incorrect.',
      );
    }
    o.limiter.succeeded(user);
    await startSession(reply, user, 'local', credentials.roles);
    o.log.info({ event: 'collector.sign_in', user, source: 'local', remote: request.ip }, `${user} signed in`);
    return reply.redirect(next, 303);
  });

  async function startSession(reply: FastifyReply, user: string, source: 'local' | 'oidc', roles: ReaderRole[]): Promise<void> {
    const id = await o.access.createSession({ user, source, roles }, now());
    void reply.setCookie(SESSION_COOKIE, id, { ...COOKIE_BASE, sameSite: 'lax' });
  }

  app.post('/logout', { preHandler: csrfProtection }, async (request, reply) => {
    if (request.reader?.sessionId) {
      await o.access.endSession(request.reader.sessionId);
      o.log.info({ event: 'collector.sign_out', user: request.reader.user, remote: request.ip }, `${request.reader.user} signed out`);
    }
    void reply.clearCookie(SESSION_COOKIE, { ...COOKIE_BASE, sameSite: 'lax' });
    return reply.redirect('/login', 303);
  });

  app.get('/auth/oidc/start', async (_request, reply) => {
    if (!o.oidc) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'OpenID Connect is not configured here (collector.oidc.issuer)');
    const { url, pendingId } = await o.oidc.start(now());
    void reply.setCookie(OIDC_COOKIE, pendingId, { ...COOKIE_BASE, sameSite: 'lax', maxAge: o.oidc.pendingTtlMs / 1000 });
    return reply.redirect(url.href, 303);
  });

  app.get('/auth/oidc/callback', async (request, reply) => {
    if (!o.oidc) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'OpenID Connect is not configured here (collector.oidc.issuer)');
    void reply.clearCookie(OIDC_COOKIE, { ...COOKIE_BASE, sameSite: 'lax' });
    const callbackUrl = new URL(request.url, o.oidc.redirectUri);
    try {
      const identity = await o.oidc.finish(callbackUrl, request.cookies[OIDC_COOKIE], now());
      if (identity.roles.length === 0) {
        o.log.warn(
          { event: 'collector.sign_in_failed', user: identity.user, source: 'oidc', remote: request.ip, reason: 'no_role' },
          `${identity.user}: no group of theirs maps to a role (collector.oidc.role_map)`,
        );
        throw new HttpRefusal(403, 'USMP_E_FORBIDDEN', 'signed in, but none of your groups gives a role on this collector');
      }
      await startSession(reply, identity.user, 'oidc', identity.roles);
      o.log.info({ event: 'collector.sign_in', user: identity.user, source: 'oidc', remote: request.ip }, `${identity.user} signed in`);
      return reply.redirect('/', 303);
    } catch (err) {
      if (err instanceof HttpRefusal) throw err;
      o.log.warn(
        { event: 'collector.sign_in_failed', source: 'oidc', remote: request.ip, reason: (err as Error).message },
        `OpenID Connect sign-in refused: ${(err as Error).message}`,
      );
      return reply.redirect('/login?error=oidc', 303);
    }
  });

  // -- the national views, scoped

  app.get('/', { preHandler: needs('session') }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const page = Number(query['page'] ?? '1');
    return html(
      request,
      reply,
      await renderDashboard(
        viewOf(request),
        { region: query['region'] || undefined, verdict: query['verdict'] || undefined, page: Number.isInteger(page) ? page : 1 },
        langOf(request),
        now(),
      ),
    );
  });

  app.get('/sites/:code', { preHandler: needs('session') }, async (request, reply) => {
    const page = await renderSitePage(viewOf(request), (request.params as { code: string }).code, langOf(request), now());
    if (!page) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such site');
    return html(request, reply, page);
  });

  app.get('/reports/:file', { preHandler: needs('session-or-token') }, async (request, reply) => {
    const match = /^([0-9a-f-]{36})\.(json|html)$/.exec((request.params as { file: string }).file);
    const text = match ? await viewOf(request).reportText(match[1]!) : undefined;
    if (!match || text === undefined) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such report');
    if (match[2] === 'json') return reply.type('application/json; charset=utf-8').send(text);
    if (request.reader!.via !== 'session') throw new HttpRefusal(401, 'USMP_E_UNAUTHENTICATED', 'sign in to see rendered reports; tokens read the JSON');
    return html(request, reply, await renderReportHtml(JSON.parse(text) as ReportDocument, langOf(request)));
  });

  app.get('/export/:file', { preHandler: needs('session-or-token') }, async (request, reply) => {
    const file = (request.params as { file: string }).file;
    const hourly = /^hourly\.(csv|json)$/.exec(file)?.[1] as 'csv' | 'json' | undefined;
    if (hourly) {
      reply
        .header('content-disposition', `attachment; filename="${file}"`)
        .type(hourly === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
      return reply.send(Readable.from(hourlyChunks(hourly, fleetOf(request).eachHourly())));
    }
    const format = (Object.keys(EXPORT_TYPES) as ExportFormat[]).find((f) => EXPORT_TYPES[f].file === file);
    if (!format) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', `no export ${file.slice(0, 60)}`);
    const view = viewOf(request);
    const onSkip = (reportId: string, reason: string) =>
      o.log.warn({ event: 'collector.export_skipped', report_id: reportId, format, reason }, `report ${reportId} left out of ${file}: ${reason}`);
    reply.header('content-disposition', `attachment; filename="${EXPORT_TYPES[format].file}"`).type(EXPORT_TYPES[format].contentType);
    const live = o.telemetry ? await liveFigures(fleetOf(request), now()) : undefined;
    return reply.send(Readable.from(exportChunks(format, view.eachReport(), { enrolment: 'checked', onSkip, live })));
  });

  // -- the live fleet

  app.get('/fleet', { preHandler: needs('session') }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    return html(
      request,
      reply,
      await renderGrid(fleetOf(request), await viewOf(request).regions(), { region: query['region'] || undefined }, langOf(request), now(), o.silentAfterMs),
    );
  });

  app.get('/fleet/versions', { preHandler: needs('session') }, async (request, reply) =>
    html(request, reply, await renderVersions(fleetOf(request), langOf(request))),
  );

  app.get('/fleet/sites/:code', { preHandler: needs('session') }, async (request, reply) => {
    const range = (request.query as Record<string, string | undefined>)['range'] === '12m' ? '12m' : '30d';
    const page = await renderTimeline(fleetOf(request), viewOf(request), (request.params as { code: string }).code, range, langOf(request), now());
    if (!page) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such site');
    return html(request, reply, page);
  });

  app.get('/api/v1/fleet', { preHandler: needs('session-or-token') }, async (request) => {
    const region = (request.query as Record<string, string | undefined>)['region'] || undefined;
    const rows = await fleetOf(request).grid({ region, nowMs: now() });
    return {
      silent_after_s: o.silentAfterMs / 1000,
      sites: rows.map((r) => ({ ...r, silent: r.last_received_at !== null && isSilent(r, now(), o.silentAfterMs) })),
    };
  });

  app.get('/api/v1/fleet/sites/:code/timeline', { preHandler: needs('session-or-token') }, async (request) => {
    const range = (request.query as Record<string, string | undefined>)['range'] === '12m' ? '12m' : '30d';
    const code = (request.params as { code: string }).code;
    const timeline = await fleetOf(request).timeline(code, range, now());
    if (timeline.points.length === 0 && timeline.alerts.length === 0)
      throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such site, or nothing measured in that range');
    return { site_key: code, range, ...timeline };
  });

  app.get('/api/v1/fleet/sites/:code/calls', { preHandler: needs('session-or-token') }, async (request) => {
    const code = (request.params as { code: string }).code;
    const months = await fleetOf(request).callsByMonth(code, now());
    if (months.length === 0) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such site, or no call counted in the last twelve months');
    return { site_key: code, note: ACTS_SOURCE, months };
  });

  app.get('/api/v1/sites', { preHandler: needs('session-or-token') }, async (request) => {
    const view = viewOf(request);
    const [{ rows, total }, verdicts] = await Promise.all([view.sites(), view.verdictCounts()]);
    return { total, verdicts, sites: rows };
  });

  app.get('/api/v1/status', { preHandler: needs('session-or-token') }, async (request) => {
    const national = scopeOf(request.reader!.roles).kind === 'all';
    // intake counters are about every site: national readers only
    return { status: 'ok', reports: await viewOf(request).count(), ...(national ? { intake: o.intake.counters } : {}) };
  });

  // -- one's account and tokens

  app.get('/account', { preHandler: needs('session') }, async (request, reply) => {
    const reader = request.reader!;
    return reply.type('text/html; charset=utf-8').send(
      accountPage({
        lang: langOf(request),
        user: reader.user,
        roles: reader.roles,
        csrf: reply.generateCsrf(),
        tokens: await o.access.apiTokens(reader.user),
        tokensAllowed: true,
      }),
    );
  });

  app.post('/account/tokens', { preHandler: [needs('session'), csrfProtection] }, async (request, reply) => {
    const reader = request.reader!;
    const given = (request.body as Record<string, unknown>)['label'];
    const label = (typeof given === 'string' ? given : '').trim().slice(0, 64) || 'token';
    const made = await o.access.createApiToken(reader.user, label, reader.roles, new Date(now()));
    o.log.info({ event: 'collector.token_created', user: reader.user, token_id: made.id, label, remote: request.ip }, `${reader.user} made token ${made.id}`);
    return reply.type('text/html; charset=utf-8').send(
      accountPage({
        lang: langOf(request),
        user: reader.user,
        roles: reader.roles,
        csrf: reply.generateCsrf(),
        tokens: await o.access.apiTokens(reader.user),
        newToken: made.token,
        tokensAllowed: true,
      }),
    );
  });

  app.post('/account/tokens/:id/revoke', { preHandler: [needs('session'), csrfProtection] }, async (request, reply) => {
    const reader = request.reader!;
    const id = (request.params as { id: string }).id;
    if (!(await o.access.revokeApiToken(id, reader.user))) throw new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such token of yours');
    o.log.info({ event: 'collector.token_revoked', user: reader.user, token_id: id, remote: request.ip }, `${reader.user} revoked token ${id}`);
    return reply.redirect('/account', 303);
  });

  return app;
}

/** Only a path on this collector: never another host (an open redirect). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) && next.length <= 500 ? next : '/';
}

/** Each site's live figures for the follow-up export: the last 30 days, and the last 365 days' calls. */
async function liveFigures(fleet: FleetView, nowMs: number): Promise<Map<string, SiteLiveFigures>> {
  const [thirty, acts] = await Promise.all([fleet.thirtyDays(nowMs), fleet.acts(nowMs)]);
  return new Map([...thirty].map(([site, figures]) => [site, { ...figures, ...(acts.has(site) ? { acts: acts.get(site)! } : {}) }]));
}
