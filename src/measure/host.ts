import { cpus } from 'node:os';
import si from 'systeminformation';
import { systemRunner, type ProcessRunner } from '../exec/process-runner.js';

// The appliance's own side of the measurement: the NIC that carries the test (speed, duplex,
// MTU, errors) and its CPU during the run. A slow or erroring NIC points at internal cabling;
// a saturated CPU means the appliance, not the link, limited the figures.

export interface HostCheck {
  interface: string | null;
  speed_mbps: number | null;
  duplex: string | null;
  mtu: number | null;
  rx_errors: number | null;
  tx_errors: number | null;
  rx_dropped: number | null;
  problems: string[];
}

export async function outgoingInterface(target: string, runner: ProcessRunner = systemRunner): Promise<string | null> {
  try {
    const out = await runner.run({ argv: ['ip', '-j', 'route', 'get', target], timeoutMs: 5_000 });
    const routes = JSON.parse(out.stdout) as Array<{ dev?: string }>;
    return routes[0]?.dev ?? null;
  } catch {
    return null;
  }
}

export async function checkHost(target: string, runner: ProcessRunner = systemRunner): Promise<HostCheck> {
  const dev = await outgoingInterface(target, runner);
  const check: HostCheck = { interface: dev, speed_mbps: null, duplex: null, mtu: null, rx_errors: null, tx_errors: null, rx_dropped: null, problems: [] };
  if (!dev) return check;
  const nic = await si.networkInterfaces();
  const info = Array.isArray(nic) ? nic.find((n) => n.iface === dev) : undefined;
  // speed is -1/null on virtual NICs (systeminformation's networkInterfaces()): report unknown, never judge on it
  if (info) {
    check.speed_mbps = typeof info.speed === 'number' && info.speed > 0 ? info.speed : null;
    check.duplex = info.duplex && info.duplex !== 'unknown' ? info.duplex : null;
    check.mtu = info.mtu ?? null;
  }
  const [stats] = await si.networkStats(dev);
  if (stats) {
    check.rx_errors = stats.rx_errors;
    check.tx_errors = stats.tx_errors;
    check.rx_dropped = stats.rx_dropped;
  }
  if (check.speed_mbps !== null && check.speed_mbps < 1000)
    check.problems.push(`network interface ${dev} negotiated ${check.speed_mbps} Mbit/s (expected 1000): cable or port`);
  if (check.duplex === 'half') check.problems.push(`network interface ${dev} is in half duplex: cable or port`);
  if ((check.rx_errors ?? 0) + (check.tx_errors ?? 0) > 0)
    check.problems.push(`network interface ${dev} counts ${(check.rx_errors ?? 0) + (check.tx_errors ?? 0)} errors: cabling suspected`);
  if (check.mtu !== null && check.mtu < 1500) check.problems.push(`MTU of ${dev} is ${check.mtu} (< 1500)`);
  return check;
}

/** Busy share of all CPUs between start() and stop(), sampled to catch the peak. */
export function startCpuSampler(periodMs = 500): { stop(): { mean_pct: number; max_pct: number } } {
  const snapshot = (): { idle: number; total: number } =>
    cpus().reduce(
      (acc, c) => {
        const t = c.times;
        return { idle: acc.idle + t.idle, total: acc.total + t.user + t.nice + t.sys + t.idle + t.irq };
      },
      { idle: 0, total: 0 },
    );
  const first = snapshot();
  let previous = first;
  let max = 0;
  const timer = setInterval(() => {
    const now = snapshot();
    const total = now.total - previous.total;
    if (total > 0) max = Math.max(max, 100 * (1 - (now.idle - previous.idle) / total));
    previous = now;
  }, periodMs);
  return {
    stop() {
      clearInterval(timer);
      const last = snapshot();
      const total = last.total - first.total;
      const mean = total > 0 ? 100 * (1 - (last.idle - first.idle) / total) : 0;
      return { mean_pct: Math.round(mean * 10) / 10, max_pct: Math.round(Math.max(max, mean) * 10) / 10 };
    },
  };
}
