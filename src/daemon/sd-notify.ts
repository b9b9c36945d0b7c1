import { createRequire } from 'node:module';
import type { Logger } from '../log/logger.js';

// systemd readiness and watchdog [sd_notify(3)]: "READY=1", "RELOADING=1", "STOPPING=1",
// "STATUS=…" and "WATCHDOG=1" on the datagram socket $NOTIFY_SOCKET. node:dgram has no
// AF_UNIX datagrams, so this goes through unix-dgram (an optional native module; the npm
// sd-notify package wraps the same call). The watchdog is fed from the event loop: a loop that hangs
// stops feeding it and systemd restarts the service (WatchdogSec=).

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}

export class SystemdNotifier {
  readonly #path: string | undefined;
  readonly #log: Logger;
  #socket: UnixDgramSocket | undefined;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(log: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.#log = log;
    const path = env.NOTIFY_SOCKET;
    this.#path = path?.startsWith('@') ? `\0${path.slice(1)}` : path; // abstract socket
    if (!this.#path) return;
    try {
      const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
      this.#socket = unixDgram.createSocket('unix_dgram');
      this.#socket.on('error', (err) => log.warn({ event: 'systemd.notify_failed', err: err.message }, 'cannot notify systemd'));
    } catch (err) {
      log.error(
        { event: 'systemd.notify_unavailable', err: (err as Error).message },
        'NOTIFY_SOCKET is set but unix-dgram is not built: systemd will not see the service ready (npm rebuild unix-dgram)',
      );
    }
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    if (usec > 0 && forUs) {
      this.#watchdog = setInterval(() => this.send('WATCHDOG=1'), Math.max(500, usec / 1000 / 2));
      this.#watchdog.unref();
    }
  }

  get active(): boolean {
    return this.#socket !== undefined;
  }

  send(state: string): void {
    if (!this.#socket || !this.#path) return;
    const message = Buffer.from(state);
    this.#socket.send(message, 0, message.length, this.#path, (err) => {
      if (err) this.#log.warn({ event: 'systemd.notify_failed', err: err.message }, 'cannot notify systemd');
    });
  }

  close(): void {
    clearInterval(this.#watchdog);
    this.#socket?.close();
    this.#socket = undefined;
  }
}
