import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { terminateChild } from '../exec/terminate.js';
import { DelayEmulator, type EmulatorStats } from './delay-emulator.js';
import { inNamespace, LabError, run, type RunOptions, type RunResult } from './exec.js';
import { impairmentRuleset, LAB_TABLE } from './impairments.js';
import { needsDelayEmulator, validateImpairment, type LinkDirection, type LinkImpairment } from './link-model.js';
import { createNamespace, destroyNamespaceSync, newLabId, removeStaleNamespaces } from './namespaces.js';
import { hasShaperRoot, shaperCommands, shaperRootCommand, unshapeCommand } from './shaping.js';

// The lab: a USMP LAN host, the appliance, a WAN router and the hospital, each in its own
// network namespace, addresses from the benchmarking range 198.18.0.0/15 [RFC 2544 §12].
//
//   usmp (eth0) ── (lan0) appliance (wan0) ── (to-app) wan (to-hos) ── (eth0) hospital
//   198.18.1.10     198.18.1.1   198.18.2.2    198.18.2.1   198.19.1.1     198.19.1.10
//
// The WAN router impairs traffic: "up" (towards the hospital) on the egress of to-hos,
// "down" (towards the USMP) on the egress of to-app.

export const ROLES = ['usmp', 'appliance', 'wan', 'hospital'] as const;
export type Role = (typeof ROLES)[number];

export const ADDRESSES = {
  usmp: '198.18.1.10',
  applianceLan: '198.18.1.1',
  applianceWan: '198.18.2.2',
  wanTowardsAppliance: '198.18.2.1',
  wanTowardsHospital: '198.19.1.1',
  hospital: '198.19.1.10',
} as const;

const SHORT: Record<Role, string> = { usmp: 'lan', appliance: 'app', wan: 'wan', hospital: 'hos' };

/** Egress device (where shaping, loss, DSCP apply) and ingress device (where delay diverts). */
const WAN_DEVICES: Record<LinkDirection, { egress: string; ingress: string; tun: string; table: number }> = {
  up: { egress: 'to-hos', ingress: 'to-app', tun: 'dly-up', table: 100 },
  down: { egress: 'to-app', ingress: 'to-hos', tun: 'dly-down', table: 101 },
};

export interface LabOptions {
  up?: LinkImpairment;
  down?: LinkImpairment;
  /** Seed of the delay emulators' random jitter; fixed seeds make runs repeatable. */
  seed?: number;
  /**
   * Carry wire-sized packets, as a physical link does: no TSO/GSO/GRO on the lab's veths, so
   * queues see 1514-octet frames, not 64 KB aggregates that veth would pass along whole.
   */
  wireSizedPackets?: boolean;
  /**
   * How the appliance carries the unit's traffic: `router` (the default, the unit's gateway as
   * drawn above) or `bridge` (inline-bridge: lan0 and wan0 are ports of its br0, which holds
   * 198.18.2.2; the WAN router is then the unit's gateway, 198.18.1.1 on to-app).
   */
  applianceMode?: 'router' | 'bridge';
  /**
   * `none`: the lab leaves the appliance's namespace as cabling only (lan0, wan0, no address,
   * bridge or route): a system booted in it (the appliance image) configures them itself.
   */
  applianceAddressing?: 'lab' | 'none';
}

const liveLabs = new Set<Lab>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.kill(process.pid, signal); // the listener is gone: the default action ends us
    });
  }
}

export class Lab {
  readonly id: string;
  readonly #children = new Set<ChildProcess>();
  readonly #emulators = new Map<LinkDirection, DelayEmulator>();
  readonly #links: Record<LinkDirection, LinkImpairment> = { up: {}, down: {} };
  readonly #seed: number;
  #destroyed = false;
  readonly #cleanups: Array<() => void> = [];
  readonly #env = new Map<Role, Record<string, string>>();

  readonly #wireSized: boolean;

  readonly #mode: 'router' | 'bridge';
  readonly #addressing: 'lab' | 'none';

  private constructor(id: string, seed: number, wireSized: boolean, mode: 'router' | 'bridge', addressing: 'lab' | 'none') {
    this.id = id;
    this.#seed = seed;
    this.#wireSized = wireSized;
    this.#mode = mode;
    this.#addressing = addressing;
  }

