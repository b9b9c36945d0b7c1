import type { Logger } from '../../log/logger.js';
import type { Alert, AlertSink } from './alert.js';

// Alerts on the local broker: every alert on the event topic, and the link's
// current state retained on the state topic, so a supervision client that connects later reads
// it at once. Readers are enrolled devices named in monitor.alert_readers (broker ACL).

export interface LocalPublisher {
  publishLocal(topic: string, payload: Buffer, qos: 0 | 1, retain?: boolean): Promise<void>;
}

export class MqttSink implements AlertSink {
  readonly name = 'mqtt';
  constructor(
    private readonly broker: LocalPublisher,
    private readonly topics: { state: string; events: string },
    private readonly log: Logger,
  ) {}

  deliver(alert: Alert): void {
    this.#publish(this.topics.events, alert, false);
  }

  publishState(state: unknown): void {
    this.#publish(this.topics.state, state, true);
  }

  #publish(topic: string, document: unknown, retain: boolean): void {
    this.broker.publishLocal(topic, Buffer.from(JSON.stringify(document)), 1, retain).catch((err: Error) => {
      this.log.error({ event: 'alert.sink_failed', sink: this.name, topic, err: err.message }, 'cannot publish the alert on the local broker');
    });
  }
}
