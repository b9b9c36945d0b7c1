import { RouterOsSimulator, type SimulatorOptions } from './server.js';

// A router as a site would have it before we arrive: the default configuration's FastTrack
// rule and the dynamic counter rule RouterOS puts above it, PPP's dynamic change-mss rule, a
// mangle rule, a queue and a large address list of the site's own (a blocklist) — objects we
// must never touch — and a clock an hour ahead of ours (the router keeps local time).

export const ROUTER_USER = 'usmp';
export const ROUTER_PASSWORD = 'router-secret-do-not-log';
export const SITE_ADDRESS_LIST_SIZE = 5000;

export function siteRouter(options: SimulatorOptions = {}): RouterOsSimulator {
  const sim = new RouterOsSimulator({ username: ROUTER_USER, password: ROUTER_PASSWORD, clockOffsetMs: 3_600_000, ...options });
  const m = sim.model;
  m.add('/ip/firewall/filter', {
    chain: 'forward',
    action: 'accept',
    'connection-state': 'established,related,untracked',
    comment: 'defconf: accept established',
  });
  m.add('/ip/firewall/filter', { chain: 'forward', action: 'fasttrack-connection', 'connection-state': 'established,related', comment: 'defconf: fasttrack' });
  m.add('/ip/firewall/filter', { chain: 'forward', action: 'drop', 'connection-state': 'invalid', comment: 'defconf: drop invalid' });
  m.addDynamic('/ip/firewall/filter', { chain: 'forward', action: 'passthrough', comment: 'special dummy rule to show fasttrack counters' });
  m.add('/ip/firewall/mangle', {
    chain: 'prerouting',
    action: 'mark-routing',
    'new-routing-mark': 'backup',
    'src-address': '192.168.88.50',
    comment: 'site: backup route',
  });
  m.addDynamic('/ip/firewall/mangle', {
    chain: 'forward',
    action: 'change-mss',
    'new-mss': 'clamp-to-pmtu',
    protocol: 'tcp',
    'tcp-flags': 'syn',
    passthrough: 'true',
    comment: 'added by pppoe-out1',
  });
  for (let i = 0; i < SITE_ADDRESS_LIST_SIZE; i++) {
    m.add('/ip/firewall/address-list', { list: 'site-blocklist', address: `203.0.${(i >> 8) & 255}.${i & 255}`, comment: `site: blocklist ${i}` });
  }
  m.add('/queue/tree', { name: 'site-guest', parent: 'ether2', 'max-limit': '5000000', comment: 'site: guest wifi' });
  return sim;
}
