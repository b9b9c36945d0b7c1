import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { UsmpError } from '../../errors.js';
import { login, RouterSession } from './session.js';

// Opens the API session: api-ssl with the router's certificate checked against our CA (an
// anonymous-DH api-ssl is refused by OpenSSL 3 at its default level, and would not
// authenticate the router anyway), or plain api when tls is off (lab use only).

export interface RouterConnectOptions {
  host: string;
  port: number;
  tls: boolean;
  caFile: string;
  username: string;
  password: string;
  commandTimeoutMs: number;
  connectTimeoutMs?: number;
  /** Name the certificate must carry when it differs from host (an IP address, often). */
  servername?: string;
}

export async function connectRouter(o: RouterConnectOptions): Promise<RouterSession> {
  const socket = await openSocket(o);
  const session = new RouterSession(socket, o.commandTimeoutMs);
  try {
    await login(session, o.username, o.password);
  } catch (err) {
    session.close();
    throw err;
  }
  return session;
}

function openSocket(o: RouterConnectOptions): Promise<Socket> {
  const timeoutMs = o.connectTimeoutMs ?? o.commandTimeoutMs;
  return new Promise((resolve, reject) => {
    let socket: Socket;
    const fail = (err: Error & { code?: string }): void => {
      clearTimeout(timer);
      socket.destroy();
      const tlsProblem = typeof err.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME/i.test(err.code);
      reject(
        new UsmpError(tlsProblem ? 'USMP_E_ROUTER_TLS' : 'USMP_E_ROUTER_CONNECT', `cannot open the API session to ${o.host}:${o.port}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    if (o.tls) {
      let ca: Buffer | undefined;
      if (o.caFile) {
        try {
          ca = readFileSync(o.caFile);
        } catch (err) {
          reject(new UsmpError('USMP_E_ROUTER_TLS', `cannot read qos.routeros.ca_file ${o.caFile}: ${(err as Error).message}`));
          return;
        }
      }
      socket = tlsConnect(
        {
          host: o.host,
          port: o.port,
          ...(ca ? { ca } : {}),
          ...(o.servername ? { servername: o.servername } : isIP(o.host) ? {} : { servername: o.host }),
          rejectUnauthorized: true,
        },
        () => {
          clearTimeout(timer);
          socket.removeListener('error', fail);
          resolve(socket);
        },
      );
    } else {
      socket = netConnect({ host: o.host, port: o.port }, () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    }
    const timer = setTimeout(() => fail(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('error', fail);
  });
}
