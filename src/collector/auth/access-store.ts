import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { UsmpError } from '../../errors.js';
import { formatRole, parseRole, type ReaderRole } from './roles.js';

// The collector's people: local accounts (name, scrypt hash, roles), signed-in sessions and
// the bearer tokens users make for spreadsheets and Grafana. In the collector's database, in
// tables of their own. A session id or a token is shown once and kept only as its SHA-256:
// they are 256-bit random values, so a fast hash is enough (a password needs scrypt).

export interface LocalUser {
  name: string;
  roles: ReaderRole[];
  created_at: string;
}

export interface Session {
  user: string;
  source: 'local' | 'oidc';
  roles: ReaderRole[];
  createdAtMs: number;
}

export interface ApiTokenInfo {
  id: string;
  label: string;
  created_at: string;
  last_used_at: string | null;
}

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

const TOKEN = /^usmpc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const rolesText = (roles: readonly ReaderRole[]): string => JSON.stringify(roles.map(formatRole));
const rolesOf = (text: string): ReaderRole[] => (JSON.parse(text) as string[]).map(parseRole);

export class AccessStore {
  readonly #db: Database.Database;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('busy_timeout = 5000');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, source TEXT NOT NULL, roles TEXT NOT NULL, created_at INTEGER NOT NULL, seen_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS api_tokens (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, user TEXT NOT NULL, label TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL, last_used_at TEXT) WITHOUT ROWID;
      `);
    } catch (err) {
      throw new UsmpError('USMP_E_REPORT_STORE', `cannot open the database ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  // -- local accounts

  addUser(name: string, passwordHash: string, roles: readonly ReaderRole[], now: Date): void {
    try {
      this.#db.prepare('INSERT INTO users (name, password_hash, roles, created_at) VALUES (?, ?, ?, ?)').run(name, passwordHash, rolesText(roles), now.toISOString());
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new UsmpError('USMP_E_USAGE', `a user named ${name} exists already`);
      throw err;
    }
  }

  /** Removes the account, its sessions and its tokens; false when there was none. */
  removeUser(name: string): boolean {
    return this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM sessions WHERE user = ? AND source = 'local'").run(name);
      this.#db.prepare('DELETE FROM api_tokens WHERE user = ?').run(name);
      return this.#db.prepare('DELETE FROM users WHERE name = ?').run(name).changes > 0;
    })();
  }

  /** New password: every session of the account ends. */
  setPassword(name: string, passwordHash: string): boolean {
    return this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM sessions WHERE user = ? AND source = 'local'").run(name);
      return this.#db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(passwordHash, name).changes > 0;
    })();
  }

  users(): LocalUser[] {
    return (this.#db.prepare('SELECT name, roles, created_at FROM users ORDER BY name').all() as Array<{ name: string; roles: string; created_at: string }>).map((u) => ({ name: u.name, roles: rolesOf(u.roles), created_at: u.created_at }));
  }

  credentialsOf(name: string): { passwordHash: string; roles: ReaderRole[] } | undefined {
    const row = this.#db.prepare('SELECT password_hash, roles FROM users WHERE name = ?').get(name) as { password_hash: string; roles: string } | undefined;
    return row ? { passwordHash: row.password_hash, roles: rolesOf(row.roles) } : undefined;
  }

  // -- sessions

  /** A new session; the returned id is the cookie's value, never stored. */
  createSession(session: Omit<Session, 'createdAtMs'>, nowMs: number): string {
    const id = randomBytes(32).toString('base64url');
    this.#db.prepare('INSERT INTO sessions (id_hash, user, source, roles, created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)').run(sha256(id), session.user, session.source, rolesText(session.roles), nowMs, nowMs);
    return id;
  }

  /** The session of this id if it is neither idle too long nor too old; marks it seen. */
  session(id: string, nowMs: number, limits: SessionLimits): Session | undefined {
    const hash = sha256(id);
    const row = this.#db.prepare('SELECT user, source, roles, created_at, seen_at FROM sessions WHERE id_hash = ?').get(hash) as { user: string; source: 'local' | 'oidc'; roles: string; created_at: number; seen_at: number } | undefined;
    if (!row) return undefined;
    if (nowMs - row.seen_at > limits.idleMs || nowMs - row.created_at > limits.absoluteMs) {
      this.#db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(hash);
      return undefined;
    }
    this.#db.prepare('UPDATE sessions SET seen_at = ? WHERE id_hash = ?').run(nowMs, hash);
    return { user: row.user, source: row.source, roles: rolesOf(row.roles), createdAtMs: row.created_at };
  }

  endSession(id: string): void {
    this.#db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(sha256(id));
  }

  /** Sessions past either limit are deleted (the collector runs this now and then). */
  pruneSessions(nowMs: number, limits: SessionLimits): number {
    return this.#db.prepare('DELETE FROM sessions WHERE seen_at < ? OR created_at < ?').run(nowMs - limits.idleMs, nowMs - limits.absoluteMs).changes;
  }

  // -- bearer tokens

  /** A new token with the roles its user has now; the returned text is shown once. */
  createApiToken(user: string, label: string, roles: readonly ReaderRole[], now: Date): { id: string; token: string } {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    this.#db.prepare('INSERT INTO api_tokens (id, secret_hash, user, label, roles, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, sha256(secret), user, label, rolesText(roles), now.toISOString());
    return { id, token: `usmpc_${id}_${secret}` };
  }

  apiTokens(user: string): ApiTokenInfo[] {
    return this.#db.prepare('SELECT id, label, created_at, last_used_at FROM api_tokens WHERE user = ? ORDER BY created_at').all(user) as ApiTokenInfo[];
  }

  /** Revokes a token of this user (or of anyone, for the CLI: user undefined). */
  revokeApiToken(id: string, user: string | undefined): boolean {
    return (user === undefined ? this.#db.prepare('DELETE FROM api_tokens WHERE id = ?').run(id) : this.#db.prepare('DELETE FROM api_tokens WHERE id = ? AND user = ?').run(id, user)).changes > 0;
  }

  /** Who a bearer token speaks for, or undefined. */
  apiTokenHolder(token: string, now: Date): { user: string; roles: ReaderRole[] } | undefined {
    const match = TOKEN.exec(token);
    if (!match) return undefined;
    const row = this.#db.prepare('SELECT secret_hash, user, roles FROM api_tokens WHERE id = ?').get(match[1]) as { secret_hash: string; user: string; roles: string } | undefined;
    if (!row || !timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), Buffer.from(sha256(match[2]!), 'hex'))) return undefined;
    this.#db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(now.toISOString(), match[1]);
    return { user: row.user, roles: rolesOf(row.roles) };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
