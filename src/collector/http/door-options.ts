import type { FastifyReply, FastifyServerOptions } from 'fastify';
import { errorBody, SECURITY_HEADERS } from './http-errors.js';

// What both doors share: TLS (or plain HTTP to a proxy on this host), timeouts, and the
// connection cap.

export interface DoorOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** Plain HTTP behind a TLS proxy on this host: the client's address comes from X-Forwarded-For set by it. */
  behindProxy: boolean;
  maxConnections: number;
  requestsPerMinute: number;
}

export function fastifyOptions(o: DoorOptions, bodyLimit: number): FastifyServerOptions & { https?: { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' } } {
  return {
    logger: false,
    bodyLimit,
    // a slow client cannot hold a connection for ever
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
    keepAliveTimeout: 5_000,
    maxParamLength: 200,
    trustProxy: o.behindProxy ? ['127.0.0.1', '::1'] : false,
    // what the router refuses before any route (a malformed address): our error shape too
    frameworkErrors: (error, _request, generic) => {
      const reply = generic as unknown as FastifyReply;
      void reply
        .code(400)
        .headers(SECURITY_HEADERS)
        .send(errorBody('USMP_E_BAD_REQUEST', error.code === 'FST_ERR_BAD_URL' ? 'malformed address' : error.message));
    },
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' as const } } : {}),
  };
}
