import { Duplex } from 'node:stream';
type ByteStream = Duplex & { remoteAddress?: string | undefined };

// Sits between a device's socket and aedes. It follows the MQTT framing of the bytes it
// passes (fixed header, remaining length [MQTT 3.1.1 §2.2.3]) and cuts the connection before
// an oversized or malformed packet is buffered: aedes 1.2 has no packet-size option (its
// README lists none; mqtt-packet's parser takes any length up to 256 MiB), so without this a device could make it hold 256 MiB.

export type GuardViolation = 'oversized' | 'malformed' | 'retained';

export interface GuardOptions {
  maxPacketBytes: number;
  /** A retained PUBLISH longer than this is refused on its first octets, before its body is buffered; undefined: no such limit. */
  maxRetainedPacketBytes?: number;
  onViolation: (kind: GuardViolation, detail: string) => void;
}

export class MqttFramingGuard {
  #state: 'type' | 'length' | 'body' = 'type';
  #multiplier = 1;
  #length = 0;
  #lengthBytes = 0;
  #remaining = 0;
  #retained = false;
  readonly #max: number;
  readonly #maxRetained: number;

  constructor(maxPacketBytes: number, maxRetainedPacketBytes = Number.POSITIVE_INFINITY) {
    this.#max = maxPacketBytes;
    this.#maxRetained = maxRetainedPacketBytes;
  }

  /** Follows `chunk`; returns a violation, or undefined when the bytes are well framed so far. */
  feed(chunk: Buffer): { kind: GuardViolation; detail: string } | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'type') {
        const type = chunk[i]! >> 4;
        if (type === 0 || type === 15) return { kind: 'malformed', detail: `reserved packet type ${type}` };
        this.#retained = type === 3 && (chunk[i]! & 1) === 1; // PUBLISH with RETAIN [MQTT 3.1.1 §3.3.1.3]
        this.#state = 'length';
        this.#multiplier = 1;
        this.#length = 0;
        this.#lengthBytes = 0;
        i++;
      } else if (this.#state === 'length') {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        this.#lengthBytes++;
        if (byte & 0x80) {
          if (this.#lengthBytes === 4) return { kind: 'malformed', detail: 'remaining length longer than 4 bytes' };
          continue;
        }
        if (this.#length > this.#max) return { kind: 'oversized', detail: `packet of ${this.#length} bytes over the limit of ${this.#max}` };
        if (this.#retained && this.#length > this.#maxRetained)
          return { kind: 'retained', detail: `retained publish of ${this.#length} bytes over the limit of ${this.#maxRetained}` };
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? 'type' : 'body';
      } else {
        const take = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= take;
        i += take;
        if (this.#remaining === 0) this.#state = 'type';
      }
    }
    return undefined;
  }
}

/** A Duplex over the socket that aedes reads from; the socket is paused when aedes is busy. */
export class GuardedConnection extends Duplex {
  readonly socket: ByteStream;
  readonly remoteAddress: string | undefined;
  readonly #framing: MqttFramingGuard;

  constructor(socket: ByteStream, options: GuardOptions) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.#framing = new MqttFramingGuard(options.maxPacketBytes, options.maxRetainedPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      const violation = this.#framing.feed(chunk);
      if (violation) {
        options.onViolation(violation.kind, violation.detail);
        socket.destroy();
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** Called once the device has signed in (the broker's authenticate hook): its slot is kept. */
  authenticated(): void {
    this.emit('authenticated');
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed) {
      callback(new Error('connection closed'));
      return;
    }
    this.socket.write(chunk, callback);
  }

  // Chunks queued while the socket was busy go out in one write (aedes writes each PUBACK
  // on its own; a busy device gets them coalesced instead of one syscall each).
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
