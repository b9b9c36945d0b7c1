import { isIP } from 'node:net';
import type convict from 'convict';

// Formats convict lacks (its `url`/`ipaddress` need validator.js, which rejects mqtts://).
// Each throws an Error whose message convict prefixes with the key path.

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export const SECRET_FILE_FORMAT = 'secret-file';

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
      let url: URL;
      try {
        url = new URL(String(value));
      } catch {
        throw new Error('must be a URL such as mqtts://broker.example:8883');
      }
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
    name: 'non-negative-number',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error('must be a number, 0 or more');
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
