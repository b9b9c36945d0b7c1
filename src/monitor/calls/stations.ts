import { networkInterfaces } from 'node:os';
import { cidrContains, parseCidr, type Cidr } from '../../qos/addresses.js';

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
