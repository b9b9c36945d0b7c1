import type { Logger } from '../../log/logger.js';
import type { Alert, AlertSink } from './alert.js';

// Alerts in the logs: journald/syslog pick them up from the service's stdout.
export class LogSink implements AlertSink {
  readonly name = 'log';
  constructor(private readonly log: Logger) {}

  deliver(alert: Alert): void {
    const fields = { event: `alert.${alert.kind}`, alert };
    if (alert.kind === 'cleared') this.log.info(fields, alert.message);
    else this.log.warn(fields, alert.message);
  }
}
