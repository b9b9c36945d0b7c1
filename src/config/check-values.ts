import { customFormats } from './formats.js';
import { nearestKey, type ConfigProblem } from './problems.js';
import { listLeaves, schemaDefinition } from './schema.js';

// The configuration checked against its schema, each problem located by its key path as data:
// the keys of the file against the schema's tree, then every value against its leaf's format.
// convict loads, merges and coerces; its validate() is not used, so no problem has to be read
// back out of its English messages (an upgrade that reworded them would lose every path).

type Format = unknown;

/** Keys of the file that the schema does not declare, each with the declared key it is closest to. */
export function unknownKeys(document: Record<string, unknown> | null): ConfigProblem[] {
  return document ? walk(document, schemaDefinition, '') : [];
}

function walk(given: Record<string, unknown>, schema: Record<string, unknown>, prefix: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(given)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const node = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (node === undefined || typeof node !== 'object' || node === null) {
      const near = nearestKey(path);
      problems.push({ path, message: `unknown key${near ? ` (did you mean ${near}?)` : ''}` });
    } else if (isLeaf(node)) {
      continue; // its value is the format's to judge, whatever its shape
    } else if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ path, message: `must be an object with the keys ${Object.keys(node).join(', ')}` });
    } else {
      problems.push(...walk(value as Record<string, unknown>, node as Record<string, unknown>, path));
    }
  }
  return problems;
}

function isLeaf(node: object): boolean {
  return 'doc' in node && 'default' in node;
}

/** Every value checked against its leaf's format; `get` reads a value by its key path. */
export function formatProblems(get: (path: string) => unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { path, leaf } of listLeaves()) {
    const message = checkFormat(leaf.format, get(path), leaf);
    if (message) problems.push({ path, message });
  }
  return problems;
}

/** convict's own formats, with their meaning [convict README, "Validation"]. */
const BUILT_IN: Record<string, (value: unknown) => string | undefined> = {
  '*': () => undefined,
  int: (v) => (Number.isInteger(v) ? undefined : 'must be a whole number'),
  nat: (v) => (Number.isInteger(v) && (v as number) >= 0 ? undefined : 'must be a whole number, 0 or more'),
  port: (v) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65_535 ? undefined : 'must be a port number, 0 to 65535'),
};

function checkFormat(format: Format, value: unknown, leaf: object): string | undefined {
  if (Array.isArray(format)) return format.includes(value) ? undefined : `must be one of ${format.map((v) => JSON.stringify(v)).join(', ')}`;
  if (format === String) return typeof value === 'string' ? undefined : 'must be a string';
  if (format === Boolean) return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (format === Number) return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
  if (typeof format !== 'string') return 'has a format the schema does not know';
  const builtIn = BUILT_IN[format];
  if (builtIn) return builtIn(value);
  const custom = customFormats.find((f) => f.name === format);
  if (!custom?.validate) return `has an unknown format ${format}`;
  try {
    custom.validate(value, leaf as never);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
