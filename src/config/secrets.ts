import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { UsmpError } from '../errors.js';
import { SECRET_FILE_FORMAT } from './formats.js';
import { checkSecretFileAccess } from './secret-file-access.js';
import { listLeaves } from './schema.js';
import type { ConfigProblem } from './problems.js';

const MASK = '********';

/**
 * Secrets read from `*_file` keys. The clear values are reachable only through get(); every
 * way of printing the store (JSON, util.inspect, template strings) shows a mask instead.
 */
export class SecretStore {
  readonly #values = new Map<string, string>();

  set(name: string, value: string): void {
    this.#values.set(name, value);
  }

  /** `bridge.upstream.password` for the key `bridge.upstream.password_file`. */
  get(name: string): string | undefined {
    return this.#values.get(name);
  }

  names(): string[] {
    return [...this.#values.keys()];
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.names().map((name) => [name, MASK]));
  }

  toString(): string {
    return `[SecretStore: ${this.names().join(', ') || 'empty'}]`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export type ReadText = (path: string) => string;

const readUtf8: ReadText = (path) => readFileSync(path, 'utf8');

/** `bridge.upstream.password_file` → `bridge.upstream.password`. */
export function secretNameFor(keyPath: string): string {
  return keyPath.replace(/_file$/, '');
}

/**
 * Reads every non-empty secret-file key; each unreadable, empty or unsafe file (open to other
 * users, or owned by another user: secret-file-access.ts) is one problem.
 */
export function readSecrets(
  getValue: (path: string) => unknown,
  readText: ReadText = readUtf8,
  checkAccess: (file: string) => void = checkSecretFileAccess,
): { store: SecretStore; problems: ConfigProblem[] } {
  const store = new SecretStore();
  const problems: ConfigProblem[] = [];
  for (const { path, leaf } of listLeaves()) {
    if (leaf.format !== SECRET_FILE_FORMAT) continue;
    const file = getValue(path);
    if (typeof file !== 'string' || file === '') continue;
    let text: string;
    try {
      checkAccess(file);
      text = readText(file);
    } catch (err) {
      if (err instanceof UsmpError) {
        problems.push({ path, message: err.message });
        continue;
      }
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push({ path, message: `cannot read secret file ${file} (${code})` });
      continue;
    }
    // A trailing newline comes from editors and `echo`; it is never part of the secret.
    const secret = text.replace(/\r?\n$/, '');
    if (secret === '') problems.push({ path, message: `secret file ${file} is empty` });
    else store.set(secretNameFor(path), secret);
  }
  return { store, problems };
}
