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

// With `lan` given, an access point stands between the USMP host and the appliance (a poor
// outlet or Wi-Fi where a care station sits): a router without a subnet of its own that answers
// ARP for each side (proxy ARP), so the addresses above do not change; its two egresses are
// shaped and delayed like the WAN router's.
//
//   usmp (eth0) ── (ap0) ap (ap1) ── (lan0) appliance ...

export const ROLES = ['usmp', 'appliance', 'wan', 'hospital', 'ap'] as const;
export type Role = (typeof ROLES)[number];

export const ADDRESSES = {
  usmp: '198.18.1.10',
  applianceLan: '198.18.1.1',
  applianceWan: '198.18.2.2',
  wanTowardsAppliance: '198.18.2.1',
  wanTowardsHospital: '198.19.1.1',
  hospital: '198.19.1.10',
} as const;

const SHORT: Record<Role, string> = { usmp: 'lan', appliance: 'app', wan: 'wan', hospital: 'hos', ap: 'ap' };

/** Where one direction of an impaired leg is shaped (egress) and diverted into its delay emulator (ingress). */
interface LegDevices {
  role: 'wan' | 'ap';
  egress: string;
  ingress: string;
  tun: string;
  table: number;
}

const WAN_DEVICES: Record<LinkDirection, LegDevices> = {
  up: { role: 'wan', egress: 'to-hos', ingress: 'to-app', tun: 'dly-up', table: 100 },
  down: { role: 'wan', egress: 'to-app', ingress: 'to-hos', tun: 'dly-down', table: 101 },
};

