import { listLeaves } from './schema.js';

/** One thing wrong with the configuration, located by its key path. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** The declared key closest to a mistyped one, when it is close enough to be a typo. */
export function nearestKey(path: string): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const { path: key } of listLeaves()) {
    const distance = levenshtein(path, key);
    if (!best || distance < best.distance) best = { key, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(path.length / 5)) ? best.key : undefined;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Byte offset in a JSON text → 1-based line and column, for syntax errors. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { line, column };
}
