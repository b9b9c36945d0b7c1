import { readFileSync } from 'node:fs';
import convict from 'convict';
import { UsmpError } from '../errors.js';
import { crossCheck } from './cross-checks.js';
import { customFormats } from './formats.js';
import { formatProblems, unknownKeys } from './check-values.js';
import { lineAndColumn, type ConfigProblem } from './problems.js';
import { schemaWithEnv, type ConfigDefinition } from './schema.js';
import { readSecrets, SecretStore, type ReadText } from './secrets.js';

export const DEFAULT_CONFIG_FILE = '/etc/usmp-edge/config.json';

type Values = ValuesOf<ConfigDefinition>;
// An enumerated key keeps its values' literal type (its format is a readonly list); any other
// leaf has the widened type of its default.
type ValuesOf<T> = T extends { format: readonly (infer E)[]; default: unknown }
  ? E
  : T extends { default: infer D }
    ? Widen<D>
    : { [K in keyof T]: ValuesOf<T[K]> };
type Widen<D> = D extends string ? string : D extends number ? number : D extends boolean ? boolean : D;

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The validated, frozen configuration values (no secrets: those live in the SecretStore). */
export type ConfigValues = DeepReadonly<Values>;

export interface LoadedConfig {
  values: ConfigValues;
  secrets: SecretStore;
  /** The file that was read, or null when only defaults and environment applied. */
  source: string | null;
}

export interface LoadOptions {
  /** The file to read; DEFAULT_CONFIG_FILE when absent. */
  file?: string;
  /** True when the user named the file: then a missing file is an error. */
  explicit?: boolean;
  env?: NodeJS.ProcessEnv;
  readText?: ReadText;
}

let formatsAdded = false;

/**
 * Defaults < file < USMP_EDGE_* environment. Collects every problem (unknown keys, wrong
 * types, unreadable secrets, cross-field rules) before failing, so one run lists them all.
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  if (!formatsAdded) {
    convict.addFormats(Object.fromEntries(customFormats.map((f) => [f.name ?? '', f] as const)));
    formatsAdded = true;
  }
  const readText = options.readText ?? ((path: string) => readFileSync(path, 'utf8'));
  const file = options.file ?? DEFAULT_CONFIG_FILE;
  const document = readDocument(file, options.explicit ?? options.file !== undefined, readText);

  const config = convict(schemaWithEnv() as unknown as convict.Schema<Values>, { env: options.env ?? process.env, args: [] });
  if (document) config.load(document);
  const problems: ConfigProblem[] = [...formatProblems((path) => config.get(path as never)), ...unknownKeys(document)];
  const values = config.getProperties();
  // A secret key whose value is already wrong (not an absolute path) is not read as well.
  const alreadyWrong = new Set(problems.map((p) => p.path));
  // Files read through an injected reader (tests) are not on disk: their access is not checked.
  const checkAccess = options.readText ? () => undefined : undefined;
  const secrets = readSecrets((path) => (alreadyWrong.has(path) ? undefined : config.get(path as never)), readText, checkAccess);
  problems.push(...secrets.problems);
  if (problems.length === 0) problems.push(...crossCheck(values));

  const source = document ? file : null;
  if (problems.length > 0) {
    throw new UsmpError('USMP_E_CONFIG_INVALID', `${problems.length} problem(s) in the configuration${source ? ` ${source}` : ''}`, {
      details: { source, problems },
    });
  }
  return { values: deepFreeze(values), secrets: secrets.store, source };
}

function readDocument(file: string, explicit: boolean, readText: ReadText): Record<string, unknown> | null {
  let text: string;
  try {
    text = readText(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return null;
    throw new UsmpError('USMP_E_CONFIG_NOT_FOUND', `cannot read configuration file ${file} (${code ?? 'error'})`, {
      cause: err,
      details: { source: file },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message);
    const where = position?.[1] ? lineAndColumn(text, Number(position[1])) : undefined;
    throw new UsmpError('USMP_E_CONFIG_SYNTAX', `${file}${where ? `:${where.line}:${where.column}` : ''}: ${(err as Error).message}`, {
      cause: err,
      details: { source: file, ...where },
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsmpError('USMP_E_CONFIG_INVALID', `${file}: the top level must be a JSON object`, {
      details: { source: file, problems: [{ path: '(root)', message: 'must be a JSON object' }] },
    });
  }
  return parsed as Record<string, unknown>;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
