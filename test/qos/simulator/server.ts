import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { attributesOf, encodeSentence, SentenceDecoder, tagOf } from '../../../src/qos/routeros/words.js';
import { RouterModel, TrapError, type Item, type ModelOptions } from './model.js';

// RouterOS API SIMULATOR: a TCP (or TLS) server speaking the real wire protocol — length-
// encoded words, tagged sentences, !re/!done/!trap/!empty/!fatal, plain /login — in front of
// the in-memory RouterModel. Fault knobs reproduce what routers do to clients.

export interface Faults {
  /** Write every reply in pieces of this many bytes (frames split across TCP segments). */
  splitBytes?: number;
  /** Commands that never get an answer. */
  stall?: (command: string, attrs: Item) => boolean;
  /** Commands on which the router drops the connection. */
  drop?: (command: string, attrs: Item) => boolean;
  /** Commands answered with !trap (then !done). */
  trap?: (command: string, attrs: Item) => string | undefined;
  /** Answer this command with !fatal and close. */
  fatal?: (command: string) => boolean;
  /** Send a reserved control byte instead of a reply. */
  garbage?: (command: string) => boolean;
}

export interface SimulatorOptions extends ModelOptions {
  username?: string;
  password?: string;
  /**
   * 7.18 and later send !empty for a print with no result [ROS 7.18 changelog]; before 6.43,
   * /login answers with an MD5 challenge in =ret= [help.mikrotik.com "API" §Initial login].
   */
  version?: '6.42' | '7.17' | '7.18';
  /** The account's group policies; the documented group by default. */
  groupPolicy?: string;
  /** false: a router without IPv6 (package or stack disabled): no /ipv6 menus at all. */
  ipv6?: boolean;
  tls?: { key: string; cert: string };
  faults?: Faults;
}

export class RouterOsSimulator {
  readonly model: RouterModel;
  readonly log: string[][] = [];
  readonly sockets = new Set<Socket>();
  faults: Faults;
  #server: Server | undefined;

  constructor(readonly options: SimulatorOptions = {}) {
    this.model = new RouterModel(options);
    this.faults = options.faults ?? {};
    this.model.add('/user/group', { name: 'usmp-qos', policy: options.groupPolicy ?? 'read,write,api,test' });
    if (options.ipv6 === false) for (const path of [...this.model.menus.keys()]) if (path.startsWith('/ipv6/')) this.model.menus.delete(path);
    this.model.add('/user', { name: options.username ?? 'usmp', group: 'usmp-qos' });
  }

  async listen(): Promise<number> {
    const handler = (socket: Socket): void => this.#session(socket);
    this.#server = this.options.tls ? createTlsServer({ key: this.options.tls.key, cert: this.options.tls.cert }, handler) : createNetServer(handler);
    this.#server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.model.stop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #session(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new SentenceDecoder();
    let user: string | undefined;
    const send = (words: string[]): void => {
      const bytes = encodeSentence(words);
      const step = this.faults.splitBytes ?? bytes.length;
      for (let i = 0; i < bytes.length; i += step) socket.write(bytes.subarray(i, i + step));
    };
    socket.on('data', (chunk: Buffer) => {
      for (const event of decoder.push(chunk)) {
        if ('error' in event) return void socket.destroy();
        const [command, ...rest] = event.sentence;
        const tag = tagOf(rest);
        const tagWord = tag === undefined ? [] : [`.tag=${tag}`];
        const attrs = attributesOf(rest);
        this.log.push(event.sentence);
        const f = this.faults;
        if (f.drop?.(command!, attrs)) return void socket.destroy();
        if (f.stall?.(command!, attrs)) continue;
        if (f.garbage?.(command!)) return void socket.write(Buffer.from([0xf8, 0x01]));
        if (command === '/quit' || f.fatal?.(command!)) {
          send(['!fatal', command === '/quit' ? 'session terminated on request' : 'not enough permissions']);
          return void socket.end();
        }
        const trap = (message: string, category?: string): void => {
          send(['!trap', ...(category ? [`=category=${category}`] : []), `=message=${message}`, ...tagWord]);
          send(['!done', ...tagWord]);
        };
        if (command === '/login') {
          if (this.options.version === '6.42') send(['!done', '=ret=ebddd18303a54111e2dea05a92ab46b4', ...tagWord]);
          else if (attrs.name === (this.options.username ?? 'usmp') && attrs.password === (this.options.password ?? 'secret')) {
            user = attrs.name;
            send(['!done', ...tagWord]);
          } else trap('invalid user name or password (6)');
          continue;
        }
        if (user === undefined) {
          trap('not logged in', '5');
          continue;
        }
        const injected = f.trap?.(command!, attrs);
        if (injected) {
          trap(injected, '1');
          continue;
        }
        try {
          const { items, ret } = this.#execute(
            command!,
            attrs,
            rest.filter((w) => w.startsWith('?')),
            this.model.policiesOf(user),
          );
          for (const item of items) send(['!re', ...Object.entries(item).map(([k, v]) => `=${k}=${v}`), ...tagWord]);
          if (items.length === 0 && ret === undefined && (this.options.version ?? '7.18') === '7.18' && command!.endsWith('/print'))
            send(['!empty', ...tagWord]);
          send(['!done', ...(ret === undefined ? [] : [`=ret=${ret}`]), ...tagWord]);
        } catch (err) {
          if (err instanceof TrapError) trap(err.message, err.category);
          else trap(`simulator: ${(err as Error).message}`, '4');
        }
      }
    });
  }

  #execute(command: string, attrs: Item, queries: string[], policies: Set<string>): { items: Item[]; ret?: string } {
    const need = (policy: string): void => {
      if (!policies.has(policy)) throw new TrapError('not enough permissions (9)', '1');
    };
    if (command === '/ping') {
      need('test');
      return { items: this.model.ping(Number(attrs.count ?? '4')) };
    }
    if (command === '/system/clock/print') {
      need('read');
      return { items: [this.model.clock()] };
    }
    const cut = command.lastIndexOf('/');
    const [path, verb] = [command.slice(0, cut), command.slice(cut + 1)];
    switch (verb) {
      case 'print': {
        need('read');
        const { '.proplist': proplist } = attrs;
        return { items: this.model.print(path, queries, proplist) };
      }
      case 'add':
        need('write');
        return { items: [], ret: this.model.add(path, attrs, policies) };
      case 'set':
        need('write');
        this.model.set(path, attrs);
        return { items: [] };
      case 'remove':
        need('write');
        this.model.remove(path, attrs['.id'] ?? attrs.numbers ?? '');
        return { items: [] };
      case 'run':
        this.model.runScript(attrs['.id'] ?? '', policies);
        return { items: [] };
      default:
        throw new TrapError('no such command', '0');
    }
  }
}
