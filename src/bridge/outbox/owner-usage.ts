// How much of the outbox each owner (a device) holds: messages and payload bytes stored and not
// yet acknowledged by the hospital. Each stored seq remembers its owner in chunked typed arrays
// (6 octets per pending message), so an acknowledgement releases its owner's share in O(1)
// without keeping the messages in memory.

const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;

interface Chunk {
  owner: Uint16Array; // owner index + 1; 0: none
  bytes: Uint32Array;
  live: number;
}

export interface Usage {
  messages: number;
  bytes: number;
}

export class OwnerUsage {
  readonly #usage = new Map<string, Usage>();
  readonly #names: string[] = [];
  readonly #index = new Map<string, number>();
  readonly #chunks = new Map<number, Chunk>();

  of(owner: string): Usage {
    return this.#usage.get(owner) ?? { messages: 0, bytes: 0 };
  }

  /** Counts a message being stored (before its seq is final). */
  charge(owner: string, bytes: number): void {
    const u = this.#usage.get(owner) ?? { messages: 0, bytes: 0 };
    u.messages++;
    u.bytes += bytes;
    this.#usage.set(owner, u);
  }

  /** Takes back a charge whose message was not stored. */
  uncharge(owner: string, bytes: number): void {
    const u = this.#usage.get(owner);
    if (!u) return;
    u.messages--;
    u.bytes -= bytes;
    if (u.messages <= 0) this.#usage.delete(owner);
  }

  /** The stored message `seq` is the owner's (already charged), until release(seq). */
  bind(seq: number, owner: string, bytes: number): void {
    let index = this.#index.get(owner);
    if (index === undefined) {
      if (this.#names.length >= 0xfffe) return; // more owners than a Uint16 names: their usage still counts, it is only not released by seq
      index = this.#names.push(owner) - 1;
      this.#index.set(owner, index);
    }
    const key = Math.floor(seq / CHUNK);
    let chunk = this.#chunks.get(key);
    if (!chunk) {
      chunk = { owner: new Uint16Array(CHUNK), bytes: new Uint32Array(CHUNK), live: 0 };
      this.#chunks.set(key, chunk);
    }
    const at = seq % CHUNK;
    if (chunk.owner[at] === 0) chunk.live++;
    chunk.owner[at] = index + 1;
    chunk.bytes[at] = bytes;
  }

  /** The message `seq` left the outbox (acknowledged): its owner's share is released. */
  release(seq: number): void {
    const key = Math.floor(seq / CHUNK);
    const chunk = this.#chunks.get(key);
    const at = seq % CHUNK;
    const index = chunk?.owner[at];
    if (!chunk || !index) return;
    this.uncharge(this.#names[index - 1]!, chunk.bytes[at]!);
    chunk.owner[at] = 0;
    if (--chunk.live === 0) this.#chunks.delete(key);
  }
}