  /** Builds the four namespaces and their links; removes what crashed runs left behind first. */
  static async create(options: LabOptions = {}): Promise<Lab> {
    removeStaleNamespaces();
    installExitHooks();
    const lab = new Lab(
      newLabId(),
      options.seed ?? Math.floor(Math.random() * 2 ** 31),
      options.wireSizedPackets ?? false,
      options.applianceMode ?? 'router',
      options.applianceAddressing ?? 'lab',
    );
    liveLabs.add(lab);
    try {
      await lab.#build();
      await lab.setLinks({ up: options.up ?? {}, down: options.down ?? {} });
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  ns(role: Role): string {
    return `${this.id}-${SHORT[role]}`;
  }

  /** Variables every later command of this role gets (e.g. the appliance's credentials at the responder). */
  setEnvironment(role: Role, env: Record<string, string>): void {
    this.#env.set(role, { ...this.#env.get(role), ...env });
  }

  #environment(role: Role, env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv | undefined {
    const own = this.#env.get(role);
    return own ? { ...(env ?? process.env), ...own } : env;
  }

  /** Runs a command inside a role's namespace and collects its output. */
  exec(role: Role, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const env = this.#environment(role, options.env);
    return run(inNamespace(this.ns(role), argv), { ...options, ...(env ? { env } : {}) });
  }

  /** Starts a long-running process inside a namespace; destroy() ends it. */
  spawn(role: Role, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const full = inNamespace(this.ns(role), argv);
    const env = this.#environment(role, options.env);
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...options, ...(env ? { env } : {}) });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  link(direction: LinkDirection): Readonly<LinkImpairment> {
    return this.#links[direction];
  }

