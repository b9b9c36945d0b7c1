import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import { INTAKE_PATH } from '../../report/upload/collector-client.js';
import type { ReportIntake } from '../report-intake.js';
import { fastifyOptions, type DoorOptions } from './door-options.js';
import { errorBody, errorHandler, rateLimitRefusal, SECURITY_HEADERS } from './http-errors.js';

// The appliances' door: POST of a signed report, and /health. No session, no cookie: the
// signed document is the credential (report-intake.ts checks it). Requests per address are
// limited before the body is read, so a flood costs little and never stops another
// appliance's report.

export async function intakeDoor(o: DoorOptions & { intake: ReportIntake; log: Logger; maxReportBytes: number }): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions(o, o.maxReportBytes));
  app.server.maxConnections = o.maxConnections;
  app.server.headersTimeout = 15_000;
  const generic = errorHandler(o.log, 'intake');
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // counted and logged as the intake's own refusal
    if (err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return generic(err, request, reply);
    const answer = o.intake.refuse('USMP_E_REPORT_TOO_LARGE', `larger than ${o.maxReportBytes} bytes`, request.ip);
    void reply.code(answer.status).header('connection', 'close').send(answer.body);
  });
  app.setNotFoundHandler(
    (request, reply) =>
      void reply
        .code(404)
        .headers(SECURITY_HEADERS)
        .send(errorBody('USMP_E_NOT_FOUND', `nothing at ${request.url.slice(0, 100)}: appliances POST to ${INTAKE_PATH}`)),
  );
  await app.register(rateLimit, { max: o.requestsPerMinute, timeWindow: 60_000, cache: 10_000, errorResponseBuilder: rateLimitRefusal });
  // the intake reads the text itself: strict parse, canonical form
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.post(INTAKE_PATH, async (request, reply) => {
    if (typeof request.body !== 'string') return reply.code(415).send(errorBody('USMP_E_BAD_REQUEST', 'POST the signed report.json as application/json'));
    const answer = await o.intake.accept(request.body, request.ip);
    return reply.code(answer.status).send(answer.body);
  });
  return app;
}
