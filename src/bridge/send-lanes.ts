import type { BridgeOutbox } from './upstream-bridge.js';
import type { OutboxMessage } from './outbox/record.js';

// The in-flight window of one upstream connection, in two lanes. The backlog lane drains what
// was stored before the connection came up, pipelined (up to window − reserve in flight, not one
// per round trip); the live lane sends what arrives after, with a reserved share of the window,
// so a fresh ECG is not queued behind an hour of backlog. Order is kept within each lane.
// Eclipse Kura's data service does the like with message priorities.

export interface SendLanesOptions {
  outbox: BridgeOutbox;
  window: number;
  now: () => number;
  send: (message: OutboxMessage, acked: () => void) => void;
  /** Wraps the sending of one batch (the bridge corks its socket: one write for the batch). */
  batch?: (sendAll: () => void) => void;
  onError: (err: Error) => void;
}

type Lane = 'backlog' | 'live';

export class SendLanes {
  readonly #o: SendLanesOptions;
  readonly #reserve: number;
  readonly #refillAt: number;
  readonly #liveStart: number;
  #backlogCursor: number;
  #liveCursor: number;
  #backlogDone = false;
  readonly #inFlight = new Map<number, { lane: Lane; sentAt: number }>();
  #backlogInFlight = 0;
  #pumping = false;
  #again = false;
  #closed = false;

  constructor(options: SendLanesOptions) {
    this.#o = options;
    this.#reserve = Math.max(1, Math.floor(options.window / 4));
    this.#refillAt = Math.max(1, Math.floor(options.window / 8));
    this.#backlogCursor = options.outbox.watermark;
    this.#liveStart = options.outbox.nextSeq;
    this.#liveCursor = this.#liveStart;
    if (this.#backlogCursor >= this.#liveStart) this.#backlogDone = true;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get backlogDrained(): boolean {
    return this.#backlogDone && this.#backlogInFlight === 0;
  }

  /** When the longest-waiting message in flight was sent (Map order is send order). */
  get oldestSentAt(): number | undefined {
    return this.#inFlight.values().next().value?.sentAt;
  }

  closeForNew(): void {
    this.#closed = true;
  }

  pump(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    this.#run()
      .catch((err: Error) => this.#o.onError(err))
      .finally(() => {
        this.#pumping = false;
      });
  }

  async #run(): Promise<void> {
    do {
      this.#again = false;
      await this.#fillLive();
      await this.#fillBacklog();
    } while (this.#again && !this.#closed);
  }

  async #fillLive(): Promise<void> {
    const room = this.#o.window - this.#inFlight.size;
    if (room <= 0 || this.#liveCursor >= this.#o.outbox.nextSeq) return;
    const messages = await this.#o.outbox.read(this.#liveCursor, room);
    this.#dispatchAll(messages, 'live');
    if (messages.length > 0) this.#liveCursor = messages.at(-1)!.seq + 1;
  }

  async #fillBacklog(): Promise<void> {
    if (this.#backlogDone) return;
    const room = Math.min(this.#o.window - this.#reserve - this.#backlogInFlight, this.#o.window - this.#inFlight.size);
    if (room <= 0) return;
    const messages = (await this.#o.outbox.read(this.#backlogCursor, room)).filter((m) => m.seq < this.#liveStart);
    if (messages.length === 0) {
      this.#backlogDone = true;
      return;
    }
    this.#dispatchAll(messages, 'backlog');
    this.#backlogCursor = messages.at(-1)!.seq + 1;
  }

  #dispatchAll(messages: OutboxMessage[], lane: Lane): void {
    if (messages.length === 0) return;
    const sendAll = () => {
      for (const m of messages) this.#dispatch(m, lane);
    };
    if (this.#o.batch) this.#o.batch(sendAll);
    else sendAll();
  }

  #dispatch(message: OutboxMessage, lane: Lane): void {
    if (this.#closed || this.#inFlight.has(message.seq)) return;
    this.#inFlight.set(message.seq, { lane, sentAt: this.#o.now() });
    if (lane === 'backlog') this.#backlogInFlight++;
    this.#o.send(message, () => {
      const entry = this.#inFlight.get(message.seq);
      if (!entry) return;
      this.#inFlight.delete(message.seq);
      if (entry.lane === 'backlog') this.#backlogInFlight--;
      // refill in batches of an eighth of the window, not one read per acknowledgement
      if (this.#o.window - this.#inFlight.size >= this.#refillAt) this.pump();
    });
  }
}
