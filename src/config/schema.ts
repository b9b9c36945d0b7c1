// The one configuration schema. Every key has a doc line, a format and a default; the
// environment variable of a key is derived from its path (see envNameFor) so that the
// README's table and the loader cannot drift apart.

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const schemaDefinition = {
  site: {
    establishment: { doc: 'Prison establishment name', format: String, default: '' },
    establishment_code: { doc: 'Establishment code in the national follow-up table', format: String, default: '' },
    usmp: { doc: 'Name of the prison health unit (USMP)', format: String, default: '' },
    hospital: { doc: 'Attached hospital (CH de rattachement)', format: String, default: '' },
    appliance_id: { doc: 'Identifier of this appliance (defaults to the host name when empty)', format: String, default: '' },
  },
  log: {
    level: { doc: 'Log level', format: [...LOG_LEVELS], default: 'info' },
    pretty: { doc: 'Human-readable logs: auto (on a TTY), always, never', format: ['auto', 'always', 'never'], default: 'auto' },
  },
  responder: {
    bind: { doc: 'Address the responder listens on', format: 'ip-address', default: '0.0.0.0' },
    stamp_port: { doc: 'UDP port of the STAMP session-reflector [RFC 8762 §4]', format: 'port', default: 862 },
    iperf_port: { doc: 'First TCP port of the iperf3 server pool', format: 'port', default: 5201 },
    iperf_pool_size: { doc: 'Number of iperf3 servers (concurrent auditors served)', format: 'nat', default: 4 },
    iperf_max_mbps: { doc: 'Each iperf3 server ends a test whose average rate exceeds this (0: no limit)', format: 'nat', default: 1000 },
    stamp_max_sessions: { doc: 'Most STAMP sessions tracked at once (stateful mode)', format: 'nat', default: 1024 },
    stamp_max_pps_per_peer: { doc: 'Most STAMP packets per second reflected to one peer address', format: 'nat', default: 1000 },
    stamp_mode: { doc: 'Reflector mode [RFC 8762 §4.3]', format: ['stateless', 'stateful'], default: 'stateful' },
  },
  qualify: {
    target: { doc: 'Default responder to qualify against (host name or address)', format: 'host', default: '' },
    profile: { doc: 'Default telemedicine profile', format: String, default: 'teleconsultation-hd' },
    profiles_dir: { doc: 'Directory of site profiles (*.json), added to the built-in ones', format: String, default: '/etc/usmp-edge/profiles' },
    plan: { doc: 'Default test plan', format: ['quick', 'full'], default: 'quick' },
    out_dir: { doc: 'Where reports are written', format: String, default: './reports' },
    lang: { doc: 'Report language', format: ['fr', 'en'], default: 'fr' },
  },
  qos: {
    backend: { doc: 'Where the policy is enforced: linux (this appliance inline) or routeros (the site\'s MikroTik)', format: ['linux', 'routeros'], default: 'linux' },
    up_mbps: { doc: 'Link rate towards the hospital, Mbit/s (as qualified); 0 when no policy is configured', format: 'non-negative-number', default: 0 },
    down_mbps: { doc: 'Link rate from the hospital, Mbit/s', format: 'non-negative-number', default: 0 },
    shape_percent: { doc: 'Shape at this share of the link so the queue forms here, not in the modem', format: 'nat', default: 95 },
    classes: { doc: 'Traffic classes [{name, dscp, priority, rate_mbps, ceil_mbps, match:{local, remote, protocol, remote_ports}}]; see config/qos-policy.example.json', format: 'qos-classes', default: [] as unknown[] },
    confirm_timeout_s: { doc: 'Confirmed commit: the change is undone by itself unless checked within this time', format: 'nat', default: 60 },
    check_target: { doc: 'Hospital address probed to confirm a change (a usmp-edge responder); defaults to qualify.target', format: 'host', default: '' },
    check_port: { doc: 'STAMP port of the responder probed to confirm a change', format: 'port', default: 862 },
    state_dir: { doc: 'Where the roll-back state of the last change is kept', format: String, default: '/var/lib/usmp-edge/qos' },
    linux: {
      wan_interface: { doc: 'Interface towards the hospital (upload is shaped on its egress)', format: String, default: 'eth1' },
      lan_interface: { doc: 'Interface towards the USMP LAN (download is shaped on its egress)', format: String, default: 'eth0' },
    },
    routeros: {
      host: { doc: 'Address of the MikroTik router', format: 'host', default: '' },
      port: { doc: 'API port (8729 api-ssl, 8728 plain api)', format: 'port', default: 8729 },
      tls: { doc: 'Use api-ssl (plain api sends the password in clear)', format: Boolean, default: true },
      ca_file: { doc: 'CA certificate that signed the router\'s api-ssl certificate (PEM)', format: String, default: '' },
      username: { doc: 'Router account (a group with read,write,api only)', format: String, default: '' },
      password_file: { doc: 'File holding the router account password', format: 'secret-file', default: '' },
      wan_interface: { doc: 'Router interface towards the hospital (upload queue tree parent)', format: String, default: 'ether1' },
      lan_interface: { doc: 'Router interface or bridge towards the USMP (download queue tree parent)', format: String, default: 'bridge' },
      command_timeout_ms: { doc: 'Deadline of each API command', format: 'nat', default: 5000 },
    },
  },
  bridge: {
    upstream: {
      url: { doc: 'Hospital MQTT broker (mqtts://host:8883); empty disables the bridge', format: 'mqtt-url', default: '' },
      username: { doc: 'User name at the hospital broker', format: String, default: '' },
      password_file: { doc: 'File holding the hospital broker password', format: 'secret-file', default: '' },
    },
  },
};

export type ConfigDefinition = typeof schemaDefinition;

interface LeafSchema {
  doc: string;
  format: unknown;
  default: unknown;
  env?: string;
}

function isLeaf(node: unknown): node is LeafSchema {
  return typeof node === 'object' && node !== null && 'default' in node && 'doc' in node;
}

/** `responder.stamp_port` → `USMP_EDGE_RESPONDER_STAMP_PORT`. */
export function envNameFor(keyPath: string): string {
  return `USMP_EDGE_${keyPath.replace(/\./g, '_').toUpperCase()}`;
}

/** Every leaf of the schema with its path, in declaration order. */
export function listLeaves(node: unknown = schemaDefinition, prefix = ''): Array<{ path: string; leaf: LeafSchema }> {
  const out: Array<{ path: string; leaf: LeafSchema }> = [];
  for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isLeaf(child)) out.push({ path, leaf: child });
    else out.push(...listLeaves(child, path));
  }
  return out;
}

/** A deep copy of the schema with `env` filled in for every key. */
export function schemaWithEnv(): ConfigDefinition {
  const copy = structuredCloneSchema(schemaDefinition) as ConfigDefinition;
  for (const { path, leaf } of listLeaves(copy)) leaf.env = envNameFor(path);
  return copy;
}

// structuredClone drops functions (String, Number formats), so copy by hand.
function structuredCloneSchema(node: unknown): unknown {
  if (Array.isArray(node)) return [...node];
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, structuredCloneSchema(v)]));
}
