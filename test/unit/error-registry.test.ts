import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/errors.js';
import { errorCodesPage } from '../../scripts/error-codes-doc.js';

// The registry of error codes holds: every registered code is raised somewhere, nothing
// raises a code it does not hold, and docs/error-codes.md says what each one means.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CODE = /\bUSMP_E_[A-Z_]+\b/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const registered = new Set(Object.keys(ERROR_CODES));
const raised = new Map<string, string[]>();
for (const file of sources(join(ROOT, 'src'))) {
  if (file.endsWith(join('src', 'errors.ts'))) continue;
  for (const code of readFileSync(file, 'utf8').match(CODE) ?? []) raised.set(code, [...(raised.get(code) ?? []), file.slice(ROOT.length)]);
}

t.test('every registered code is raised somewhere in src/', async (t) => {
  const never = [...registered].filter((c) => !raised.has(c));
  t.same(never, [], `registered, never raised: ${never.join(', ') || 'none'}`);
});

t.test('nothing raises a code the registry does not hold', async (t) => {
  const unknown = [...raised].filter(([c]) => !registered.has(c)).map(([c, files]) => `${c} (${[...new Set(files)].join(', ')})`);
  t.same(unknown, [], `raised, not registered: ${unknown.join('; ') || 'none'}`);
});

t.test('docs/error-codes.md is the registry as it is (npm run docs:errors)', async (t) => {
  t.equal(readFileSync(join(ROOT, 'docs', 'error-codes.md'), 'utf8'), errorCodesPage());
});
