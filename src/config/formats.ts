import { isIP } from 'node:net';
import type convict from 'convict';
import { parseRole } from '../collector/auth/roles.js';
import { CONGESTION_CONTROL_NAME } from '../measure/iperf3/load-model.js';

// Formats convict lacks (its `url`/`ipaddress` need validator.js, which rejects mqtts://).
// Each throws an Error whose message convict prefixes with the key path.

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export const SECRET_FILE_FORMAT = 'secret-file';

/** `127.0.0.1:9469` or `[::1]:9469` (a value the host-port format accepted) → host and port. */
export function splitHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(value.slice(at + 1)) };
}

function parseUrl(value: unknown, example: string): URL {
  try {
    return new URL(String(value));
  } catch {
    throw new Error(`must be a URL such as ${example}`);
  }
}

export const customFormats: convict.Format[] = [
  {
    name: 'ip-address',
    validate(value: unknown) {
      if (typeof value !== 'string' || isIP(value) === 0) {
        throw new Error('must be an IPv4 or IPv6 address such as 0.0.0.0 or ::');
      }
    },
  },
  {
    name: 'host',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string' || (isIP(value) === 0 && !HOSTNAME.test(value))) {
        throw new Error('must be a host name or an IP address');
      }
    },
  },
  {
    name: 'mqtt-url',
    validate(value: unknown) {
      if (value === '') return;
      const url = parseUrl(value, 'mqtts://broker.example:8883');
      if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) {
        throw new Error(`scheme ${url.protocol} is not one of mqtt:, mqtts:, ws:, wss:`);
      }
      if (url.password) throw new Error('must not carry a password; use the *_file secret key');
    },
  },
  {
    // A path to a file holding one secret; the loader reads it, convict only checks the shape.
    name: SECRET_FILE_FORMAT,
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string' || !value.startsWith('/')) {
        throw new Error('must be an absolute path to a file holding the secret (or empty)');
      }
    },
  },
  {
    name: 'positive-number',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new Error('must be a number greater than 0');
      }
    },
  },
  {
    name: 'positive-int',
    coerce: (value: unknown) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
    validate(value: unknown) {
      if (!Number.isInteger(value) || (value as number) <= 0) throw new Error('must be a whole number greater than 0');
    },
  },
  {
    name: 'non-negative-number',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error('must be a number, 0 or more');
    },
  },
  {
    name: 'congestion-control',
    validate(value: unknown) {
      if (typeof value !== 'string' || !CONGESTION_CONTROL_NAME.test(value)) throw new Error('must name a TCP congestion control of Linux, e.g. cubic or bbr');
    },
  },
  {
    name: 'flow-count',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 16) throw new Error('must be a whole number of flows from 1 to 16');
    },
  },
  {
    name: 'string-list',
    validate(value: unknown) {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === ''))
        throw new Error('must be a list of non-empty strings, e.g. ["supervision"]');
    },
  },
  {
    name: 'prefix-list',
    validate(value: unknown) {
      const ok = (v: unknown): boolean => {
        if (typeof v !== 'string') return false;
        const [address = '', bits, extra] = v.split('/');
        const family = isIP(address);
        if (family === 0 || extra !== undefined) return false;
        return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
      };
      if (!Array.isArray(value) || !value.every(ok)) throw new Error('must be a list of addresses or prefixes, e.g. ["198.18.0.0/15", "2001:db8::/32"]');
    },
    // from the environment: "198.18.0.0/15,2001:db8::/32"
    coerce: (value: unknown) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p !== '')
        : value,
  },
  {
    name: 'host-port',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.test(value) || Number(value.split(':').at(-1)) > 65535) {
        throw new Error('must be HOST:PORT such as 127.0.0.1:9469 (port 0: any free port), or empty to disable');
      }
    },
  },
  {
    name: 'optional-date',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)))
        throw new Error('must be a date YYYY-MM-DD, or empty');
    },
  },
  {
    name: 'optional-http-url',
    validate(value: unknown) {
      if (value === '') return;
      const url = parseUrl(value, 'https://collector.example:8444');
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`scheme ${url.protocol} is not https: (or http: behind a TLS proxy)`);
    },
  },
  {
    name: 'optional-postgres-url',
    validate(value: unknown) {
      if (value === '') return;
      const url = parseUrl(value, 'postgres://usmp@db.example:5432/usmp_collector');
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(`scheme ${url.protocol} is not postgres:`);
      // a secret belongs in a file of its own, never in a configuration others may read
      if (url.password) throw new Error('holds a password: put it in collector.postgres.password_file instead');
    },
  },
  {
    name: 'hour',
    validate(value: unknown) {
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 23) throw new Error('must be an hour of the day, 0 to 23');
    },
  },
  {
    name: 'role-map',
    validate(value: unknown) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error('must be an object such as {"GRP-DISP-DIJON": "region:DISP Dijon"}');
      for (const [group, role] of Object.entries(value as Record<string, unknown>)) {
        if (typeof role !== 'string') throw new Error(`group ${JSON.stringify(group)}: the role must be a string`);
        try {
          parseRole(role);
        } catch (err) {
          throw new Error(`group ${JSON.stringify(group)}: ${(err as Error).message}`, { cause: err });
        }
      }
    },
  },
  {
    name: 'broker-listeners',
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error('must be a list of listeners such as [{"type": "tcp", "host": "0.0.0.0", "port": 1883}]');
      value.forEach((l: Record<string, unknown>, i) => {
        const where = `listener ${i}`;
        if (typeof l !== 'object' || l === null) throw new Error(`${where} must be an object`);
        if (!['tcp', 'tls', 'ws'].includes(l.type as string)) throw new Error(`${where}: type must be tcp, tls or ws`);
        if (typeof l.host !== 'string' || isIP(l.host) === 0) throw new Error(`${where}: host must be an IP address such as 0.0.0.0`);
        if (!Number.isInteger(l.port) || (l.port as number) < 0 || (l.port as number) > 65535) throw new Error(`${where}: port must be 0..65535`);
        if (l.type === 'tls' && (typeof l.cert_file !== 'string' || typeof l.key_file !== 'string'))
          throw new Error(`${where}: a tls listener needs cert_file and key_file`);
        if (l.require_client_cert === true && typeof l.ca_file !== 'string') throw new Error(`${where}: require_client_cert needs ca_file`);
        const known = ['type', 'host', 'port', 'cert_file', 'key_file', 'ca_file', 'require_client_cert'];
        const unknown = Object.keys(l).filter((k) => !known.includes(k));
        if (unknown.length > 0) throw new Error(`${where}: unknown key ${unknown.join(', ')} (known: ${known.join(', ')})`);
      });
    },
  },
  {
    // Only the shape here; src/qos/policy.ts checks each class (through crossCheck).
    name: 'qos-classes',
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error('must be a list of classes; see config/qos-policy.example.json');
    },
  },
];