  /** Changes the impairment of one or both directions while the lab runs. */
  async setLinks(links: Partial<Record<LinkDirection, LinkImpairment>>): Promise<void> {
    for (const direction of ['up', 'down'] as const) {
      const link = links[direction];
      if (!link) continue;
      validateImpairment(direction, link);
      await this.#applyShaper(direction, link);
      await this.#applyDelay(direction, link);
      this.#links[direction] = { ...link };
    }
    const ruleset = impairmentRuleset({
      up: { dev: WAN_DEVICES.up.egress, link: this.#links.up },
      down: { dev: WAN_DEVICES.down.egress, link: this.#links.down },
    });
    await this.exec('wan', ['nft', '-f', '-'], { input: ruleset });
  }

  async emulatorStats(direction: LinkDirection): Promise<EmulatorStats | undefined> {
    return this.#emulators.get(direction)?.stats();
  }

  /** Packets counted by each lab nftables rule, by its comment (loss-up, bleach-down, ...). */
  async impairmentCounters(): Promise<Record<string, number>> {
    const { stdout } = await this.exec('wan', ['nft', '-j', 'list', 'table', 'ip', LAB_TABLE]);
    const counters: Record<string, number> = {};
    for (const item of (JSON.parse(stdout) as { nftables: Array<{ rule?: { comment?: string; expr: unknown[] } }> }).nftables) {
      const rule = item.rule;
      if (!rule?.comment) continue;
      const counter = rule.expr.find((e): e is { counter: { packets: number } } => typeof e === 'object' && e !== null && 'counter' in e);
      counters[rule.comment] = (counters[rule.comment] ?? 0) + (counter?.counter.packets ?? 0);
    }
    return counters;
  }

  /** Runs at teardown, after the lab's processes have ended (e.g. removing their files). */
  onDestroy(cleanup: () => void): void {
    this.#cleanups.push(cleanup);
  }

  /** Processes the lab started and still runs (emulators and spawned children). */
  processIds(): number[] {
    const pids = [...this.#emulators.values()].map((e) => e.pid);
    for (const child of this.#children) pids.push(child.pid);
    return pids.filter((pid): pid is number => pid !== undefined);
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    for (const emulator of this.#emulators.values()) await emulator.stop().catch(() => undefined);
    this.#emulators.clear();
    await Promise.all([...this.#children].map((child) => terminateChild(child)));
    this.destroySync();
  }

  /** Last-resort teardown for exit and signal handlers: nothing here awaits. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const child of this.#children) child.kill('SIGKILL');
    for (const cleanup of this.#cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // teardown goes on: one failed cleanup must not leave the namespaces behind
      }
    }
    for (const role of ROLES) destroyNamespaceSync(this.ns(role));
    liveLabs.delete(this);
  }

  async #build(): Promise<void> {
    for (const role of ROLES) await createNamespace(this.ns(role));
    await this.#veth('usmp', 'eth0', 'appliance', 'lan0');
    await this.#veth('appliance', 'wan0', 'wan', 'to-app');
    await this.#veth('wan', 'to-hos', 'hospital', 'eth0');
    await this.#address('usmp', 'eth0', `${ADDRESSES.usmp}/24`);
    await this.#address('wan', 'to-app', `${ADDRESSES.wanTowardsAppliance}/24`);
    await this.#address('wan', 'to-hos', `${ADDRESSES.wanTowardsHospital}/24`);
    await this.#address('hospital', 'eth0', `${ADDRESSES.hospital}/24`);
    const byLab = this.#addressing === 'lab';
    if (this.#mode === 'bridge') {
      // One Ethernet segment across the appliance: the unit's subnet and the appliance's own
      // address both live on the WAN router's to-app.
      if (byLab) {
        await this.exec('appliance', ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
        for (const port of ['lan0', 'wan0']) await this.exec('appliance', ['ip', 'link', 'set', port, 'master', 'br0']);
        await this.exec('appliance', ['ip', 'link', 'set', 'br0', 'up']);
        await this.#address('appliance', 'br0', `${ADDRESSES.applianceWan}/24`);
        await this.exec('appliance', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.wanTowardsAppliance]);
      }
      await this.#address('wan', 'to-app', `${ADDRESSES.applianceLan}/24`);
      await this.exec('usmp', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.applianceLan]);
    } else {
      if (byLab) {
        await this.#address('appliance', 'lan0', `${ADDRESSES.applianceLan}/24`);
        await this.#address('appliance', 'wan0', `${ADDRESSES.applianceWan}/24`);
        await this.exec('appliance', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.wanTowardsAppliance]);
      }
      await this.exec('usmp', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.applianceLan]);
      await this.exec('wan', ['ip', 'route', 'add', '198.18.1.0/24', 'via', ADDRESSES.applianceWan]);
    }
    await this.exec('hospital', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.wanTowardsHospital]);
    for (const role of byLab ? (['appliance', 'wan'] as const) : (['wan'] as const)) {
      await this.exec(role, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    }
    // Packets re-injected by the delay emulator arrive on its TUN device with a source that
    // routes elsewhere; reverse-path filtering would drop them.
    await this.exec('wan', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
  }

  async #veth(roleA: Role, devA: string, roleB: Role, devB: string): Promise<void> {
    await run(['ip', 'link', 'add', devA, 'netns', this.ns(roleA), 'type', 'veth', 'peer', 'name', devB, 'netns', this.ns(roleB)]);
    await this.exec(roleA, ['ip', 'link', 'set', devA, 'up']);
    await this.exec(roleB, ['ip', 'link', 'set', devB, 'up']);
    if (this.#wireSized) {
      for (const [role, dev] of [
        [roleA, devA],
        [roleB, devB],
      ] as const)
        await this.exec(role, ['ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    }
  }

  async #address(role: Role, dev: string, cidr: string): Promise<void> {
    await this.exec(role, ['ip', 'addr', 'add', cidr, 'dev', dev]);
  }

  async #applyShaper(direction: LinkDirection, link: LinkImpairment): Promise<void> {
    const dev = WAN_DEVICES[direction].egress;
    const commands = shaperCommands(dev, link);
    if (commands.length === 0) {
      await this.exec('wan', unshapeCommand(dev), { allowFailure: true });
      return;
    }
    const { stdout } = await this.exec('wan', ['tc', '-d', 'qdisc', 'show', 'dev', dev]);
    if (!hasShaperRoot(stdout, link)) {
      if (/qdisc htb 1: root/.test(stdout)) await this.exec('wan', unshapeCommand(dev));
      await this.exec('wan', shaperRootCommand(dev, link));
    }
    for (const argv of commands) await this.exec('wan', argv);
  }

  async #applyDelay(direction: LinkDirection, link: LinkImpairment): Promise<void> {
    const { ingress, tun, table } = WAN_DEVICES[direction];
    const previous = this.#emulators.get(direction);
    if (previous) {
      await this.exec('wan', ['ip', 'rule', 'del', 'pref', String(table)], { allowFailure: true });
      await previous.stop();
      this.#emulators.delete(direction);
    }
    if (!needsDelayEmulator(link)) return;
    const seed = this.#seed + (direction === 'up' ? 1 : 2);
    const emulator = await DelayEmulator.start(this.ns('wan'), tun, link, seed);
    this.#emulators.set(direction, emulator);
    await this.exec('wan', ['ip', 'route', 'replace', 'default', 'dev', tun, 'table', String(table)]);
    await this.exec('wan', ['ip', 'rule', 'add', 'iif', ingress, 'lookup', String(table), 'pref', String(table)]);
  }
}

export { LabError };
