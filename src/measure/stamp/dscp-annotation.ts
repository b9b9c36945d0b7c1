import { UsmpError } from '../../errors.js';
import { systemRunner, type ProcessRunner } from '../../exec/process-runner.js';
import { ANNOTATION, AUTH_BASE_LENGTH, BASE_LENGTH, TLV_TYPE } from './packets.js';

// Node can neither set nor read the TOS byte of a UDP datagram, so DSCP is handled by small
// nftables tables of our own, in the kernel, per packet (IPv4):
//  - outgoing: a packet carrying a Class-of-Service TLV gets DSCP1 of that TLV as its DSCP;
//  - incoming: the first two octets of the IP header (0x45, TOS) are copied into MBZ octets of
//    the STAMP packet, where our code reads them (ANNOTATION in packets.ts).
// The kernel updates the UDP checksum of the rewritten payload (nft payload csum_flags L4),
// correctly only at even offsets (see ANNOTATION).
// [RFC 8972 §4.4 Class of Service; nft(8) raw payload expressions @ih, @nh]

const BITS = 8;
// flags = 0 (processed), type = CoS, length = 4: the TLV header right after the base packet,
// 44 octets unauthenticated, 112 authenticated.
const COS_HEADER = `0x${((0x00 << 24) | (TLV_TYPE.CLASS_OF_SERVICE << 16) | 4).toString(16).padStart(8, '0')}`;

function markByDscp1(match: string): string[] {
  return [BASE_LENGTH, AUTH_BASE_LENGTH].flatMap((base) =>
    Array.from({ length: 64 }, (_, dscp) => `    ${match} @ih,${base * BITS},32 ${COS_HEADER} @ih,${(base + 4) * BITS},6 ${dscp} ip dscp set ${dscp}`),
  );
}

function table(name: string, input: string[], output: string[]): string {
  return [
    `add table ip ${name}`,
    `delete table ip ${name}`,
    `table ip ${name} {`,
    '  chain input {',
    '    type filter hook input priority -150; policy accept;',
    ...input,
    '  }',
    '  chain output {',
    '    type filter hook output priority -150; policy accept;',
    ...output,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The sender's side: mark requests by their TLV; note the TOS replies arrive with. */
export function senderRuleset(name: string, target: string, port: number): string {
  const reply = `ip saddr ${target} udp sport ${port}`;
  return table(name, [`    ${reply} @ih,${ANNOTATION.REFLECTOR_PACKET_OFFSET * BITS},16 set @nh,0,16`], markByDscp1(`ip daddr ${target} udp dport ${port}`));
}

/** Who may reach the responder at all (responder.allow_from), for its STAMP port and iperf3 pool. */
export interface SourceFilter {
  iperfPorts: readonly number[];
  allowFrom: readonly string[];
}

/**
 * The reflector's side: note the TOS requests arrive with; mark replies with the DSCP1 asked.
 * With a source filter, IPv4 sources outside the allowed prefixes are dropped before the STAMP
 * socket and the iperf3 servers see them: iperf3 has no source filter of its own, and a host
 * that may not connect cannot hold one of its servers (this table is IPv4; the reflector
 * applies the list itself for IPv6 STAMP).
 */
export function reflectorRuleset(name: string, port: number, filter?: SourceFilter): string {
  const input: string[] = [];
  if (filter && filter.allowFrom.length > 0) {
    const v4 = filter.allowFrom.filter((p) => !p.includes(':'));
    const outside = v4.length > 0 ? `ip saddr != { ${v4.join(', ')} } ` : '';
    input.push(`    ${outside}udp dport ${port} drop`);
    if (filter.iperfPorts.length > 0) input.push(`    ${outside}tcp dport { ${filter.iperfPorts.join(', ')} } drop`);
  }
  input.push(`    udp dport ${port} @ih,${ANNOTATION.SENDER_PACKET_OFFSET * BITS},16 set @nh,0,16`);
  return table(name, input, markByDscp1(`udp sport ${port}`));
}

/** An installed annotation table; remove() deletes it (idempotent). */
export interface Annotation {
  name: string;
  remove(): Promise<void>;
}

/**
 * Installs a ruleset; resolves to undefined (with the reason) when this process lacks
 * CAP_NET_ADMIN or nft, so callers can report "DSCP not verified" instead of failing.
 */
export async function installAnnotation(name: string, ruleset: string, runner: ProcessRunner = systemRunner): Promise<Annotation | { unavailable: string }> {
  let outcome;
  try {
    outcome = await runner.run({ argv: ['nft', '-f', '-'], input: ruleset, timeoutMs: 10_000 });
  } catch (err) {
    if (err instanceof UsmpError && err.code === 'USMP_E_DEPENDENCY_MISSING') return { unavailable: 'nft (nftables) is not installed' };
    throw err;
  }
  if (outcome.code !== 0) {
    const why = /not permitted|permission denied/i.test(outcome.stderr)
      ? 'needs CAP_NET_ADMIN (run as root or through the systemd unit)'
      : outcome.stderr.trim();
    return { unavailable: why };
  }
  let removed = false;
  return {
    name,
    async remove() {
      if (removed) return;
      removed = true;
      await runner.run({ argv: ['nft', 'delete', 'table', 'ip', name], timeoutMs: 10_000 }).catch(() => undefined);
    },
  };
}
