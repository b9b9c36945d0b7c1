import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

// Every key under which a secret may travel, at any depth we log. pino's redact takes one
// wildcard per segment, so each depth is listed. A secret never reaches a log line.
const SECRET_KEYS = ['password', 'passphrase', 'secret', 'token', 'authorization', 'private_key', 'privateKey', 'key_pem'];
export const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

export interface LoggerOptions {
  level: LevelWithSilent;
  /** auto: human-readable when the destination is a TTY. */
  pretty: 'auto' | 'always' | 'never';
  /** 1 = stdout (daemons, journald), 2 = stderr (one-shot commands whose stdout is data). */
  fd: 1 | 2;
  /** Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    name: options.name ?? 'usmp-edge',
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    // journald and jq both prefer ISO time to epoch milliseconds.
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  const tty = options.fd === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const pretty = options.pretty === 'always' || (options.pretty === 'auto' && tty === true);
  if (pretty) {
    return pino(base, pinoPretty({ destination: options.fd, sync: true, colorize: tty === true, ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd: options.fd, sync: true }));
}

/** A child logger per module, so every line says where it comes from. */
export function moduleLogger(parent: Logger, module: string): Logger {
  return parent.child({ module });
}
