import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { UsmpError } from '../errors.js';
import { warmUpCharts } from '../report/render/charts.js';
import { renderReportHtml } from '../report/render/html-report.js';
import type { Lang } from '../report/render/i18n.js';
import type { ReportDocument } from '../report/report-document.js';
import { INTAKE_PATH } from '../report/upload/collector-client.js';
import { renderDashboard } from './dashboard-page.js';
import { EXPORT_TYPES, exportChunks, type ExportFormat } from './exports.js';
import type { ReportIntake } from './report-intake.js';
import type { ReportStore } from './report-store.js';
import { renderSitePage } from './site-page.js';

// The national collector's HTTP(S) face: the intake (POST), the dashboard and site pages, each
// stored report (JSON as received, or rendered), the exports, /health. One bad request never
// affects another: every handler answers or fails on its own.

export interface CollectorServerOptions {
  store: ReportStore;
  intake: ReportIntake;
  log: Logger;
  host: string;
  port: number;
  maxReportBytes: number;
  tls?: { cert: Buffer; key: Buffer } | undefined;
  now?: () => number;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export class CollectorServer {
  readonly #o: CollectorServerOptions;
  readonly #server: Server;
  readonly #now: () => number;
  port = 0;

  constructor(o: CollectorServerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch((err: Error) => {
        this.#o.log.error({ event: 'collector.request_failed', url: req.url, err: err.message }, 'request failed');
        if (!res.headersSent) this.#send(res, 500, 'application/json', JSON.stringify({ error: { code: 'USMP_E_INTERNAL', reason: 'internal error' } }));
        else res.destroy();
      });
    };
    this.#server = o.tls ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, handler) : createHttpServer(handler);
    this.#server.requestTimeout = 60_000;
    this.#server.headersTimeout = 30_000;
  }

  async listen(): Promise<number> {
    await warmUpCharts();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => reject(new UsmpError('USMP_E_PORT_UNAVAILABLE', `collector ${this.#o.host}:${this.#o.port}: ${err.code ?? err.message}`, { cause: err })));
      this.#server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    this.port = (this.#server.address() as { port: number }).port;
    this.#o.log.info({ event: 'collector.listening', host: this.#o.host, port: this.port, tls: Boolean(this.#o.tls) }, `collector listening on ${this.#o.tls ? 'https' : 'http'}://${this.#o.host}:${this.port}`);
    return this.port;
  }

  async close(): Promise<void> {
    this.#server.closeIdleConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #send(res: ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...SECURITY_HEADERS });
    res.end(body);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    this.#send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://collector.invalid');
      decodeURIComponent(url.pathname);
    } catch {
      return this.#json(res, 400, { error: { code: 'USMP_E_BAD_REQUEST', reason: 'malformed address' } });
    }
    const lang: Lang = url.searchParams.get('lang') === 'en' ? 'en' : 'fr';
    const path = url.pathname;
    if (path === INTAKE_PATH) {
      if (req.method !== 'POST') return this.#json(res, 405, { error: { code: 'USMP_E_USAGE', reason: 'POST a signed report.json here' } });
      return this.#intake(req, res);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.#json(res, 405, { error: { code: 'USMP_E_USAGE', reason: `${req.method ?? '?'} is not served here` } });
    if (path === '/health') return this.#json(res, 200, { status: 'ok', reports: this.#o.store.count(), ...this.#o.intake.counters });
    if (path === '/') {
      const page = Number(url.searchParams.get('page') ?? '1');
      const html = await renderDashboard(this.#o.store, { region: url.searchParams.get('region') || undefined, verdict: url.searchParams.get('verdict') || undefined, page: Number.isInteger(page) ? page : 1 }, lang, this.#now());
      return this.#send(res, 200, 'text/html; charset=utf-8', html);
    }
    const site = /^\/sites\/([^/]+)$/.exec(path);
    if (site) {
      const html = await renderSitePage(this.#o.store, decodeURIComponent(site[1]!), lang, this.#now());
      return html ? this.#send(res, 200, 'text/html; charset=utf-8', html) : this.#json(res, 404, { error: { code: 'USMP_E_NOT_FOUND', reason: 'no such site' } });
    }
    const report = /^\/reports\/([0-9a-f-]{36})\.(json|html)$/.exec(path);
    if (report) {
      const text = this.#o.store.reportText(report[1]!);
      if (text === undefined) return this.#json(res, 404, { error: { code: 'USMP_E_NOT_FOUND', reason: 'no such report' } });
      if (report[2] === 'json') return this.#send(res, 200, 'application/json; charset=utf-8', text);
      return this.#send(res, 200, 'text/html; charset=utf-8', await renderReportHtml(JSON.parse(text) as ReportDocument, lang));
    }
    const exported = /^\/export\/(reports\.csv|reports\.json|pscheduler\.ndjson)$/.exec(path);
    if (exported) {
      const format = (Object.keys(EXPORT_TYPES) as ExportFormat[]).find((f) => EXPORT_TYPES[f].file === exported[1])!;
      res.writeHead(200, { 'content-type': EXPORT_TYPES[format].contentType, 'content-disposition': `attachment; filename="${EXPORT_TYPES[format].file}"`, 'cache-control': 'no-store', ...SECURITY_HEADERS });
      const onSkip = (reportId: string, reason: string) => this.#o.log.warn({ event: 'collector.export_skipped', report_id: reportId, format, reason }, `report ${reportId} left out of ${EXPORT_TYPES[format].file}: ${reason}`);
      for (const chunk of exportChunks(format, this.#o.store.eachReport(), { enrolment: 'checked', onSkip })) {
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
      return;
    }
    this.#json(res, 404, { error: { code: 'USMP_E_NOT_FOUND', reason: `nothing at ${path}` } });
  }

  async #intake(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress;
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () => this.#o.intake.refuse('USMP_E_REPORT_TOO_LARGE', `larger than ${this.#o.maxReportBytes} bytes`, remote);
    if (declared > this.#o.maxReportBytes) {
      const answer = tooLarge();
      res.setHeader('connection', 'close');
      return this.#json(res, answer.status, answer.body);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.#o.maxReportBytes) {
        const answer = tooLarge();
        res.setHeader('connection', 'close');
        this.#json(res, answer.status, answer.body);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    const answer = this.#o.intake.accept(Buffer.concat(chunks).toString('utf8'), remote);
    this.#json(res, answer.status, answer.body);
  }
}
