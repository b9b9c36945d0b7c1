import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import type { Logger } from 'pino';
import { UsmpError } from '../errors.js';
import { errorBody, HttpRefusal } from '../collector/http/http-errors.js';
import { ByteMeter } from './byte-meter.js';
import type { StationSession } from './station-session.js';
import { STATION_PAGE_CSP, stationPageHtml } from './page/station-page.js';
import { STATION_SCRIPT } from './page/station-script.js';
import { STATION_STYLE } from './page/station-style.js';
import { placeSubmissionSchema, type PlaceSubmission } from './place-submission.js';
import type { PlaceBook } from './place-book.js';

// The station test page's door, on the unit's LAN over HTTPS: the page and its script (nothing
// from elsewhere: a strict CSP), the session code traded for a cookie, and the measurement
// endpoints — latency probes, a download source, an upload sink whose octets this side counts.
// Everything but the page, its assets and the code exchange needs the session's cookie.

export const SESSION_COOKIE = '__Host-usmp_station';
/** The longest download one request may ask for, and the largest upload body: a phase is seconds long. */
export const MAX_TRANSFER_BYTES = 1 << 30;
export const MAX_UPLOAD_BODY = 64 << 20;
/** The first seconds of a transfer phase left out of its rate (slow start, a shaper's burst). */
export const OMIT_MS = 2000;

const HEADERS = {
  'content-security-policy': STATION_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'strict-transport-security': 'max-age=31536000',
};

export interface StationServerOptions {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer };
  session: StationSession;
  places: PlaceBook;
  lang: 'fr' | 'en';
  /** What the page shows as the site (establishment and unit). */
  siteLabel: string;
  streams: number;
  log: Logger;
}

/** Incompressible filler for downloads (TLS does not compress; random octets keep any middlebox honest). */
const FILLER = randomBytes(256 * 1024);

function downloadStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    highWaterMark: FILLER.length,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

export class StationServer {
  readonly #app: FastifyInstance;
  readonly #o: StationServerOptions;
  readonly #upload = new ByteMeter();

  private constructor(app: FastifyInstance, o: StationServerOptions) {
    this.#app = app;
    this.#o = o;
  }

  static async start(o: StationServerOptions): Promise<StationServer> {
    const app = Fastify({
      logger: false,
      bodyLimit: 16 * 1024,
      connectionTimeout: 60_000,
      requestTimeout: 120_000,
      keepAliveTimeout: 30_000,
      // the session's end closes the door at once, even on a transfer still running
      forceCloseConnections: true,
      https: { cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' },
      // a field the schema does not know is refused, not silently dropped (fastify's default)
      ajv: { customOptions: { removeAdditional: false } },
    });
    // a session is one browser: a few dozen connections at most
    app.server.maxConnections = 64;
    const server = new StationServer(app, o);
    await server.#routes();
    await app.listen({ host: o.host, port: o.port });
    return server;
  }

  get port(): number {
    return (this.#app.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await this.#app.close();
  }

  #refuse(reply: FastifyReply, request: FastifyRequest, err: unknown): FastifyReply {
    const code = err instanceof UsmpError || err instanceof HttpRefusal ? err.code : 'USMP_E_INTERNAL';
    const status = err instanceof HttpRefusal ? err.statusCode : code === 'USMP_E_STATION_ENDED' ? 410 : code === 'USMP_E_STATION_CODE' ? 401 : 500;
    const reason = status === 500 ? 'internal error' : (err as Error).message;
    const details = err instanceof UsmpError ? err.details : undefined;
    this.#o.log.warn({ event: 'station.request_refused', code, remote: request.ip, url: request.url.slice(0, 200), reason }, `station: refused: ${reason}`);
    return reply
      .code(status)
      .headers(HEADERS)
      .type('application/json; charset=utf-8')
      .send(details ? { error: { ...errorBody(code, reason).error, details } } : errorBody(code, reason));
  }

  #authenticated(request: FastifyRequest): void {
    this.#o.session.check(request.cookies[SESSION_COOKIE]);
  }

