import { readFileSync, statSync } from 'node:fs';
import { UsmpError } from '../errors.js';
import { writeFileDurably } from '../exec/durable-file.js';
import { isPasswordHash } from './password-hash.js';

// The enrolled devices: one JSON file (mode 0600) of names and password hashes, written
// atomically (temp file, fsync, rename). The broker re-reads it when it changed, so
// `device add|remove` takes effect at the next CONNECT without a restart.

/** A device name is also its MQTT client id: 3.1.1 servers must accept 1–23 characters [MQTT-3.1.3-5]. */
export const DEVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,22}$/;

export interface DeviceRecord {
  name: string;
  passwordHash: string;
  createdAt: string;
  description: string;
}

interface FileShape {
  version: 1;
  devices: Array<{ name: string; password_hash: string; created_at: string; description?: string }>;
}

export function checkDeviceName(name: string): void {
  if (!DEVICE_NAME.test(name)) {
    throw new UsmpError('USMP_E_USAGE', `device name ${JSON.stringify(name)} is not valid`, {
      hint: 'Use 1 to 23 characters: lower-case letters, digits, - and _, starting with a letter or digit (e.g. ecg-1).',
    });
  }
}

export class DeviceRegistry {
  readonly #file: string;
  #devices = new Map<string, DeviceRecord>();
  #mtimeMs = -1;

  constructor(file: string) {
    this.#file = file;
  }

  get file(): string {
    return this.#file;
  }

  /** Reads the file again if it changed since the last read; a missing file is no devices. */
  refresh(): void {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.#file).mtimeMs;
    } catch {
      this.#devices.clear();
      this.#mtimeMs = -1;
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    this.#devices = parseRegistry(readFileSync(this.#file, 'utf8'), this.#file);
    this.#mtimeMs = mtimeMs;
  }

  get(name: string): DeviceRecord | undefined {
    this.refresh();
    return this.#devices.get(name);
  }

  list(): DeviceRecord[] {
    this.refresh();
    return [...this.#devices.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  add(record: DeviceRecord): void {
    checkDeviceName(record.name);
    this.refresh();
    if (this.#devices.has(record.name)) {
      throw new UsmpError('USMP_E_DEVICE_EXISTS', `device ${record.name} is already enrolled`);
    }
    this.#devices.set(record.name, record);
    this.#write();
  }

  remove(name: string): void {
    this.refresh();
    if (!this.#devices.delete(name)) throw new UsmpError('USMP_E_DEVICE_UNKNOWN', `no device named ${name} is enrolled`);
    this.#write();
  }

  #write(): void {
    const shape: FileShape = {
      version: 1,
      devices: [...this.#devices.values()].map((d) => ({ name: d.name, password_hash: d.passwordHash, created_at: d.createdAt, description: d.description })),
    };
    writeFileDurably(this.#file, `${JSON.stringify(shape, null, 2)}\n`);
    this.#mtimeMs = -1; // re-read on next use, in case two writes land in one mtime tick
  }
}

function parseRegistry(text: string, file: string): Map<string, DeviceRecord> {
  const bad = (what: string) => new UsmpError('USMP_E_DEVICE_REGISTRY', `${file}: ${what}`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  const shape = data as Partial<FileShape>;
  if (typeof data !== 'object' || data === null || shape.version !== 1 || !Array.isArray(shape.devices)) {
    throw bad('expected {"version": 1, "devices": [...]}');
  }
  const out = new Map<string, DeviceRecord>();
  shape.devices.forEach((d, i) => {
    if (typeof d?.name !== 'string' || !DEVICE_NAME.test(d.name)) throw bad(`devices[${i}].name is not a valid device name`);
    if (typeof d.password_hash !== 'string' || !isPasswordHash(d.password_hash)) throw bad(`devices[${i}].password_hash is not a scrypt hash`);
    if (out.has(d.name)) throw bad(`devices[${i}]: ${d.name} appears twice`);
    out.set(d.name, { name: d.name, passwordHash: d.password_hash, createdAt: String(d.created_at ?? ''), description: String(d.description ?? '') });
  });
  return out;
}
