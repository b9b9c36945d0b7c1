import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../log/logger.js';
import { DecorrelatedJitter } from '../../bridge/backoff.js';
import type { Alert, AlertSink } from './alert.js';

// Alerts to a webhook: HTTP POST of the alert as JSON, retried with backoff and
// jitter (network errors, 5xx, 429) until `maxAttempts`; then, or on a 4xx refusal, the alert
// goes to a dead-letter file (one JSON line each) so nothing is lost silently. In order, one at
// a time; a bounded queue (the oldest goes to the dead letters when it overflows).

export interface WebhookOptions {
  url: string;
  /** Extra header, e.g. a bearer token read from a secret file (never logged). */
  authorization?: string;
  maxAttempts: number;
  timeoutMs: number;
  deadLetterFile: string;
  log: Logger;
  maxQueue?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Posts any document with an id (the monitor's alerts; the collector's silent-appliance notices). */
export class WebhookSink<T extends { id: string } = Alert> implements AlertSink<T> {
  readonly name = 'webhook';
  readonly #o: WebhookOptions;
  readonly #queue: T[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(options: WebhookOptions) {
    this.#o = options;
  }

  deliver(alert: T): void {
    if (this.#queue.length >= (this.#o.maxQueue ?? 1000)) this.#deadLetter(this.#queue.shift()!, 'queue full');
    this.#queue.push(alert);
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  /** Gives what is queued `graceMs` to go out; what is left goes to the dead-letter file. */
  async close(graceMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#draining, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.#closed = true;
    await this.#draining;
    for (const alert of this.#queue.splice(0)) this.#deadLetter(alert, 'daemon stopping');
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const alert = this.#queue[0]!;
      const backoff = new DecorrelatedJitter(this.#o.baseDelayMs ?? 1000, this.#o.maxDelayMs ?? 60_000);
      let outcome = 'not sent';
      for (let attempt = 1; attempt <= this.#o.maxAttempts && !this.#closed; attempt++) {
        outcome = await this.#post(alert);
        if (outcome === 'ok' || outcome.startsWith('refused')) break;
        if (attempt < this.#o.maxAttempts) {
          await new Promise((r) => setTimeout(r, backoff.next()));
          if (this.#closed) break;
        }
      }
      if (this.#closed && outcome !== 'ok') return; // close() dead-letters what is left
      this.#queue.shift();
      if (outcome !== 'ok') this.#deadLetter(alert, outcome);
    }
  }

  async #post(alert: T): Promise<string> {
    try {
      const response = await fetch(this.#o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.#o.authorization ? { authorization: this.#o.authorization } : {}) },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return 'ok';
      if (response.status >= 400 && response.status < 500 && response.status !== 429) return `refused with HTTP ${response.status}`;
      return `HTTP ${response.status}`;
    } catch (err) {
      return (err as Error).name === 'TimeoutError'
        ? 'timed out'
        : `unreachable (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`;
    }
  }

  #deadLetter(alert: T, reason: string): void {
    this.#o.log.error(
      { event: 'alert.dead_letter', sink: this.name, alert_id: alert.id, reason, file: this.#o.deadLetterFile },
      `webhook alert kept in the dead-letter file: ${reason}`,
    );
    try {
      mkdirSync(dirname(this.#o.deadLetterFile), { recursive: true, mode: 0o700 });
      appendFileSync(this.#o.deadLetterFile, `${JSON.stringify({ reason, at: new Date().toISOString(), alert })}\n`, { mode: 0o600 });
    } catch (err) {
      this.#o.log.error({ event: 'alert.dead_letter_failed', err: (err as Error).message }, 'cannot write the dead-letter file');
    }
  }
}
