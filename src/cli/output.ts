import { asUsmpError, type UsmpError } from '../errors.js';

// Human output goes to stderr so that stdout stays clean for --json documents and pipes:
// with --json, stdout holds one JSON document and nothing else.

export const EXIT = { OK: 0, MEASURED_FAIL: 1, ERROR: 2 } as const;

export interface Output {
  say(line: string): void;
  json(document: unknown): void;
}

export const consoleOutput: Output = {
  say: (line) => process.stderr.write(`${line}\n`),
  json: (document) => process.stdout.write(`${JSON.stringify(document, null, 2)}\n`),
};

/** One line: `usmp-edge: CODE: what was wrong — what to do: …`, then located problems. */
export function formatError(error: UsmpError): string {
  const lines = [`usmp-edge: ${error.code}: ${error.message} — what to do: ${error.hint}`];
  const problems = error.details?.['problems'];
  if (Array.isArray(problems)) {
    for (const p of problems as Array<{ path: string; message: string }>) lines.push(`  - ${p.path}: ${p.message}`);
  }
  return lines.join('\n');
}

export function reportError(thrown: unknown, out: Output, asJson: boolean): number {
  const error = asUsmpError(thrown);
  if (asJson) out.json({ error: error.toJSON() });
  out.say(formatError(error));
  return EXIT.ERROR;
}
