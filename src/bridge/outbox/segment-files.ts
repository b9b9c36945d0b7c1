import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { checkRecord, HEADER_BYTES, MAX_RECORD_BYTES } from './record.js';
import { writeFileDurably } from '../../exec/durable-file.js';

// The outbox's files on their own: checking a segment at recovery, and the outbox's id.

const SCAN_CHUNK = 4 * 1024 * 1024;

/**
 * Checks every record of a segment file through one reused 4 MiB buffer (not the whole file at
 * once: a 64 MiB read per segment would stay in memory until the next major GC). Returns the
 * end of the last good record; a torn or corrupt tail, or a record `onRecord` refuses, is
 * reported from there.
 */
export function scanSegment(
  file: string,
  onRecord: (offset: number, body: Buffer) => string | undefined,
  onProblem: (offset: number, reason: string) => void,
): number {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(SCAN_CHUNK);
    let bufStart = 0;
    let bufLength = 0;
    let offset = 0;
    const refill = (bytes: number) => {
      if (bytes > buf.length) buf = Buffer.allocUnsafe(bytes);
      bufStart = offset;
      bufLength = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
    };
    const check = () => checkRecord(buf.subarray(0, bufLength), offset - bufStart);
    while (offset < size) {
      let checked = check();
      if ('incomplete' in checked && bufStart + bufLength < size) {
        refill(SCAN_CHUNK); // from this record on
        checked = check();
        if ('incomplete' in checked && bufLength >= HEADER_BYTES && bufLength < size - offset) {
          refill(Math.min(HEADER_BYTES + buf.readUInt32LE(0), HEADER_BYTES + MAX_RECORD_BYTES)); // one record larger than the buffer
          checked = check();
        }
      }
      if (!('body' in checked)) {
        onProblem(offset, 'incomplete' in checked ? 'torn record at the end' : checked.corrupt);
        return offset;
      }
      const refused = onRecord(offset, checked.body);
      if (refused) {
        onProblem(offset, refused);
        return offset;
      }
      offset += checked.bytes;
    }
    return offset;
  } finally {
    closeSync(fd);
  }
}

export function outboxId(dir: string): string {
  const file = join(dir, 'id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16}$/.test(id)) return id;
  }
  const id = randomBytes(8).toString('hex');
  writeFileDurably(file, `${id}\n`);
  return id;
}
