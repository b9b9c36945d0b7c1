import { RouterOsSimulator, type SimulatorOptions } from './server.js';

// A router as a site would have it before we arrive: the default configuration's FastTrack
// rule, a mangle rule and a queue of the site's own — objects we must never touch.

export const ROUTER_USER = 'usmp';
export const ROUTER_PASSWORD = 'router-secret-do-not-log';

export function siteRouter(options: SimulatorOptions = {}): RouterOsSimulator {
  const sim = new RouterOsSimulator({ username: ROUTER_USER, password: ROUTER_PASSWORD, ...options });
  const m = sim.model;
  m.add('/ip/firewall/filter', { chain: 'forward', action: 'accept', 'connection-state': 'established,related,untracked', comment: 'defconf: accept established' });
  m.add('/ip/firewall/filter', { chain: 'forward', action: 'fasttrack-connection', 'connection-state': 'established,related', comment: 'defconf: fasttrack' });
  m.add('/ip/firewall/filter', { chain: 'forward', action: 'drop', 'connection-state': 'invalid', comment: 'defconf: drop invalid' });
  m.add('/ip/firewall/mangle', { chain: 'prerouting', action: 'mark-routing', 'new-routing-mark': 'backup', 'src-address': '192.168.88.50', comment: 'site: backup route' });
  m.add('/queue/tree', { name: 'site-guest', parent: 'ether2', 'max-limit': '5000000', comment: 'site: guest wifi' });
  return sim;
}
