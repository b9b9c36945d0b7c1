import { cidrContains } from './addresses.js';
import { BEST_EFFORT, type Protocol, type QosPolicy } from './policy.js';

// Which class a packet falls in, by the same rules the backends install. Used to predict
// where the confirm probe must be counted.

export interface PacketDescription {
  direction: 'up' | 'down';
  /** Address on the USMP side (the appliance itself for its own probes). */
  local: string;
  remote: string;
  protocol: Exclude<Protocol, 'any'>;
  remotePort: number;
}

export function classify(policy: QosPolicy, packet: PacketDescription): string {
  for (const c of policy.classes) {
    const m = c.match;
    if (m.local.length > 0 && !m.local.some((p) => cidrContains(p, packet.local))) continue;
    if (m.remote.length > 0 && !m.remote.some((p) => cidrContains(p, packet.remote))) continue;
    if (m.protocol !== 'any' && m.protocol !== packet.protocol) continue;
    if (m.remotePorts.length > 0 && !m.remotePorts.some((r) => packet.remotePort >= r.first && packet.remotePort <= r.last)) continue;
    return c.name;
  }
  return BEST_EFFORT;
}
