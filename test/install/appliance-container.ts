import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { terminateChild } from '../../src/exec/terminate.js';

// The appliance image booted with systemd-nspawn in a network namespace of its own, reached
// from this host over one veth pair with addresses from 198.18.0.0/15 [RFC 2544 §12]. Every
// namespace, link and process made here is removed by destroy(), by name and PID.

const run = promisify(execFile);

export interface ContainerAddresses {
  /** The /30 both ends share, as CIDR. */
  network: string;
  host: string;
  appliance: string;
  prefix: number;
}

export class ApplianceContainer {
  readonly netns: string;
  readonly hostLink: string;
  readonly addresses: ContainerAddresses | undefined;
  readonly root: string;
  /** The namespace is someone else's (a lab's): destroy() leaves it. */
  readonly #borrowed: boolean;
  #nspawn: ChildProcess | undefined;
  #console = '';

  private constructor(root: string, netns: string, hostLink: string, addresses: ContainerAddresses | undefined, borrowed: boolean) {
    this.root = root;
    this.netns = netns;
    this.hostLink = hostLink;
    this.addresses = addresses;
    this.#borrowed = borrowed;
  }

  /** A /30 of 198.19.240.0/20 per run, so that two runs on one machine do not meet. */
  static addressesFor(index: number): ContainerAddresses {
    const base = 240 * 256 + (index % 1024) * 4;
    const at = (n: number): string => `198.19.${Math.floor((base + n) / 256)}.${(base + n) % 256}`;
    return { network: `${at(0)}/30`, host: at(1), appliance: at(2), prefix: 30 };
  }

  static async boot(root: string, tag: string, addresses: ContainerAddresses): Promise<ApplianceContainer> {
    const c = new ApplianceContainer(root, `usmp-img-${tag}`, `usmpimg${tag}`, addresses, false);
    try {
      await run('ip', ['netns', 'add', c.netns]);
      await run('ip', ['link', 'add', c.hostLink, 'type', 'veth', 'peer', 'name', 'host0', 'netns', c.netns]);
      await run('ip', ['addr', 'add', `${addresses.host}/${addresses.prefix}`, 'dev', c.hostLink]);
      await run('ip', ['link', 'set', c.hostLink, 'up']);
      c.#start();
      return c;
    } catch (err) {
      await c.destroy();
      throw err;
    }
  }

  /** Boots in a namespace that exists already with the appliance's ports in it (a lab's). */
  static bootIn(root: string, netns: string): ApplianceContainer {
    const c = new ApplianceContainer(root, netns, '', undefined, true);
    c.#start();
    return c;
  }

  #start(): void {
    // This host's PID 1 is not systemd: no machined to register with, no scope to create; the
    // container gets the unified cgroup hierarchy its systemd (trixie's 257) requires, and
    // CAP_NET_ADMIN inside its own network namespace (networkd, nftables). That namespace is
    // the container's alone, so its /proc/sys/net is writable (systemd-nspawn(1),
    // $SYSTEMD_NSPAWN_API_VFS_WRITABLE=network), as a machine's is: networkd sets forwarding.
    this.#nspawn = spawn(
      'systemd-nspawn',
      ['-q', '-D', this.root, '--register=no', '--keep-unit', '--capability=CAP_NET_ADMIN', `--network-namespace-path=/run/netns/${this.netns}`, '-b'],
      {
        env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1', SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (d: Buffer): void => void (this.#console = (this.#console + d.toString()).slice(-20_000));
    this.#nspawn.stdout!.on('data', keep);
    this.#nspawn.stderr!.on('data', keep);
  }

  get console(): string {
    return this.#console;
  }

  /** PID (in this host's namespace) of the container's init. */
  async initPid(): Promise<number> {
    const { stdout } = await run('pgrep', ['-P', String(this.#nspawn!.pid)]);
    return Number(stdout.trim().split('\n')[0]);
  }

  /**
   * Runs a command inside the booted container (all its namespaces), with a clean environment:
   * the test runner adds its own loader to NODE_OPTIONS of every child, which the image has not.
   */
  async exec(argv: string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const pid = await this.initPid();
    try {
      const { stdout, stderr } = await run(
        'nsenter',
        ['-t', String(pid), '-a', 'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', ...argv],
        { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 << 20 },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (!options.allowFailure) throw new Error(`in the container: ${argv.join(' ')} failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`, { cause: err });
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  async destroy(): Promise<void> {
    const nspawn = this.#nspawn;
    if (nspawn?.pid !== undefined && nspawn.exitCode === null && nspawn.signalCode === null) {
      // SIGTERM asks the container to halt; terminate() escalates to SIGKILL after the grace time.
      await terminateChild(nspawn, 20_000);
    }
    if (this.#borrowed) return;
    await run('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
    await run('ip', ['netns', 'del', this.netns]).catch(() => undefined);
  }
}
