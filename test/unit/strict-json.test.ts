import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseStrictJson, StrictJsonError } from '../../src/report/strict-json.js';
import { REPORT_FIXTURE } from '../fixtures/national-reports.js';

// The parser documents from other hosts go through: what JSON.parse reads, the same; what two
// readers could read two ways, or what would exhaust the stack, refused with where.

const parse = (text: string, maxDepth = 16) => parseStrictJson(text, { maxDepth });

t.test('reads what JSON.parse reads, the same way', async (t) => {
  const report = readFileSync(REPORT_FIXTURE, 'utf8');
  t.same(parse(report), JSON.parse(report), 'a real report');
  for (const text of ['0', '-0', '1.5e-3', '"a\\u00e9\\n\\"b"', 'true', 'false', 'null', '[]', '{}', ' [1, {"a": [null]}] ', '"\\ud83d\\ude00"']) {
    t.same(parse(text), JSON.parse(text), text);
  }
});

t.test('refuses what JSON.parse refuses, and more', async (t) => {
  const refused = (text: string, what: RegExp, maxDepth = 16) => {
    let thrown: unknown;
    try {
      parse(text, maxDepth);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof StrictJsonError, `${JSON.stringify(text.slice(0, 40))}: refused`);
    t.match((thrown as Error | undefined)?.message, what);
  };
  refused('{"a": 1, "a": 2}', /duplicate member "a" at offset 9/);
  refused('{"x": {"b": 1, "b": 1}}', /duplicate member "b"/);
  refused('{"a\\u0062": 1, "ab": 2}', /duplicate member "ab"/);
  refused('[[[]]]', /nesting deeper than 2/, 2);
  refused('['.repeat(100_000), /nesting deeper than 16/);
  refused('1e400', /number out of range/);
  refused('{"a": 1} x', /unexpected data after the document/);
  refused('{"a": 01}', /expected ',' or '}'/);
  refused('{"a": NaN}', /unexpected character/);
  refused("{'a': 1}", /expected a member name/);
  refused('"tab\there"', /expected a string/);
  refused('[1,]', /unexpected character/);
  refused('', /unexpected end/);
});

t.test('"__proto__" is a member like any other, as JSON.parse makes it', async (t) => {
  const parsed = parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(parsed), Object.prototype, 'the prototype is untouched');
  t.same(Object.keys(parsed), ['__proto__']);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined);
});
