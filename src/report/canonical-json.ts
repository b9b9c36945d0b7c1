// The bytes a signature covers: the JSON Canonicalization Scheme [RFC 8785]. Object members
// sorted by their UTF-16 code units (§3.2.3, what Array.prototype.sort does on strings),
// no whitespace, numbers and strings as ECMAScript's JSON.stringify writes them (§3.2.2.2,
// §3.2.2.3). Reports hold only finite numbers, strings, booleans, null, arrays and objects.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`cannot canonicalize ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const members = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${members.join(',')}}`;
}
