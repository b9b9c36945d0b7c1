import { closeSync, existsSync, fdatasync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

// Which messages the hospital acknowledged: a watermark (every seq below it is acked) and the
// acks above it, appended to acks.log as u64 little-endian. Acks are written in batches
// without fsync: one lost in a crash only means that message is sent again, and the hospital
// drops the duplicate by its stable id: at most one in-flight window is sent twice. Before a
// segment file is deleted the outbox makes the acks that cover it durable (persist).

const FLUSH_EVERY = 1024;
const COMPACT_BYTES = 1024 * 1024;

export class AckLog {
  #watermark = 0;
  readonly #above = new Set<number>();
  readonly #dir: string;
  #fd: number;
  #buffer: number[] = [];
  #timer: NodeJS.Timeout | undefined;

  private constructor(dir: string) {
    this.#dir = dir;
    const wm = join(dir, 'watermark');
    if (existsSync(wm)) this.#watermark = Number(readFileSync(wm).readBigUInt64LE(0));
    const log = join(dir, 'acks.log');
    if (existsSync(log)) {
      const buf = readFileSync(log);
      for (let i = 0; i + 8 <= buf.length; i += 8) this.#above.add(Number(buf.readBigUInt64LE(i)));
    }
    this.#advance();
    this.#fd = openSync(log, 'a', 0o600);
  }

  static open(dir: string): AckLog {
    return new AckLog(dir);
  }

  get watermark(): number {
    return this.#watermark;
  }

  get ackedAbove(): number {
    return this.#above.size;
  }

  isAcked(seq: number): boolean {
    return seq < this.#watermark || this.#above.has(seq);
  }

  /** False when it was acknowledged already (a duplicate PUBACK). */
  ack(seq: number): boolean {
    if (this.isAcked(seq)) return false;
    this.#above.add(seq);
    this.#advance();
    this.#buffer.push(seq);
    if (this.#buffer.length >= FLUSH_EVERY) this.flush();
    else this.#timer ??= setTimeout(() => this.#flushQuietly(), 50).unref();
    return true;
  }

  /** Acks below a lost range (a corrupt segment) are taken as done so the watermark moves. */
  skip(fromSeq: number, toSeq: number): void {
    for (let seq = fromSeq; seq < toSeq; seq++) this.ack(seq);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length === 0) return;
    const buf = Buffer.allocUnsafe(this.#buffer.length * 8);
    this.#buffer.forEach((seq, i) => buf.writeBigUInt64LE(BigInt(seq), i * 8));
    this.#buffer = [];
    writeSync(this.#fd, buf);
    if (statSync(join(this.#dir, 'acks.log')).size > COMPACT_BYTES) this.#compact();
  }

  /** Writes what is buffered and resolves once it is on stable storage (fdatasync(2) in the thread pool). */
  async persist(): Promise<void> {
    this.flush();
    const fd = this.#fd;
    await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  // From a timer there is nobody to throw to: an ack that cannot be written (disk gone) only
  // means that message is sent again after a restart, so the daemon must not die of it.
  #flushQuietly(): void {
    try {
      this.flush();
    } catch {
      this.#timer = undefined;
    }
  }

  close(): void {
    this.flush();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
  }

  #advance(): void {
    while (this.#above.delete(this.#watermark)) this.#watermark++;
  }

  /** Watermark first (synced, renamed), then the log without what it covers. */
  #compact(): void {
    const wm = Buffer.allocUnsafe(8);
    wm.writeBigUInt64LE(BigInt(this.#watermark));
    atomicWrite(join(this.#dir, 'watermark'), wm);
    const rest = Buffer.allocUnsafe(this.#above.size * 8);
    [...this.#above].forEach((seq, i) => rest.writeBigUInt64LE(BigInt(seq), i * 8));
    closeSync(this.#fd);
    atomicWrite(join(this.#dir, 'acks.log'), rest);
    this.#fd = openSync(join(this.#dir, 'acks.log'), 'a', 0o600);
  }
}

function atomicWrite(file: string, data: Buffer): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}
