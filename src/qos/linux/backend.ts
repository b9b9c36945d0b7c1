import { UsmpError } from '../../errors.js';
import type { ProcessRunner } from '../../exec/process-runner.js';
import type { ArmedRollback, CheckOutcome, LastRollback, QosBackend, RollbackGuard } from '../backend.js';
import { classify } from '../classify.js';
import { diffObjects, type QosObject } from '../objects.js';
import type { QosPolicy } from '../policy.js';
import { desiredNftObjects, NFT_FAMILIES, NFT_TABLE, parseNftState, renderRuleset, type Interfaces, type NftFamily } from './nft-ruleset.js';
import { type Offloads, readOffloads, readOurTable, readOurTableIn, rootQdisc, runChecked, setOffloads, writeTree } from './restore.js';
import { endGuard, isGuardAlive, startDetachedGuard } from './guard-process.js';
import { RollbackJournal, type LinuxSnapshot } from './rollback-journal.js';
import { DEFAULT_ROOT_KINDS, desiredTcObjects, HANDLE, parseTcState, rateChangeBatch, rootSentOctets, treeBatch } from './tc-tree.js';

// Backend `linux`: the appliance inline as the USMP's gateway. nftables marks, tc htb queues
// on the egress of the WAN side (upload) and of the LAN side (download).

export interface ProbeResult {
  sent: number;
  received: number;
}

export interface LinuxBackendOptions {
  runner: ProcessRunner;
  interfaces: Interfaces;
  stateDir: string;
  /** The hospital responder probed by check(). */
  checkTarget: string;
  checkPort: number;
  /** Sends STAMP probes from this host; injected so unit tests need no network. */
  probe: (target: string, port: number) => Promise<ProbeResult>;
  /** inet when the appliance routes the unit's traffic, bridge when it bridges it (deployment.mode). */
  nftFamily?: NftFamily;
  /** Starts the roll-back guard; injected so tests can count and end it. */
  startGuard?: (stateDir: string) => number | undefined;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
// htb does not split GRO/GSO aggregates: a 64 KB super-packet ahead of a video packet holds
// it 27 ms at 19 Mbit/s. Shaped devices therefore carry wire-sized packets only (and the
// previous setting is part of every roll-back snapshot).
const WIRE_SIZED: Offloads = { gro: 'off', gso: 'off', tso: 'off' };

export class LinuxQosBackend implements QosBackend {
  readonly name = 'linux' as const;
  readonly #o: LinuxBackendOptions;
  readonly #journal: RollbackJournal;

  constructor(options: LinuxBackendOptions) {
    for (const [role, dev] of Object.entries(options.interfaces) as Array<[string, string]>) {
      if (!IFNAME.test(dev)) throw new UsmpError('USMP_E_CONFIG_INVALID', `qos.linux.${role}_interface "${dev}" is not an interface name`);
    }
    if (options.interfaces.wan === options.interfaces.lan)
      throw new UsmpError('USMP_E_CONFIG_INVALID', `qos.linux.wan_interface and lan_interface are both "${options.interfaces.wan}"`);
    this.#o = options;
    this.#journal = new RollbackJournal(options.stateDir);
  }

  get #family(): NftFamily {
    return this.#o.nftFamily ?? 'inet';
  }

