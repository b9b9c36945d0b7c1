// Stable error codes. A code is never renamed or reused once released; scripts and the
// national dashboard match on them. Each code carries the default advice printed by the CLI.
export const ERROR_CODES = {
  USMP_E_USAGE: 'Run the command with --help to see its arguments.',
  USMP_E_CONFIG_NOT_FOUND: 'Check the path given to --config (or create /etc/usmp-edge/config.json).',
  USMP_E_CONFIG_SYNTAX: 'Fix the JSON syntax at the position shown (a trailing comma or a missing quote is typical).',
  USMP_E_CONFIG_INVALID: 'Fix each key listed above; `usmp-edge config check FILE` re-checks the file.',
  USMP_E_DEPENDENCY_MISSING: 'Install the missing program (as root: apt-get install PACKAGE) and try again.',
  USMP_E_PORT_UNAVAILABLE: 'Another program holds this port, or it needs privileges; choose another port.',
  USMP_E_TARGET_UNREACHABLE: 'Check the target address, the route to it, and that the responder runs there (usmp-edge responder).',
  USMP_E_RESPONDER_ABSENT: 'Start `usmp-edge responder` on the hospital side, and open its ports (UDP 862, TCP 5201+) in the firewalls.',
  USMP_E_IPERF_FAILED: "Check that the responder's iperf3 servers run and that TCP 5201+ is open between the sites.",
  USMP_E_CONGESTION_CONTROL:
    'A load must run the congestion control of the load model at both ends; allow it on both hosts (net.ipv4.tcp_allowed_congestion_control) or choose another in load.congestion_control.',
  USMP_E_MEASUREMENT_TIMEOUT: 'The link or the responder stopped answering during the test; run it again and check the link.',
  USMP_E_PROFILE_UNKNOWN: 'Use one of the profiles listed by `usmp-edge qualify --help`, or define it under profiles in the configuration.',
  USMP_E_QOS_NO_POLICY: 'Define qos.up_mbps, qos.down_mbps and qos.classes in the configuration (see config/qos-policy.example.json).',
  USMP_E_QOS_PRIVILEGE: 'QoS changes need CAP_NET_ADMIN: run as root or from the usmp-edge service.',
  USMP_E_QOS_CONFLICT: 'Another queueing set-up is in place; remove it or ask who owns it before applying ours.',
  USMP_E_QOS_APPLY_FAILED: 'The change was refused and the previous state restored; read the message, fix the policy or the device names.',
  USMP_E_QOS_CHECK_FAILED: 'The change cut the hospital off or did not classify traffic; it was rolled back. Check the matchers and the interfaces.',
  USMP_E_QOS_ROLLED_BACK: 'The confirm deadline passed before the check ended; the previous state came back. Raise qos.confirm_timeout_s or check the link.',
  USMP_E_QOS_NOTHING_TO_ROLL_BACK: 'No change of ours is recorded; `usmp-edge qos status` shows what is in force.',
  USMP_E_ROUTER_CONNECT: 'Check qos.routeros.host and port, and that the api-ssl service is enabled and allows this appliance (/ip service).',
  USMP_E_ROUTER_TLS: "Install a certificate on the router's api-ssl service and give its CA in qos.routeros.ca_file.",
  USMP_E_ROUTER_LOGIN:
    "Check qos.routeros.username and the password file; the account's group needs the read, write, api and test policies (RouterOS 6.43 or later).",
  USMP_E_ROUTER_PERMISSION:
    "Give the account's group the policies named above (/user group set GROUP policy=read,write,api,test); nothing was changed on the router.",
  USMP_E_ROUTER_TEXT: "The RouterOS API carries 8-bit text: use ASCII for the router's user name, password, interface names and class names.",
  USMP_E_ROUTER_TRAP: 'The router refused a command; its message is above. Check the interface names and the router version.',
  USMP_E_ROUTER_TIMEOUT: 'The router did not answer in time (qos.routeros.command_timeout_ms); check its load and the link to it.',
  USMP_E_ROUTER_CLOSED: "The router closed the API session; check its logs (/log print) and the account's rights.",
  USMP_E_ROUTER_PROTOCOL: 'The router sent something that is not RouterOS API; check the port (8729 api-ssl, 8728 api).',
  USMP_E_OUTBOX_FULL: 'The hospital has not taken messages for a long time; check the bridge and the link. Devices are refused until space frees.',
  USMP_E_OUTBOX_IO: 'The outbox could not be written; check the disk (space, read-only file system) under the state directory.',
  USMP_E_DEVICE_EXISTS: 'Choose another name, or remove the device first (usmp-edge device remove NAME) to give it new credentials.',
  USMP_E_DEVICE_UNKNOWN: 'usmp-edge device list shows the enrolled devices.',
  USMP_E_DEVICE_REGISTRY: 'The device registry file is damaged; restore it from a backup or re-enrol the devices (the file is broker.devices_file).',
  USMP_E_BRIDGE_UPSTREAM: 'Check bridge.upstream (address, credentials, certificates) and the link to the hospital; the bridge retries by itself.',
  USMP_E_CAPTURE_UNAVAILABLE:
    'Packet capture needs node-pcap built against libpcap (as root: apt-get install libpcap-dev, then npm rebuild pcap) and CAP_NET_RAW.',
  USMP_E_CAPTURE_REQUEST:
    'The capture helper unit takes one JSON line {"iface", "filter"} from the daemon; check capture.interface and capture.filter in the daemon\'s configuration.',
  USMP_E_CAPTURE_FILE: 'The file is not a capture libpcap can read (pcap or pcapng); check the path, or capture again with tcpdump -w.',
  USMP_E_HEALTH_UNREACHABLE:
    'The daemon does not answer on metrics.listen; check that `usmp-edge run` is running (systemctl status usmp-edge) and the address.',
  USMP_E_REPORT_MALFORMED: 'The file is not a JSON report; it was damaged or truncated. Take the report.json written by usmp-edge qualify again.',
  USMP_E_REPORT_SCHEMA:
    'The document does not follow its schema (schemas/report.schema.json for reports, schemas/telemetry.schema.json for heartbeats, summaries and alerts); it was edited by hand or made by another program.',
  USMP_E_REPORT_UNSIGNED: 'Sign it on the appliance that measured it (usmp-edge report sign FILE) after creating its key (usmp-edge report keygen).',
  USMP_E_REPORT_SIGNATURE:
    'The report changed after it was signed, or the signature is damaged: take the original from the appliance (its report outbox or qualify.out_dir).',
  USMP_E_REPORT_KEY_UNKNOWN:
    "Enrol the appliance's public key at the collector (usmp-edge collector enroll, with the line printed by usmp-edge report keygen).",
  USMP_E_REPORT_KEY_EXPIRED:
    'The appliance key was no longer valid when the report was signed: renew the enrolment (usmp-edge collector enroll) and qualify again.',
  USMP_E_REPORT_CONFLICT: 'Another report with this report_id is stored already with a different content; report ids are unique per run: qualify again.',
  USMP_E_REPORT_KEY_REVOKED:
    'The appliance key was revoked at the collector (usmp-edge collector revoke); give the appliance a new key (usmp-edge report keygen) and enrol it.',
  USMP_E_REPORT_WRONG_SITE:
    'The key is enrolled for another establishment: an appliance writes for its own site only. Fix site.establishment_code on the appliance, or the enrolment.',
  USMP_E_REPORT_TIME:
    "The document's dates are impossible (measured after it was signed, or signed in the collector's future): check the appliance's clock (NTP); a report is then qualified again.",
  USMP_E_ENROLMENT_INCOMPLETE:
    'This key was enrolled without its establishment code; add it: usmp-edge collector enroll --appliance-id ID --public-key KEY --establishment-code CODE.',
  USMP_E_REPORT_TOO_LARGE: 'The report is larger than collector.max_report_kib; raise the limit if the report is genuine.',
  USMP_E_SIGNING_KEY: 'Create the appliance key with usmp-edge report keygen (as the service user), or fix report.signing_key_file.',
  USMP_E_ENROLMENT_FILE: 'Fix the enrolment file named above (collector.appliances_file); usmp-edge collector enroll writes valid entries.',
  USMP_E_COLLECTOR_REFUSED: "The collector refused the report for the reason above; it was set aside in the outbox's rejected/ folder.",
  USMP_E_SIGN_IN: 'Sign in again; if it keeps failing, check the account (usmp-edge collector user list) or the OpenID provider settings (collector.oidc.*).',
  USMP_E_SIGN_IN_LIMITED: 'Too many failed sign-ins; wait for the window to pass (15 minutes), or ask an administrator to check the account.',
  USMP_E_UNAUTHENTICATED: 'Sign in first (the login page), or send a bearer token made on your account page (Authorization: Bearer usmpc_…).',
  USMP_E_FORBIDDEN: 'Your roles do not cover this; ask the national team for the role of your region or site.',
  USMP_E_RATE_LIMITED: 'Too many requests from this address; wait a little and retry.',
  USMP_E_BAD_REQUEST: 'The request is not valid HTTP for this server (a malformed address or header); check the link or the client.',
  USMP_E_NOT_FOUND: 'Nothing is served at this address; start from the dashboard.',
  USMP_E_REPORT_EXPIRED:
    "The collector did not take the report within report.expiry_days; it was set aside in the outbox's expired/ folder. Check report.collector_url and the link, then upload it by hand (usmp-edge report upload FILE).",
  USMP_E_REPORT_STORE:
    "The collector's database could not be opened or written: check collector.database (SQLite: path, disk space, rights) or collector.postgres (server reachable, account, password file).",
  USMP_E_SECRET_FILE_UNSAFE:
    'A secret file must be readable by its owner and group only, and owned by the service user or root: chmod 600 (or 640) and chown it as the message says.',
  USMP_E_RESPONDER_CREDENTIALS:
    "Make the appliance's credentials on the responder (usmp-edge responder enroll NAME --out FILE), copy the file to the appliance with mode 600 and name it in qualify.responder_credentials_file.",
  USMP_E_STATION_CODE:
    'Type the code that `usmp-edge qualify --station` printed on the appliance. After too many wrong codes the session ends: start a new one.',
  USMP_E_STATION_ENDED: 'The station test session ended (its time ran out, or it was closed); start a new one with `usmp-edge qualify --station`.',
  USMP_E_LAB: 'A command of the network lab failed (tests and benchmarks only); its command line and output are above. Run as root with iproute2 and nftables.',
  USMP_E_ABORTED: 'The run was interrupted; nothing was left running.',
  USMP_E_INTERNAL: 'This is a bug in usmp-edge; report it with the log lines above.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Machine-readable details (never secrets), printed under --json. */
  details?: Record<string, unknown>;
}

/** The one error type of the project: a stable code, what was wrong, and what to do. */
export class UsmpError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UsmpError';
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code];
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isUsmpError(value: unknown): value is UsmpError {
  return value instanceof UsmpError;
}

/** Wraps anything thrown into a UsmpError so the CLI can always print a code. */
export function asUsmpError(value: unknown): UsmpError {
  if (isUsmpError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new UsmpError('USMP_E_INTERNAL', message, { cause: value });
}
