// A JSON parser for documents from other hosts [RFC 8259]. JSON.parse takes the last of
// duplicate member names (§4 leaves it open) while a canonicaliser or another reader may
// take the first, so one signed text could be read two ways: duplicates are refused. Nesting
// is bounded before it can exhaust the stack. Member names such as "__proto__" become own
// properties, as JSON.parse makes them.

export class StrictJsonError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'StrictJsonError';
    this.offset = offset;
  }
}

export interface StrictJsonLimits {
  /** Objects and arrays nested deeper than this are refused. */
  maxDepth: number;
}

// RFC 8259 §6 number, §7 string (the JSON.parse of the token decodes its escapes)
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- RFC 8259 §7: control characters must be escaped
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WHITESPACE = /[ \t\n\r]*/y;

export function parseStrictJson(text: string, limits: StrictJsonLimits): unknown {
  let at = 0;

  const skipWhitespace = (): void => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };

  const token = (pattern: RegExp, what: string): string => {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) throw new StrictJsonError(`expected ${what}`, at);
    at = pattern.lastIndex;
    return match[0];
  };

  const literal = (word: string, value: unknown): unknown => {
    if (!text.startsWith(word, at)) throw new StrictJsonError('unexpected character', at);
    at += word.length;
    return value;
  };

  const value = (depth: number): unknown => {
    skipWhitespace();
    const c = text[at];
    if (c === '{' || c === '[') {
      if (depth >= limits.maxDepth) throw new StrictJsonError(`nesting deeper than ${limits.maxDepth}`, at);
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return JSON.parse(token(STRING, 'a string')) as string;
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      const numberAt = at;
      const number = Number(token(NUMBER, 'a number'));
      // §6: a number beyond IEEE 754 double range has no agreed value
      if (!Number.isFinite(number)) throw new StrictJsonError('number out of range', numberAt);
      return number;
    }
    throw new StrictJsonError(c === undefined ? 'unexpected end' : 'unexpected character', at);
  };

  const object = (depth: number): Record<string, unknown> => {
    at++;
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    skipWhitespace();
    if (text[at] === '}') {
      at++;
      return out;
    }
    for (;;) {
      skipWhitespace();
      const nameAt = at;
      const name = JSON.parse(token(STRING, 'a member name')) as string;
      if (seen.has(name)) throw new StrictJsonError(`duplicate member ${JSON.stringify(name.slice(0, 64))}`, nameAt);
      seen.add(name);
      skipWhitespace();
      if (text[at] !== ':') throw new StrictJsonError("expected ':'", at);
      at++;
      Object.defineProperty(out, name, { value: value(depth), enumerable: true, writable: true, configurable: true });
      skipWhitespace();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === '}') {
        at++;
        return out;
      }
      throw new StrictJsonError("expected ',' or '}'", at);
    }
  };

  const array = (depth: number): unknown[] => {
    at++;
    const out: unknown[] = [];
    skipWhitespace();
    if (text[at] === ']') {
      at++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      skipWhitespace();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === ']') {
        at++;
        return out;
      }
      throw new StrictJsonError("expected ',' or ']'", at);
    }
  };

  const result = value(0);
  skipWhitespace();
  if (at !== text.length) throw new StrictJsonError('unexpected data after the document', at);
  return result;
}