  get #devices(): Array<{ direction: 'up' | 'down'; dev: string }> {
    return [
      { direction: 'up', dev: this.#o.interfaces.wan },
      { direction: 'down', dev: this.#o.interfaces.lan },
    ];
  }

  desired(policy: QosPolicy): QosObject[] {
    return [
      ...desiredNftObjects(policy, this.#o.interfaces, this.#family),
      ...this.#devices.flatMap(({ direction, dev }) => [...desiredTcObjects(policy, direction, dev), { key: `offload:${dev}`, props: { ...WIRE_SIZED } }]),
    ];
  }

  async current(): Promise<QosObject[]> {
    return (await this.#read()).objects;
  }

  async #read(): Promise<{ objects: QosObject[]; packets: Record<string, number>; roots: Record<string, { kind: string; handle: string } | undefined> }> {
    const objects: QosObject[] = [];
    const packets: Record<string, number> = {};
    const roots: Record<string, { kind: string; handle: string } | undefined> = {};
    for (const family of NFT_FAMILIES) {
      if ((await readOurTableIn(this.#o.runner, family)) === null) continue;
      const nft = parseNftState(await runChecked(this.#o.runner, ['nft', '-j', 'list', 'table', family, NFT_TABLE]));
      objects.push(...nft.objects);
      for (const [key, n] of Object.entries(nft.packets)) packets[`nft:${key}`] = n;
    }
    for (const { direction, dev } of this.#devices) {
      const r = this.#o.runner;
      const tc = parseTcState(
        dev,
        await runChecked(r, ['tc', '-d', '-j', 'qdisc', 'show', 'dev', dev]),
        await runChecked(r, ['tc', '-s', 'class', 'show', 'dev', dev]),
        await runChecked(r, ['tc', '-j', 'filter', 'show', 'dev', dev]),
      );
      objects.push(...tc.objects);
      roots[dev] = tc.root;
      const offloads = await readOffloads(r, dev);
      // Ours when all three are off (they are on by default on every NIC).
      if (offloads.gro === 'off' && offloads.gso === 'off' && offloads.tso === 'off') objects.push({ key: `offload:${dev}`, props: { ...offloads } });
      for (const [classid, n] of Object.entries(tc.packets)) packets[`tc:${direction}:${classid}`] = n;
    }
    return { objects, packets, roots };
  }

  async apply(policy: QosPolicy): Promise<void> {
    const { objects, roots } = await this.#read();
    for (const { dev } of this.#devices) {
      const root = roots[dev];
      if (root && root.handle !== `${HANDLE}:` && !DEFAULT_ROOT_KINDS.has(root.kind)) {
        throw new UsmpError('USMP_E_QOS_CONFLICT', `${dev} already has a ${root.kind} qdisc (handle ${root.handle}) that is not ours`, {
          details: { dev, kind: root.kind },
        });
      }
    }
    const diff = diffObjects(this.desired(policy), objects);
    const touched = (prefix: string): boolean =>
      [...diff.create, ...diff.remove].some((o) => o.key.startsWith(prefix)) || diff.change.some((c) => c.key.startsWith(prefix));
    if (touched('nft:')) await runChecked(this.#o.runner, ['nft', '-f', '-'], renderRuleset(policy, this.#o.interfaces, this.#family));
    const applied = this.#journal.applied();
    for (const { direction, dev } of this.#devices) {
      const batch = treeBatch(policy, direction, dev);
      if (touched(`offload:${dev}`)) await setOffloads(this.#o.runner, dev, WIRE_SIZED);
      if (touched(`tc:${dev}:`)) await writeTree(this.#o.runner, dev, batch);
      applied[dev] = batch;
    }
    this.#journal.setApplied(applied);
  }

  async setShapedRates(policy: QosPolicy): Promise<void> {
    const applied = this.#journal.applied();
    for (const { direction, dev } of this.#devices) {
      if ((await rootQdisc(this.#o.runner, dev))?.handle !== `${HANDLE}:`)
        throw new UsmpError('USMP_E_QOS_NO_POLICY', `no QoS policy of ours on ${dev}: apply it first (usmp-edge qos apply)`);
      await runChecked(this.#o.runner, ['tc', '-batch', '-'], `${rateChangeBatch(policy, direction, dev).join('\n')}\n`);
      applied[dev] = treeBatch(policy, direction, dev);
    }
    this.#journal.setApplied(applied);
  }

  async rootOctets(): Promise<Record<'up' | 'down', number>> {
    const out = { up: 0, down: 0 };
    for (const { direction, dev } of this.#devices)
      out[direction] = rootSentOctets(await runChecked(this.#o.runner, ['tc', '-s', 'class', 'show', 'dev', dev]));
    return out;
  }

  async #snapshot(): Promise<LinuxSnapshot> {
    const applied = this.#journal.applied();
    const tc: Record<string, string[] | null> = {};
    const offloads: Record<string, Offloads> = {};
    for (const { dev } of this.#devices) {
      const ours = (await rootQdisc(this.#o.runner, dev))?.handle === `${HANDLE}:`;
      tc[dev] = ours ? (applied[dev] ?? null) : null;
      offloads[dev] = await readOffloads(this.#o.runner, dev);
    }
    return { nft: await readOurTable(this.#o.runner), tc, offloads };
  }

  /**
   * An armed change whose guard is gone (the appliance rebooted or the guard was killed):
   * past its deadline it is restored now, as the guard would have; before, a guard is restarted.
   */
  async #adoptOrphan(): Promise<void> {
    const armed = this.#journal.armed();
    if (!armed || isGuardAlive(armed.guard_pid)) return;
    if (Date.now() < armed.deadline_ms) {
      const pid = (this.#o.startGuard ?? startDetachedGuard)(this.#o.stateDir);
      if (pid) this.#journal.setGuard(pid);
      return;
    }
    const claimed = this.#journal.claim();
    if (claimed) await this.#journal.restoreClaimed(this.#o.runner, claimed, { by: 'cli', reason: 'confirm deadline passed while no guard ran' });
  }

  async armRollback(timeoutS: number): Promise<RollbackGuard> {
    await this.#adoptOrphan();
    if (this.#journal.armed() || this.#journal.firing()) {
      throw new UsmpError('USMP_E_QOS_CONFLICT', 'a previous change is still waiting for its confirmation or its roll-back', {
        hint: 'wait for its deadline, or run `usmp-edge qos rollback`',
      });
    }
    const snapshot = await this.#snapshot();
    const deadline = Date.now() + timeoutS * 1000;
    const journal = this.#journal;
    const runner = this.#o.runner;
    journal.arm({ snapshot, deadline_ms: deadline });
    const pid = (this.#o.startGuard ?? startDetachedGuard)(this.#o.stateDir);
    if (pid) journal.setGuard(pid);
    return {
      deadline: new Date(deadline),
      async disarm() {
        // The rename is the confirmation: the guard, waking, finds nothing to restore.
        const confirmed = journal.confirm();
        if (!confirmed) return false;
        endGuard(confirmed.guard_pid);
        return true;
      },
      async fireNow() {
        const claimed = journal.claim();
        if (!claimed) return;
        endGuard(claimed.guard_pid);
        await journal.restoreClaimed(runner, claimed, { by: 'cli', reason: 'the change failed to apply or failed its check' });
      },
    };
  }

  async armed(): Promise<ArmedRollback | undefined> {
    await this.#adoptOrphan();
    const armed = this.#journal.armed();
    return armed ? { deadline: new Date(armed.deadline_ms) } : undefined;
  }

  async lastRollback(): Promise<LastRollback | undefined> {
    return this.#journal.lastRollback();
  }

  async rollbackLast(): Promise<boolean> {
    const pending = this.#journal.claim() ?? this.#journal.firing();
    if (pending) {
      endGuard(pending.guard_pid);
      await this.#journal.restoreClaimed(this.#o.runner, pending, { by: 'cli', reason: 'qos rollback of a change awaiting confirmation' });
      return true;
    }
    return this.#journal.undoNewest(this.#o.runner, { by: 'cli', reason: 'qos rollback of the last confirmed change' });
  }

  async check(policy: QosPolicy): Promise<CheckOutcome> {
    const findings: string[] = [];
    const target = this.#o.checkTarget;
    const route = await runChecked(this.#o.runner, ['ip', '-o', 'route', 'get', target]);
    const dev = /\bdev (\S+)/.exec(route)?.[1];
    const src = /\bsrc (\S+)/.exec(route)?.[1] ?? '';
    // inline-bridge: the route leaves by the bridge, and the bridge by its WAN port.
    const wan = this.#o.interfaces.wan;
    const master =
      this.#family === 'bridge' ? /\bmaster (\S+)/.exec(await runChecked(this.#o.runner, ['ip', '-o', 'link', 'show', 'dev', wan]))?.[1] : undefined;
    if (dev !== wan && (master === undefined || dev !== master)) {
      return {
        ok: false,
        findings: [
          `the route to ${target} leaves by ${dev ?? '?'}, not by qos.linux.wan_interface ${wan}${this.#family === 'bridge' ? ` nor by its bridge${master ? ` ${master}` : ' (it is in none)'}` : ''}`,
        ],
      };
    }
    const expected = classify(policy, { direction: 'up', local: src, remote: target, protocol: 'udp', remotePort: this.#o.checkPort });
    const minor = expected === 'best-effort' ? '99' : String(10 + policy.classes.findIndex((c) => c.name === expected));
    const key = `tc:up:${HANDLE}:${minor}`;
    const before = (await this.#read()).packets[key] ?? 0;
    const probe = await this.#o.probe(target, this.#o.checkPort);
    const after = (await this.#read()).packets[key] ?? 0;
    findings.push(`hospital ${target}:${this.#o.checkPort}: ${probe.received}/${probe.sent} STAMP replies`);
    findings.push(`upload class ${expected} (${HANDLE}:${minor}) counted ${after - before} packets for ${probe.sent} probes`);
    const ok = probe.received > 0 && after - before >= probe.sent;
    return { ok, findings };
  }

  async counters(): Promise<Record<string, number>> {
    return (await this.#read()).packets;
  }

  async close(): Promise<void> {}
}
