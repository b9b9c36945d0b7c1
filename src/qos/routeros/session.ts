import type { Duplex } from 'node:stream';
import { UsmpError } from '../../errors.js';
import { attributesOf, encodeSentence, isAscii, SentenceDecoder, tagOf } from './words.js';

// One RouterOS API session over a connected socket: tagged commands that may run at once,
// a deadline on every command, and errors delivered as rejections, never thrown from socket
// callbacks. Reply words [help.mikrotik.com "API"]: !re (an item), !done (the end, may carry
// =ret=), !trap (an error, then !done for the same tag), !empty (7.18+: no items, then !done),
// !fatal (untagged, the router closes the connection).

export type RouterItem = Record<string, string>;

export interface CommandOptions {
  timeoutMs?: number;
}

interface Pending {
  items: RouterItem[];
  trap?: { message: string; category?: string };
  ret?: string;
  resolve: (value: { items: RouterItem[]; ret?: string }) => void;
  reject: (err: UsmpError) => void;
  timer: NodeJS.Timeout;
  command: string;
}

export class RouterSession {
  readonly #socket: Duplex;
  readonly #decoder = new SentenceDecoder();
  readonly #pending = new Map<string, Pending>();
  readonly #defaultTimeoutMs: number;
  #nextTag = 1;
  #closedBy: UsmpError | undefined;

  constructor(socket: Duplex, defaultTimeoutMs = 5_000) {
    this.#socket = socket;
    this.#defaultTimeoutMs = defaultTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => this.#fail(new UsmpError('USMP_E_ROUTER_CLOSED', `connection to the router failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.#fail(new UsmpError('USMP_E_ROUTER_CLOSED', 'the router closed the connection')));
  }

  get closed(): boolean {
    return this.#closedBy !== undefined;
  }

  /** Runs one command; resolves with its !re items (none for !empty) when !done arrives. */
  run(command: string, attributes: Record<string, string> = {}, queries: readonly string[] = [], options: CommandOptions = {}): Promise<RouterItem[]> {
    return this.runWithReturn(command, attributes, queries, options).then((r) => r.items);
  }

  runWithReturn(
    command: string,
    attributes: Record<string, string> = {},
    queries: readonly string[] = [],
    options: CommandOptions = {},
  ): Promise<{ items: RouterItem[]; ret?: string }> {
    if (this.#closedBy) return Promise.reject(this.#closedBy);
    const tag = String(this.#nextTag++);
    const words = [command, ...Object.entries(attributes).map(([k, v]) => `=${k}=${v}`), ...queries, `.tag=${tag}`];
    let bytes: Buffer;
    try {
      bytes = encodeSentence(words);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A command whose !done never comes would hang for ever (node-routeros has no
        // per-command deadline); the session is unusable after that, so it is closed.
        this.#fail(new UsmpError('USMP_E_ROUTER_TIMEOUT', `${command} got no complete answer within ${timeoutMs} ms`, { details: { command } }));
      }, timeoutMs);
      this.#pending.set(tag, { items: [], resolve, reject, timer, command });
      this.#socket.write(bytes);
    });
  }

  close(): void {
    this.#fail(new UsmpError('USMP_E_ROUTER_CLOSED', 'session closed'));
  }

  #onData(chunk: Buffer): void {
    for (const event of this.#decoder.push(chunk)) {
      if ('error' in event) {
        this.#fail(new UsmpError('USMP_E_ROUTER_PROTOCOL', `unreadable reply from the router: ${event.error}`));
        return;
      }
      this.#onSentence(event.sentence);
    }
  }

  #onSentence(words: string[]): void {
    const [reply] = words;
    if (reply === '!fatal') {
      this.#fail(new UsmpError('USMP_E_ROUTER_CLOSED', `the router ended the session: ${words.slice(1).join(' ') || 'no reason given'}`));
      return;
    }
    const tag = tagOf(words);
    const pending = tag === undefined ? undefined : this.#pending.get(tag);
    if (!pending) return; // a reply for nobody (a cancelled or timed-out command): ignored, not thrown
    const attrs = attributesOf(words);
    switch (reply) {
      case '!re':
        pending.items.push(attrs);
        break;
      case '!empty': // [ROS 7.18 changelog] "put !empty sentence when API query returns nothing"
        break;
      case '!trap':
        pending.trap ??= { message: attrs.message ?? 'no message', ...(attrs.category === undefined ? {} : { category: attrs.category }) };
        break;
      case '!done':
        this.#pending.delete(tag!);
        clearTimeout(pending.timer);
        if (pending.trap) {
          pending.reject(
            new UsmpError('USMP_E_ROUTER_TRAP', `${pending.command}: ${pending.trap.message}`, { details: { command: pending.command, ...pending.trap } }),
          );
        } else pending.resolve({ items: pending.items, ...(attrs.ret === undefined ? {} : { ret: attrs.ret }) });
        break;
      default:
        this.#fail(new UsmpError('USMP_E_ROUTER_PROTOCOL', `unknown reply word ${JSON.stringify(reply)}`));
    }
  }

  #fail(error: UsmpError): void {
    if (this.#closedBy) return;
    this.#closedBy = error;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
    this.#socket.destroy();
  }
}

/**
 * `/login` [API, RouterOS ≥ 6.43]: name and password in the clear, hence api-ssl. An older router
 * answers `!done =ret=<challenge>` instead, for the MD5 challenge login; that is not a success,
 * and we do not speak the older form.
 */
export async function login(session: RouterSession, username: string, password: string): Promise<void> {
  for (const [name, value] of [
    ['user name', username],
    ['password', password],
  ] as const) {
    if (!isAscii(value))
      throw new UsmpError('USMP_E_ROUTER_TEXT', `the router ${name} holds a character outside ASCII, which the RouterOS API cannot carry faithfully`);
  }
  let reply: { ret?: string };
  try {
    reply = await session.runWithReturn('/login', { name: username, password });
  } catch (err) {
    if (err instanceof UsmpError && err.code === 'USMP_E_ROUTER_TRAP') {
      // The password is never part of the message: the trap text is the router's.
      throw new UsmpError(
        'USMP_E_ROUTER_LOGIN',
        `the router refused the login of ${username}: ${typeof err.details?.['message'] === 'string' ? err.details['message'] : 'cannot log in'}`,
      );
    }
    throw err;
  }
  if (reply.ret !== undefined) {
    throw new UsmpError('USMP_E_ROUTER_LOGIN', 'the router answered with a login challenge: it runs RouterOS older than 6.43', {
      hint: 'upgrade the router to RouterOS 6.43 or later (7 is recommended)',
    });
  }
}
