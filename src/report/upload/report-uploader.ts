import type { ErrorCode } from '../../errors.js';
import type { Logger } from 'pino';
import { DecorrelatedJitter } from '../../bridge/backoff.js';
import type { PostReport } from './collector-client.js';
import type { PendingReport, ReportOutbox } from './report-outbox.js';

// Drains the report outbox to the collector, oldest first, one report at a time (reports are
// rare and small). Taken (201) or already there (200: the collector is idempotent by
// report_id) → deleted. Refused (4xx but 408/429) → set aside with the collector's reason,
// never retried. No answer or 5xx → the pass stops and resumes after a decorrelated-jitter
// delay: appliances cut off by one outage do not come back in step.

export interface UploaderOptions {
  outbox: ReportOutbox;
  post: PostReport;
  log: Logger;
  expiryDays: number;
  retryMinS: number;
  retryMaxS: number;
  now?: () => number;
  random?: () => number;
}

export interface PassResult {
  delivered: number;
  duplicates: number;
  rejected: number;
  expired: number;
  /** Reports left because the collector did not answer. */
  left: number;
  error?: string;
}

const DAY_MS = 86_400_000;

export class ReportUploader {
  readonly #o: UploaderOptions;
  readonly #now: () => number;
  readonly #backoff: DecorrelatedJitter;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<PassResult> | undefined;
  #stopped = true;

  constructor(o: UploaderOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#backoff = new DecorrelatedJitter(o.retryMinS * 1000, o.retryMaxS * 1000, o.random);
  }

  /** One pass over the outbox; concurrent calls share the pass in progress. */
  runOnce(): Promise<PassResult> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** A new report was queued: try now rather than at the next retry. */
  nudge(): void {
    if (!this.#stopped) this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.runOnce().then((result) => {
        if (this.#stopped) return;
        if (result.left > 0) this.#schedule(this.#backoff.next());
        else this.#backoff.reset();
      });
    }, delayMs);
    this.#timer.unref?.();
  }

  async #pass(): Promise<PassResult> {
    const result: PassResult = { delivered: 0, duplicates: 0, rejected: 0, expired: 0, left: 0 };
    const pending = this.#o.outbox.pending();
    for (let i = 0; i < pending.length; i++) {
      const report = pending[i]!;
      if (this.#now() - report.queuedAtMs > this.#o.expiryDays * DAY_MS) {
        this.#setAside(report, 'expired', `not taken by the collector within ${this.#o.expiryDays} days`);
        result.expired++;
        continue;
      }
      let answer;
      try {
        answer = await this.#o.post(report.text);
      } catch (err) {
        result.left = pending.length - i;
        result.error = (err as Error).message;
        this.#o.log.warn(
          { event: 'report.upload_failed', report_id: report.id, pending: result.left, err: result.error },
          `the collector did not answer (${result.error}); ${result.left} report(s) wait in the outbox`,
        );
        return result;
      }
      if (answer.status === 201 || answer.status === 200) {
        this.#o.outbox.delivered(report);
        if (answer.status === 200) result.duplicates++;
        else result.delivered++;
        this.#o.log.info(
          { event: 'report.uploaded', report_id: report.id, collector_status: answer.body.status ?? answer.status },
          'report delivered to the national collector',
        );
      } else if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 && answer.status !== 429) {
        const reason = `${answer.body.error?.code ?? `HTTP ${answer.status}`}: ${answer.body.error?.reason ?? 'refused'}`;
        this.#setAside(report, 'rejected', reason);
        result.rejected++;
      } else {
        result.left = pending.length - i;
        result.error = `HTTP ${answer.status}`;
        this.#o.log.warn(
          { event: 'report.upload_failed', report_id: report.id, pending: result.left, status: answer.status },
          `the collector answered ${answer.status}; retrying later`,
        );
        return result;
      }
    }
    return result;
  }

  #setAside(report: PendingReport, where: 'rejected' | 'expired', reason: string): void {
    const path = this.#o.outbox.setAside(report, where, reason);
    const code: ErrorCode = where === 'rejected' ? 'USMP_E_COLLECTOR_REFUSED' : 'USMP_E_REPORT_EXPIRED';
    this.#o.log.error(
      { event: `report.${where}`, code, report_id: report.id, reason, path },
      `report ${report.id} ${where === 'rejected' ? 'refused by the collector' : 'expired'}: ${reason}; kept in ${path}`,
    );
  }
}
