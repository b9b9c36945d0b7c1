import { networkInterfaces } from 'node:os';
import type { LoadedConfig } from '../../config/load.js';
import { cidrContains, parseCidr, type Cidr } from '../../qos/addresses.js';
import { classify } from '../../qos/classify.js';
import { parsePolicy } from '../../qos/policy.js';
import type { CallTrackerOptions } from './call-tracker.js';

// Which end of a call is the unit's station: an address inside the configured station networks,
// or, when none is configured, inside a network of the capture interface (the appliance's LAN
// port sits on the stations' network, inline or on a mirror port with an address).

export function stationNetworks(configured: readonly string[], iface: string): Cidr[] {
  const texts = configured.length > 0 ? configured : (networkInterfaces()[iface] ?? []).map((a) => a.cidr).filter((c): c is string => c !== null);
  return texts.map((t) => parseCidr(t)).filter((c): c is Cidr => c !== undefined);
}

export function stationPredicate(networks: readonly Cidr[]): (address: string) => boolean {
  return (address) => networks.some((n) => cidrContains(n, address));
}

/**
 * The DSCP the configured QoS policy gives a call's stream: the mark of the class it falls in
 * (qos/classify.ts, the rules the backends install), best effort's 0 when none; undefined when
 * no policy is configured.
 */
export function expectedDscpOf(config: LoadedConfig): CallTrackerOptions['expectedDscp'] {
  const qos = config.values.qos;
  if (qos.classes.length === 0 || qos.up_mbps === 0 || qos.down_mbps === 0) return undefined;
  const { policy } = parsePolicy(qos);
  if (!policy) return undefined;
  return ({ direction, station, far, farPort }) => {
    const name = classify(policy, { direction, local: station, remote: far, protocol: 'udp', remotePort: farPort });
    return policy.classes.find((c) => c.name === name)?.dscp ?? 0;
  };
}
