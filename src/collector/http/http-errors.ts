import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.js';

// One shape for every error either door answers: {"error": {"code", "reason"}}, the code from
// src/errors.ts. Fastify's own and its plugins' errors are mapped to ours here.

export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export class HttpRefusal extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    reason: string,
  ) {
    super(reason);
  }
}

export function errorBody(code: ErrorCode, reason: string): { error: { code: ErrorCode; reason: string } } {
  return { error: { code, reason } };
}

/** Fastify's and plugins' errors, as our code and status. */
function mapped(err: FastifyError & { statusCode?: number }): { status: number; code: ErrorCode; reason: string } {
  if (err instanceof HttpRefusal) return { status: err.statusCode, code: err.code, reason: err.message };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'USMP_E_REPORT_TOO_LARGE', reason: err.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'USMP_E_BAD_REQUEST', reason: 'send application/json' };
    case 'FST_CSRF_INVALID_TOKEN':
    case 'FST_CSRF_MISSING_SECRET':
      return { status: 403, code: 'USMP_E_FORBIDDEN', reason: 'this form is stale or did not come from this collector: reload the page and try again' };
    default:
      break;
  }
  if (err.statusCode === 429) return { status: 429, code: 'USMP_E_RATE_LIMITED', reason: err.message };
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
    return { status: err.statusCode, code: 'USMP_E_BAD_REQUEST', reason: err.message };
  return { status: 500, code: 'USMP_E_INTERNAL', reason: 'internal error' };
}

export function errorHandler(log: Logger, door: string) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const { status, code, reason } = mapped(err);
    if (status >= 500) log.error({ event: 'collector.request_failed', door, url: request.url.slice(0, 200), err: err.message }, 'request failed');
    else log.warn({ event: 'collector.request_refused', door, code, remote: request.ip, url: request.url.slice(0, 200), reason }, `refused: ${reason}`);
    void reply.code(status).headers(SECURITY_HEADERS).type('application/json; charset=utf-8').send(errorBody(code, reason));
  };
}

/** Rate-limit plugin: what it throws when an address is over its limit. */
export function rateLimitRefusal(_request: FastifyRequest, context: { after: string; max: number }): HttpRefusal {
  return new HttpRefusal(429, 'USMP_E_RATE_LIMITED', `more than ${context.max} requests a minute from this address; retry in ${context.after}`);
}
