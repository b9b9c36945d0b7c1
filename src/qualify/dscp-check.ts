import { dscpName, dscpValue } from '../measure/dscp-names.js';
import { installAnnotation, senderRuleset } from '../measure/stamp/dscp-annotation.js';
import { runStampSession } from '../measure/stamp/sender.js';
import type { ProcessRunner } from '../exec/process-runner.js';
import { stampAuth, type StepContext } from './steps.js';

// Does a marked probe arrive with its mark, in each direction? STAMP probes carry the RFC 8972
// Class-of-Service TLV: the reflector reports the DSCP that reached it (upstream) and marks its
// reply with the DSCP we asked for, whose arrival we note here (downstream). Both ends read
// and set the TOS byte through nftables rules (dscp-annotation.ts).

export type DirectionOutcome =
  | { status: 'preserved'; sent: string; received: string }
  | { status: 'remarked'; sent: string; received: string }
  | { status: 'bleached'; sent: string; received: string }
  | { status: 'not-verified'; reason: string };

export interface DscpCheck {
  method: string;
  classes: Array<{ class: string; up: DirectionOutcome; down: DirectionOutcome }>;
  up: DirectionOutcome['status'];
  down: DirectionOutcome['status'];
}

const METHOD = 'STAMP Class-of-Service TLV (RFC 8972 §4.4); TOS read and set by nftables rules at both ends';

export async function checkDscp(ctx: StepContext, classes: readonly string[], runner?: ProcessRunner): Promise<DscpCheck> {
  const table = `usmp_edge_probe_${process.pid}`;
  const annotation = await installAnnotation(table, senderRuleset(table, ctx.target, ctx.stampPort), runner);
  if ('unavailable' in annotation) {
    const outcome: DirectionOutcome = { status: 'not-verified', reason: `this appliance cannot mark or read DSCP: ${annotation.unavailable}` };
    return { method: METHOD, classes: classes.map((c) => ({ class: c, up: outcome, down: outcome })), up: 'not-verified', down: 'not-verified' };
  }
  try {
    const results: DscpCheck['classes'] = [];
    for (const name of classes) {
      const dscp = dscpValue(name) ?? Number(name);
      const session = await runStampSession({
        ...stampAuth(ctx),
        target: ctx.target,
        port: ctx.stampPort,
        count: 20,
        intervalMs: 20,
        size: 64,
        cos: { dscp },
        waitMs: 800,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const answered = session.records.filter((r) => r.rttNs !== undefined);
      if (answered.length === 0) {
        const none: DirectionOutcome = { status: 'not-verified', reason: 'no reply to the marked probes (a firewall may drop marked packets)' };
        results.push({ class: name, up: none, down: none });
        continue;
      }
      if (answered.every((r) => r.cosUnprocessed)) {
        const why: DirectionOutcome = { status: 'not-verified', reason: 'the responder cannot read DSCP (it needs CAP_NET_ADMIN, or is not usmp-edge)' };
        results.push({ class: name, up: why, down: why });
        continue;
      }
      results.push({
        class: name,
        up: classifyMarks(
          dscp,
          answered.map((r) => r.dscpAtReflector),
        ),
        down: classifyMarks(
          dscp,
          answered.map((r) => r.dscpAtSender),
        ),
      });
    }
    return { method: METHOD, classes: results, up: worst(results.map((r) => r.up.status)), down: worst(results.map((r) => r.down.status)) };
  } finally {
    await annotation.remove();
  }
}

/** The most frequent DSCP seen decides; a mix still counts as altered. */
export function classifyMarks(sent: number, seen: Array<number | undefined>): DirectionOutcome {
  const known = seen.filter((x): x is number => x !== undefined);
  if (known.length === 0) return { status: 'not-verified', reason: 'no DSCP could be read on arrival' };
  const counts = new Map<number, number>();
  for (const v of known) counts.set(v, (counts.get(v) ?? 0) + 1);
  const [received] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const outcome = { sent: dscpName(sent), received: dscpName(received) };
  if (received === sent && counts.size === 1) return { status: 'preserved', ...outcome };
  if (received === 0) return { status: 'bleached', ...outcome };
  return { status: 'remarked', ...outcome };
}

const ORDER: Array<DirectionOutcome['status']> = ['bleached', 'remarked', 'not-verified', 'preserved'];

function worst(statuses: Array<DirectionOutcome['status']>): DirectionOutcome['status'] {
  for (const s of ORDER) if (statuses.includes(s)) return s;
  return 'not-verified';
}
