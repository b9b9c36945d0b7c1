import { readFileSync } from 'node:fs';

// The load model: how every TCP load the project generates behaves — qualification's latency
// under load, the full plan's RFC 6349 buffer delay, `qos verify`'s best effort, the monitor's
// scheduled tests. A load never inherits the machine's congestion control: with BBR (a common
// server default) the sender keeps the bottleneck queue nearly empty and a bufferbloated link
// looks fine, while the unit's PCs (cubic: Debian's, Windows' and macOS' default) fill it.
// Several flows each way, as Flent's RRUL test loads (docs/architecture.md, "Load model").

export interface LoadModel {
  /** TCP congestion control of both ends of every load flow (iperf3 -C, applied by the server too). */
  congestionControl: string;
  /** TCP flows per direction. */
  streams: number;
}

/** The names Linux accepts for TCP_CONGESTION (net/ipv4/tcp_cong.c: TCP_CA_NAME_MAX 16). */
export const CONGESTION_CONTROL_NAME = /^[a-z0-9_-]{1,15}$/;

export function describeLoadModel(m: LoadModel): string {
  return `${m.streams} TCP flows per direction, ${m.congestionControl} congestion control at both ends`;
}

/** The load model of a validated configuration (its `load` section). */
export function loadModelFrom(values: { load: { congestion_control: string; streams: number } }): LoadModel {
  return { congestionControl: values.load.congestion_control, streams: values.load.streams };
}

const ALLOWED_FILE = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';

/**
 * Why a process without CAP_NET_ADMIN on this host cannot run `algorithm`, or undefined when it
 * can: Linux lets it choose only one of net.ipv4.tcp_allowed_congestion_control. The responder
 * says so at start, since an iperf3 server that cannot apply the client's choice just closes the
 * test ("control socket has closed unexpectedly" at the client).
 */
export function congestionControlRefusal(
  algorithm: string,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  privileged = process.getuid?.() === 0,
): string | undefined {
  if (privileged) return undefined;
  let allowed: string[];
  try {
    allowed = read(ALLOWED_FILE).trim().split(/\s+/);
  } catch {
    return undefined; // not Linux, or no procfs: nothing to say
  }
  if (allowed.includes(algorithm)) return undefined;
  return `${algorithm} is not in net.ipv4.tcp_allowed_congestion_control (${allowed.join(' ')}): loads asking for it will fail; as root: sysctl -w net.ipv4.tcp_allowed_congestion_control="${[...allowed, algorithm].join(' ')}" (and the same line in /etc/sysctl.d/)`;
}
