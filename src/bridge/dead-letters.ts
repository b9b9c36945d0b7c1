import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeRecord, type OutboxMessage } from './outbox/record.js';

// Messages the hospital broker refused outright (an MQTT 5 PUBACK reason code ≥ 0x80, e.g.
// 0x87 not authorized) are not dropped: they go to rejected.log in the outbox directory, in
// the outbox's own record format, before they leave the outbox: nothing is dropped silently.
export class DeadLetters {
  readonly file: string;
  #handle: FileHandle | undefined;
  count = 0;

  constructor(dir: string) {
    this.file = join(dir, 'rejected.log');
  }

  async add(message: OutboxMessage): Promise<void> {
    this.#handle ??= await open(this.file, 'a', 0o600);
    await this.#handle.write(encodeRecord(message));
    await this.#handle.datasync();
    this.count++;
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }
}
