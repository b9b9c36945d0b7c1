import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { UsmpError } from '../errors.js';

// One station test session: a short code shown on the appliance, typed on the cart's page, and
// a time limit. The code is worth a few guesses only: after MAX_WRONG_CODES wrong ones the
// session ends, so a host on the unit's LAN has at most 10 tries in 10^6 before it must ask the
// auditor for a new session. A right code gives the browser a random token (a cookie); the
// newest token alone is valid: one browser measures at a time, and a page reloaded after a
// crash gets the session back with the code.

export const MAX_WRONG_CODES = 10;
export const CODE_DIGITS = 6;

export type SessionEnd = 'expired' | 'closed' | 'too-many-codes';

export interface StationSessionOptions {
  ttlMs: number;
  now?: () => number;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class StationSession {
  readonly code: string;
  readonly startedAt: number;
  readonly expiresAt: number;
  readonly #now: () => number;
  #token: string | undefined;
  #wrongCodes = 0;
  #ended: SessionEnd | undefined;
  readonly #onEnd: Array<(why: SessionEnd) => void> = [];

  constructor(o: StationSessionOptions) {
    this.#now = o.now ?? Date.now;
    this.code = String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
    this.startedAt = this.#now();
    this.expiresAt = this.startedAt + o.ttlMs;
  }

  /** Why the session ended, or undefined while it runs (the time limit is checked here too). */
  get ended(): SessionEnd | undefined {
    if (!this.#ended && this.#now() >= this.expiresAt) this.end('expired');
    return this.#ended;
  }

  onEnd(listener: (why: SessionEnd) => void): void {
    this.#onEnd.push(listener);
  }

  end(why: SessionEnd): void {
    if (this.#ended) return;
    this.#ended = why;
    this.#token = undefined;
    for (const listener of this.#onEnd) listener(why);
  }

  /** Trades the code for a session token; a wrong code counts against the session. */
  enter(code: unknown): string {
    this.#refuseIfEnded();
    if (typeof code !== 'string' || !sameText(code.trim(), this.code)) {
      this.#wrongCodes++;
      const left = MAX_WRONG_CODES - this.#wrongCodes;
      if (left <= 0) {
        this.end('too-many-codes');
        throw new UsmpError('USMP_E_STATION_CODE', 'wrong code; too many wrong codes, the session has ended', { details: { attempts_left: 0 } });
      }
      throw new UsmpError('USMP_E_STATION_CODE', `wrong code (${left} attempt${left === 1 ? '' : 's'} left)`, { details: { attempts_left: left } });
    }
    this.#token = randomBytes(32).toString('base64url');
    return this.#token;
  }

  /** Throws unless the token is the session's newest one and the session still runs. */
  check(token: string | undefined): void {
    this.#refuseIfEnded();
    if (token === undefined || this.#token === undefined || !sameText(token, this.#token))
      throw new UsmpError('USMP_E_STATION_CODE', 'no session on this browser: type the code first');
  }

  #refuseIfEnded(): void {
    const why = this.ended;
    if (why) {
      const text = { expired: 'its time ran out', closed: 'it was closed', 'too-many-codes': 'too many wrong codes were typed' }[why];
      throw new UsmpError('USMP_E_STATION_ENDED', `the test session has ended: ${text}`, { details: { ended: why } });
    }
  }
}
