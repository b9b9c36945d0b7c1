import { readFileSync } from 'node:fs';
import { UsmpError } from '../errors.js';

/** Reads a certificate or key file named by the configuration key `key`, or says which and why not. */
export function readPemFile(file: string | undefined, key: string): Buffer {
  if (!file) throw new UsmpError('USMP_E_CONFIG_INVALID', `${key} is required here`);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsmpError('USMP_E_CONFIG_INVALID', `${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`, { cause: err });
  }
}
