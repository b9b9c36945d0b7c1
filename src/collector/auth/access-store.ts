import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UsmpError } from '../../errors.js';
import type { SqlDatabase } from '../sql/sql-database.js';
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
  readonly #db: SqlDatabase;

  /** `db` is migrated already (../sql/migrations.ts) and stays its opener's to close. */
  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  // -- local accounts

  async addUser(name: string, passwordHash: string, roles: readonly ReaderRole[], now: Date): Promise<void> {
    const added = await this.#db.run('INSERT INTO users (name, password_hash, roles, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING', [
      name,
      passwordHash,
      rolesText(roles),
      now.toISOString(),
    ]);
    if (added === 0) throw new UsmpError('USMP_E_USAGE', `a user named ${name} exists already`);
  }

  /** Removes the account, its sessions and its tokens; false when there was none. */
  removeUser(name: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.run(`DELETE FROM sessions WHERE "user" = $1 AND source = 'local'`, [name]);
      await tx.run('DELETE FROM api_tokens WHERE "user" = $1', [name]);
      return (await tx.run('DELETE FROM users WHERE name = $1', [name])) > 0;
    });
  }

  /** New password: every session of the account ends. */
  setPassword(name: string, passwordHash: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.run(`DELETE FROM sessions WHERE "user" = $1 AND source = 'local'`, [name]);
      return (await tx.run('UPDATE users SET password_hash = $1 WHERE name = $2', [passwordHash, name])) > 0;
    });
  }

  async users(): Promise<LocalUser[]> {
    const rows = await this.#db.all<{ name: string; roles: string; created_at: string }>('SELECT name, roles, created_at FROM users ORDER BY name');
    return rows.map((u) => ({ name: u.name, roles: rolesOf(u.roles), created_at: u.created_at }));
  }

  async credentialsOf(name: string): Promise<{ passwordHash: string; roles: ReaderRole[] } | undefined> {
    const row = await this.#db.one<{ password_hash: string; roles: string }>('SELECT password_hash, roles FROM users WHERE name = $1', [name]);
    return row ? { passwordHash: row.password_hash, roles: rolesOf(row.roles) } : undefined;
  }

  // -- sessions

  /** A new session; the returned id is the cookie's value, never stored. */
  async createSession(session: Omit<Session, 'createdAtMs'>, nowMs: number): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.#db.run('INSERT INTO sessions (id_hash, "user", source, roles, created_at, seen_at) VALUES ($1, $2, $3, $4, $5, $5)', [
      sha256(id),
      session.user,
      session.source,
      rolesText(session.roles),
      nowMs,
    ]);
    return id;
  }

  /** The session of this id if it is neither idle too long nor too old; marks it seen. */
  async session(id: string, nowMs: number, limits: SessionLimits): Promise<Session | undefined> {
    const hash = sha256(id);
    const row = await this.#db.one<{ user: string; source: 'local' | 'oidc'; roles: string; created_at: number | string; seen_at: number | string }>(
      'SELECT "user", source, roles, created_at, seen_at FROM sessions WHERE id_hash = $1',
      [hash],
    );
    if (!row) return undefined;
    // PostgreSQL's BIGINT comes back as text
    const createdAt = Number(row.created_at);
    if (nowMs - Number(row.seen_at) > limits.idleMs || nowMs - createdAt > limits.absoluteMs) {
      await this.#db.run('DELETE FROM sessions WHERE id_hash = $1', [hash]);
      return undefined;
    }
    await this.#db.run('UPDATE sessions SET seen_at = $1 WHERE id_hash = $2', [nowMs, hash]);
    return { user: row.user, source: row.source, roles: rolesOf(row.roles), createdAtMs: createdAt };
  }

  async endSession(id: string): Promise<void> {
    await this.#db.run('DELETE FROM sessions WHERE id_hash = $1', [sha256(id)]);
  }

  /** Sessions past either limit are deleted (the collector runs this now and then). */
  pruneSessions(nowMs: number, limits: SessionLimits): Promise<number> {
    return this.#db.run('DELETE FROM sessions WHERE seen_at < $1 OR created_at < $2', [nowMs - limits.idleMs, nowMs - limits.absoluteMs]);
  }

  // -- bearer tokens

  /** A new token with the roles its user has now; the returned text is shown once. */
  async createApiToken(user: string, label: string, roles: readonly ReaderRole[], now: Date): Promise<{ id: string; token: string }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    await this.#db.run('INSERT INTO api_tokens (id, secret_hash, "user", label, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      id,
      sha256(secret),
      user,
      label,
      rolesText(roles),
      now.toISOString(),
    ]);
    return { id, token: `usmpc_${id}_${secret}` };
  }

  apiTokens(user: string): Promise<ApiTokenInfo[]> {
    return this.#db.all<ApiTokenInfo>('SELECT id, label, created_at, last_used_at FROM api_tokens WHERE "user" = $1 ORDER BY created_at, id', [user]);
  }

  /** Revokes a token of this user (or of anyone, for the CLI: user undefined). */
  async revokeApiToken(id: string, user: string | undefined): Promise<boolean> {
    const removed =
      user === undefined
        ? await this.#db.run('DELETE FROM api_tokens WHERE id = $1', [id])
        : await this.#db.run('DELETE FROM api_tokens WHERE id = $1 AND "user" = $2', [id, user]);
    return removed > 0;
  }

  /** Who a bearer token speaks for, or undefined. */
  async apiTokenHolder(token: string, now: Date): Promise<{ user: string; roles: ReaderRole[] } | undefined> {
    const match = TOKEN.exec(token);
    if (!match) return undefined;
    const row = await this.#db.one<{ secret_hash: string; user: string; roles: string }>('SELECT secret_hash, "user", roles FROM api_tokens WHERE id = $1', [
      match[1]!,
    ]);
    if (!row || !timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), Buffer.from(sha256(match[2]!), 'hex'))) return undefined;
    await this.#db.run('UPDATE api_tokens SET last_used_at = $1 WHERE id = $2', [now.toISOString(), match[1]!]);
    return { user: row.user, roles: rolesOf(row.roles) };
  }
}
