import { UsmpError } from '../../errors.js';

// RouterOS API framing [help.mikrotik.com "API" §Protocol]: a word is a variable-width
// big-endian length then its bytes; a sentence is words ended by a zero-length word.
// Decoding never throws: a bad stream is reported as a value, so a socket callback cannot
// crash the process (node-routeros throws there, issues #10/#26).

export function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x4000) return Buffer.from([(length >> 8) | 0x80, length & 0xff]);
  if (length < 0x200000) return Buffer.from([(length >> 16) | 0xc0, (length >> 8) & 0xff, length & 0xff]);
  if (length < 0x10000000) return Buffer.from([(length >>> 24) | 0xe0, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = 0xf0;
  out.writeUInt32BE(length, 1);
  return out;
}

/**
 * Words are 8-bit text that the router shows as win1252; Node's latin1 encoding would silently
 * cut anything beyond it ('€' becomes 0xAC, 'ł' becomes 'B'). We send ASCII only, and refuse the
 * rest with the word's name (never its value: it may be the password).
 */
export function encodeSentence(words: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const word of words) {
    if (!isAscii(word))
      throw new UsmpError('USMP_E_ROUTER_TEXT', `${wordName(word)} holds a character outside ASCII, which the RouterOS API cannot carry faithfully`);
    const bytes = Buffer.from(word, 'latin1');
    parts.push(encodeLength(bytes.length), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- ASCII includes its control characters
  return /^[\x00-\x7f]*$/.test(text);
}

/** `=password=…` → "the attribute password"; a command word names itself. */
function wordName(word: string): string {
  const attribute = /^[=?]([^=]*)=/.exec(word);
  return attribute ? `the attribute ${attribute[1]}` : word.startsWith('/') ? `the command ${word.replace(/[^\x20-\x7e]/g, '?')}` : 'a word';
}

export type DecodeEvent = { sentence: string[] } | { error: string };

/** What one reply may hold: a router never sends words or sentences near these sizes. */
export interface DecoderLimits {
  maxWordBytes: number;
  maxSentenceBytes: number;
}

const DEFAULT_LIMITS: DecoderLimits = { maxWordBytes: 1024 * 1024, maxSentenceBytes: 4 * 1024 * 1024 };

/**
 * Incremental decoder: feed it chunks as they arrive (frames may be split anywhere). A word or a
 * sentence over its bound is an error at once, so a peer that is not a router (or a broken one)
 * cannot make it buffer without bound until the command's timeout.
 */
export class SentenceDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  #words: string[] = [];
  #sentenceBytes = 0;
  #broken = false;
  readonly #limits: DecoderLimits;

  constructor(limits: DecoderLimits = DEFAULT_LIMITS) {
    this.#limits = limits;
  }

  push(chunk: Buffer): DecodeEvent[] {
    if (this.#broken) return [];
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const events: DecodeEvent[] = [];
    for (;;) {
      const header = readLength(this.#buffer);
      if (header === undefined) break;
      const refusal =
        'error' in header
          ? header.error
          : header.length > this.#limits.maxWordBytes
            ? `a word of ${header.length} octets announced, over the ${this.#limits.maxWordBytes}-octet bound`
            : this.#sentenceBytes + header.length > this.#limits.maxSentenceBytes
              ? `a sentence over the ${this.#limits.maxSentenceBytes}-octet bound`
              : undefined;
      if (refusal !== undefined || 'error' in header) {
        this.#broken = true;
        this.#buffer = Buffer.alloc(0);
        events.push({ error: refusal! });
        break;
      }
      if (this.#buffer.length < header.headerBytes + header.length) break;
      const word = this.#buffer.subarray(header.headerBytes, header.headerBytes + header.length).toString('latin1');
      this.#buffer = this.#buffer.subarray(header.headerBytes + header.length);
      if (header.length === 0) {
        if (this.#words.length > 0) events.push({ sentence: this.#words }); // empty sentences are ignored
        this.#words = [];
        this.#sentenceBytes = 0;
      } else {
        this.#words.push(word);
        this.#sentenceBytes += header.length;
      }
    }
    return events;
  }
}

function readLength(buf: Buffer): { length: number; headerBytes: number } | { error: string } | undefined {
  if (buf.length === 0) return undefined;
  const b = buf[0]!;
  const need = b < 0x80 ? 1 : b < 0xc0 ? 2 : b < 0xe0 ? 3 : b < 0xf0 ? 4 : b === 0xf0 ? 5 : 0;
  if (need === 0) return { error: `control byte 0x${b.toString(16)} where a word length was expected` };
  if (buf.length < need) return undefined;
  switch (need) {
    case 1:
      return { length: b, headerBytes: 1 };
    case 2:
      return { length: ((b & 0x3f) << 8) | buf[1]!, headerBytes: 2 };
    case 3:
      return { length: ((b & 0x1f) << 16) | (buf[1]! << 8) | buf[2]!, headerBytes: 3 };
    case 4:
      return { length: (b & 0x0f) * 0x1000000 + (buf[1]! << 16) + (buf[2]! << 8) + buf[3]!, headerBytes: 4 };
    default:
      return { length: buf.readUInt32BE(1), headerBytes: 5 };
  }
}

/**
 * `=name=value` words of a reply (the value may itself contain '='); a word `=name` with no
 * second '=' is the property with an empty value, as go-routeros reads it (proto/reader.go:
 * "=key=value, =key").
 */
export function attributesOf(words: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    if (!w.startsWith('=') || w.length < 2) continue;
    const cut = w.indexOf('=', 1);
    if (cut < 0) out[w.slice(1)] = '';
    else if (cut > 1) out[w.slice(1, cut)] = w.slice(cut + 1);
  }
  return out;
}

export function tagOf(words: readonly string[]): string | undefined {
  return words.find((w) => w.startsWith('.tag='))?.slice(5);
}