/** The access point's leg: "up" is the care station towards the appliance. */
const LAN_DEVICES: Record<LinkDirection, LegDevices> = {
  up: { role: 'ap', egress: 'ap1', ingress: 'ap0', tun: 'dly-lan-up', table: 110 },
  down: { role: 'ap', egress: 'ap0', ingress: 'ap1', tun: 'dly-lan-down', table: 111 },
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
  /** An access point between the USMP host and the appliance, impaired as given (rate, delay, jitter). */
  lan?: { up?: LinkImpairment; down?: LinkImpairment };
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
  readonly #emulators = new Map<string, DelayEmulator>();
  readonly #links: Record<LinkDirection, LinkImpairment> = { up: {}, down: {} };
  readonly #seed: number;
  #destroyed = false;
  readonly #cleanups: Array<() => void> = [];
  readonly #env = new Map<Role, Record<string, string>>();

  readonly #wireSized: boolean;

  readonly #mode: 'router' | 'bridge';
  readonly #addressing: 'lab' | 'none';
  readonly #withAccessPoint: boolean;

  private constructor(id: string, seed: number, wireSized: boolean, mode: 'router' | 'bridge', addressing: 'lab' | 'none', withAccessPoint: boolean) {
    this.id = id;
    this.#seed = seed;
    this.#wireSized = wireSized;
    this.#mode = mode;
    this.#addressing = addressing;
    this.#withAccessPoint = withAccessPoint;
  }

  /** Builds the four namespaces (five with an access point) and their links; removes what crashed runs left behind first. */
  static async create(options: LabOptions = {}): Promise<Lab> {
    removeStaleNamespaces();
    installExitHooks();
    const lab = new Lab(
      newLabId(),
      options.seed ?? Math.floor(Math.random() * 2 ** 31),
      options.wireSizedPackets ?? false,
      options.applianceMode ?? 'router',
      options.applianceAddressing ?? 'lab',
      options.lan !== undefined,
    );
    liveLabs.add(lab);
    try {
      await lab.#build();
      await lab.setLinks({ up: options.up ?? {}, down: options.down ?? {} });
      if (options.lan) await lab.setLanLinks({ up: options.lan.up ?? {}, down: options.lan.down ?? {} });
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
      await this.#applyShaper(WAN_DEVICES[direction], link);
      await this.#applyDelay(WAN_DEVICES[direction], direction, link);
      this.#links[direction] = { ...link };
    }
    const ruleset = impairmentRuleset({
      up: { dev: WAN_DEVICES.up.egress, link: this.#links.up },
      down: { dev: WAN_DEVICES.down.egress, link: this.#links.down },
    });
    await this.exec('wan', ['nft', '-f', '-'], { input: ruleset });
  }

  /** Changes the access point's impairment (rate, queue, delay, jitter; loss and DSCP are the WAN's). */
  async setLanLinks(links: Partial<Record<LinkDirection, LinkImpairment>>): Promise<void> {
    if (!this.#withAccessPoint) throw new LabError('this lab has no access point: create it with the `lan` option', ['setLanLinks'], '');
    for (const direction of ['up', 'down'] as const) {
      const link = links[direction];
      if (!link) continue;
      validateImpairment(direction, link);
      if (link.lossPct !== undefined || link.dscp !== undefined)
        throw new LabError('the access point takes rate, queue, delay and jitter only', ['setLanLinks'], '');
      await this.#applyShaper(LAN_DEVICES[direction], link);
      await this.#applyDelay(LAN_DEVICES[direction], direction, link);
    }
  }

  async emulatorStats(direction: LinkDirection, leg: 'wan' | 'lan' = 'wan'): Promise<EmulatorStats | undefined> {
    return this.#emulators.get((leg === 'wan' ? WAN_DEVICES : LAN_DEVICES)[direction].tun)?.stats();
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
    for (const role of this.#roles()) destroyNamespaceSync(this.ns(role));
    liveLabs.delete(this);
  }

  #roles(): Role[] {
    return ROLES.filter((role) => role !== 'ap' || this.#withAccessPoint);
  }

  async #build(): Promise<void> {
    for (const role of this.#roles()) await createNamespace(this.ns(role));
    if (this.#withAccessPoint) await this.#buildAccessPoint();
    else await this.#veth('usmp', 'eth0', 'appliance', 'lan0');
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

  /** usmp eth0 ── ap0 [ap] ap1 ── lan0 appliance, proxy ARP on both sides (see the top of this file). */
  async #buildAccessPoint(): Promise<void> {
    await this.#veth('usmp', 'eth0', 'ap', 'ap0');
    await this.#veth('ap', 'ap1', 'appliance', 'lan0');
    // host addresses of its own (/32: no subnet route), so its ARP requests carry a sender
    await this.#address('ap', 'ap0', '198.18.1.253/32');
    await this.#address('ap', 'ap1', '198.18.1.254/32');
    await this.exec('ap', ['ip', 'route', 'add', `${ADDRESSES.usmp}/32`, 'dev', 'ap0']);
    await this.exec('ap', ['ip', 'route', 'add', '198.18.1.0/24', 'dev', 'ap1']);
    await this.exec('ap', ['ip', 'route', 'add', 'default', 'via', ADDRESSES.applianceLan, 'dev', 'ap1']);
    await this.exec('ap', [
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.ap0.proxy_arp=1',
      'net.ipv4.conf.ap1.proxy_arp=1',
      // proxy ARP answers at once, not after up to 0.8 s (proxy_delay) [ip-sysctl.rst, neigh]
      'net.ipv4.neigh.ap0.proxy_delay=0',
      'net.ipv4.neigh.ap1.proxy_delay=0',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    ]);
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

  async #applyShaper(leg: LegDevices, link: LinkImpairment): Promise<void> {
    const { role, egress: dev } = leg;
    const commands = shaperCommands(dev, link);
    if (commands.length === 0) {
      await this.exec(role, unshapeCommand(dev), { allowFailure: true });
      return;
    }
    const { stdout } = await this.exec(role, ['tc', '-d', 'qdisc', 'show', 'dev', dev]);
    if (!hasShaperRoot(stdout, link)) {
      if (/qdisc htb 1: root/.test(stdout)) await this.exec(role, unshapeCommand(dev));
      await this.exec(role, shaperRootCommand(dev, link));
    }
    for (const argv of commands) await this.exec(role, argv);
  }

  async #applyDelay(leg: LegDevices, direction: LinkDirection, link: LinkImpairment): Promise<void> {
    const { role, ingress, tun, table } = leg;
    const previous = this.#emulators.get(tun);
    if (previous) {
      await this.exec(role, ['ip', 'rule', 'del', 'pref', String(table)], { allowFailure: true });
      await previous.stop();
      this.#emulators.delete(tun);
    }
    if (!needsDelayEmulator(link)) return;
    // each emulator its own jitter sequence: WAN up/down seed+1/+2, access point +3/+4
    const seed = this.#seed + (direction === 'up' ? 1 : 2) + (role === 'ap' ? 2 : 0);
    const emulator = await DelayEmulator.start(this.ns(role), tun, link, seed);
    this.#emulators.set(tun, emulator);
    await this.exec(role, ['ip', 'route', 'replace', 'default', 'dev', tun, 'table', String(table)]);
    await this.exec(role, ['ip', 'rule', 'add', 'iif', ingress, 'lookup', String(table), 'pref', String(table)]);
  }
}

export { LabError };