  async #routes(): Promise<void> {
    const app = this.#app;
    const o = this.#o;
    await app.register(cookie);
    app.setErrorHandler((err, request, reply) => {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 413) return this.#refuse(reply, request, new HttpRefusal(413, 'USMP_E_BAD_REQUEST', 'request body too large'));
      if (status !== undefined && status >= 400 && status < 500)
        return this.#refuse(reply, request, new HttpRefusal(status, 'USMP_E_BAD_REQUEST', (err as Error).message));
      return this.#refuse(reply, request, err);
    });
    app.setNotFoundHandler((request, reply) => this.#refuse(reply, request, new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'nothing is served here')));
    app.addHook('onSend', async (_request, reply) => {
      void reply.headers(HEADERS);
    });
    // Upload bodies are counted as they arrive and dropped, never buffered.
    app.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      let bytes = 0;
      let finished = false;
      const finish = (err: Error | null): void => {
        if (finished) return;
        finished = true;
        done(err, err ? undefined : { bytes });
      };
      // a parser that reads the stream itself enforces the limit itself
      const tooLarge = (): HttpRefusal => new HttpRefusal(413, 'USMP_E_BAD_REQUEST', `an upload body is at most ${MAX_UPLOAD_BODY} octets`);
      if (Number(request.headers['content-length'] ?? 0) > MAX_UPLOAD_BODY) {
        finish(tooLarge());
        return;
      }
      payload.on('data', (chunk: Buffer) => {
        if (finished) return; // what follows a refusal is drained, not counted
        bytes += chunk.length;
        if (bytes > MAX_UPLOAD_BODY) {
          finish(tooLarge());
          return;
        }
        this.#upload.add(chunk.length);
      });
      payload.on('end', () => finish(null));
      payload.on('error', (err) => finish(err));
      // the page aborts its uploads when a phase ends: the connection closes mid-body, which is
      // the normal end of an upload here (its octets were counted as they came)
      payload.on('close', () => finish(null));
    });

    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(stationPageHtml(o.lang, o.siteLabel)));
    app.get('/station.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(STATION_SCRIPT));
    app.get('/station.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(STATION_STYLE));

    app.post(
      '/api/session',
      { schema: { body: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: { type: 'string', maxLength: 16 } } } } },
      async (request, reply) => {
        try {
          const token = o.session.enter((request.body as { code: string }).code);
          o.log.info({ event: 'station.session_opened', remote: request.ip }, 'station: a browser opened the session');
          void reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
          return { expires_at: new Date(o.session.expiresAt).toISOString(), streams: o.streams, omit_ms: OMIT_MS };
        } catch (err) {
          return this.#refuse(reply, request, err);
        }
      },
    );

    // Every other endpoint: the session's cookie first, before any body is read.
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      if (!path.startsWith('/api/') || path === '/api/session') return;
      try {
        this.#authenticated(request);
      } catch (err) {
        return this.#refuse(reply, request, err);
      }
    });

    app.get('/api/ping', async (_request, reply) => reply.code(204).send());

    app.get(
      '/api/download',
      { schema: { querystring: { type: 'object', properties: { bytes: { type: 'integer', minimum: 1, maximum: MAX_TRANSFER_BYTES } }, required: ['bytes'] } } },
      async (request, reply) => {
        const { bytes } = request.query as { bytes: number };
        return reply.type('application/octet-stream').header('content-length', String(bytes)).send(downloadStream(bytes));
      },
    );

    app.post('/api/upload/start', async () => {
      this.#upload.start();
      return { started: true };
    });
    app.post('/api/upload', async (request) => ({ received: (request.body as { bytes: number }).bytes }));
    app.post('/api/upload/stop', async () => {
      this.#upload.stop();
      return { up: this.#upload.mbps(OMIT_MS), total_bytes: this.#upload.totalBytes };
    });

    app.post('/api/places', { schema: { body: placeSubmissionSchema } }, async (request, reply) => {
      try {
        const up = this.#upload.mbps(OMIT_MS);
        const id = o.places.submit(request.body as PlaceSubmission, up, request.ip);
        return reply.code(202).send({ id });
      } catch (err) {
        return this.#refuse(reply, request, err);
      }
    });
    app.get(
      '/api/places/:id',
      { schema: { params: { type: 'object', properties: { id: { type: 'integer', minimum: 0, maximum: 1000 } } } } },
      async (request, reply) => {
        const place = o.places.get((request.params as { id: number }).id);
        if (!place) return this.#refuse(reply, request, new HttpRefusal(404, 'USMP_E_NOT_FOUND', 'no such place in this session'));
        return place.view();
      },
    );
    app.post('/api/finish', async () => {
      o.session.end('closed');
      return { ended: true };
    });
  }
}
