import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Benchmark, BenchRow } from './harness.js';
import { ADDRESSES, Lab, labUnavailableReason } from '../test/lab/index.js';
import { startResponder } from '../test/lab/cli-in-lab.js';
import { Appliance, type Device } from '../test/bridge/fixtures.js';
import { HospitalBroker } from '../test/fixtures/hospital-mosquitto.js';
import { memoryOf, resultWithin, startTool } from './bridge/processes.js';

// npm run bench -- monitor: in one run, in the lab,
// - probe overhead on the wire, per direction, counted by tcpdump on the WAN link (≤ 10 kbit/s);
// - the daemon's footprint (RSS, CPU of one core) idle with monitoring on, and under a device
//   load, next to the hospital's mosquitto in the same run (≤ 120 MiB, ≤ 2 % idle);
// - a soak: a clean link for SOAK_MIN minutes (10 by default) must raise no alert.

const SOAK_MIN = Number(process.env.SOAK_MIN ?? 10);
const WINDOW_S = 5; // the default monitor.window_s
const DEVICES: Device[] = ['ecg-1', 'steth-1'].map((name) => ({ name, password: `bench-${name}-0123456789` }));

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, clock ticks
}

async function footprint(pids: Record<string, number>, seconds: number): Promise<Record<string, { cpu_pct: number; rss_mib: number }>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
  const started = Date.now();
  const rss: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, []]));
  while (Date.now() - started < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const [k, pid] of Object.entries(pids)) rss[k]!.push(memoryOf(pid).rss_mib);
  }
  const elapsed = (Date.now() - started) / 1000;
  return Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [
      k,
      {
        cpu_pct: Math.round(((cpuTicks(pid) - before[k]!) / 100 / elapsed) * 100 * 100) / 100, // 100 ticks/s (USER_HZ)
        rss_mib: Math.max(...rss[k]!),
      },
    ]),
  );
}

async function wireRate(lab: Lab, seconds: number): Promise<Record<'up' | 'down', { kbit_s: number; packets_s: number; frame_octets: number }>> {
  const out = {} as Record<'up' | 'down', { kbit_s: number; packets_s: number; frame_octets: number }>;
  await Promise.all(
    (['up', 'down'] as const).map(async (direction) => {
      // on the WAN router: to-hos carries the upload, to-app the download (each as sent out)
      const dev = direction === 'up' ? 'to-hos' : 'to-app';
      const child = lab.spawn('wan', ['tcpdump', '-i', dev, '-n', '-e', '-l', '-Q', 'out', 'udp port 862']);
      let packets = 0;
      let octets = 0;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = / length (\d+):/.exec(line); // with -e: the frame length
        if (m) {
          packets++;
          octets += Number(m[1]);
        }
      });
      await new Promise((r) => setTimeout(r, seconds * 1000));
      child.kill('SIGINT');
      out[direction] = {
        kbit_s: Math.round(((octets * 8) / seconds / 1000) * 100) / 100,
        packets_s: Math.round((packets / seconds) * 10) / 10,
        frame_octets: packets ? Math.round(octets / packets) : 0,
      };
    }),
  );
  return out;
}

const bench: Benchmark = {
  name: 'monitor',
  title: 'Always-on monitoring: probe overhead on the wire, daemon footprint, clean-link soak',
  unavailable: labUnavailableReason,
  async run(log) {
    const rows: BenchRow[] = [];
    const lab = await Lab.create({ up: { rateMbit: 20 }, down: { rateMbit: 20 } });
    let appliance: Appliance | undefined;
    let hospital: HospitalBroker | undefined;
    try {
      const { credentialsFile } = await startResponder(lab);
      const inLab = (role: 'appliance' | 'hospital') => (argv: string[]) => ['ip', 'netns', 'exec', lab.ns(role), ...argv];
      hospital = await HospitalBroker.start({ host: ADDRESSES.hospital, wrap: inLab('hospital') });
      appliance = await Appliance.create(hospital, DEVICES, {
        sections: {
          monitor: { target: ADDRESSES.hospital, profile: 'teleconsultation-hd', throughput: { interval_min: 0 } },
          qualify: { responder_credentials_file: credentialsFile },
        },
      });
      await appliance.start(inLab('appliance'));
      const daemonPid = appliance.pid!;
      log('probe overhead: 60 s of tcpdump on the WAN router');
      const wire = await wireRate(lab, 60);
      for (const d of ['up', 'down'] as const)
        rows.push({
          group: 'STAMP probes on the wire (12/s, Class-of-Service TLV), lab WAN link, 60 s',
          case: d === 'up' ? 'towards the hospital' : 'from the hospital',
          tool: 'usmp-edge monitor',
          figures: { ...wire[d], budget_kbit_s: 10 },
        });
      log(`wire: ${JSON.stringify(wire)}`);

      log('footprint idle: 60 s');
      const idle = await footprint({ daemon: daemonPid, mosquitto: hospital.pid! }, 60);
      rows.push({ group: 'Footprint on this machine (CPU: share of one core)', case: 'idle, monitoring on', tool: 'usmp-edge run', figures: idle.daemon! });
      rows.push({ group: 'Footprint on this machine (CPU: share of one core)', case: 'idle', tool: 'mosquitto (hospital broker)', figures: idle.mosquitto! });
      log(`idle: ${JSON.stringify(idle)}`);

      log('footprint under 2 devices × 50 msg/s for 60 s');
      const creds = DEVICES.map((d) => `${d.name}:${d.password}`).join(',');
      const load = startTool(['publish', appliance.url, '2', '6000', '20', '100', creds], inLab('appliance'));
      await new Promise((r) => setTimeout(r, 2000));
      const busy = await footprint({ daemon: daemonPid, mosquitto: hospital.pid! }, 55);
      await resultWithin(load, '6000 PUBACKs of the load', 180_000);
      rows.push({
        group: 'Footprint on this machine (CPU: share of one core)',
        case: '100 msg/s from 2 devices, durable, to the hospital',
        tool: 'usmp-edge run',
        figures: busy.daemon!,
      });
      rows.push({
        group: 'Footprint on this machine (CPU: share of one core)',
        case: '100 msg/s from the bridge',
        tool: 'mosquitto (hospital broker)',
        figures: busy.mosquitto!,
      });
      log(`busy: ${JSON.stringify(busy)}`);

      log(`soak: ${SOAK_MIN} min of clean link`);
      const before = appliance.lines.length;
      await new Promise((r) => setTimeout(r, SOAK_MIN * 60_000));
      const soakLines = appliance.lines.slice(before);
      const alerts = soakLines.filter((l) => l.includes('"event":"alert.')).length;
      const windows = Math.round((SOAK_MIN * 60) / WINDOW_S);
      rows.push({
        group: `Clean 20/20 Mbit/s lab link, ${SOAK_MIN} minutes, teleconsultation-hd`,
        case: 'alerts raised',
        tool: 'usmp-edge monitor',
        figures: { minutes: SOAK_MIN, windows, alerts },
      });
      log(`soak: ${alerts} alerts in ${SOAK_MIN} min`);
    } finally {
      await appliance?.destroy();
      await hospital?.destroy();
      await lab.destroy();
    }
    return {
      rows,
      notes: [
        'Probe overhead: every frame of the STAMP session (UDP port 862) leaving the WAN router per direction, Ethernet header included (tcpdump -e), without preamble and inter-frame gap.',
        'CPU: (utime + stime) / elapsed from /proc/PID/stat; RSS: the highest VmRSS sampled each second.',
        `The daemon runs broker, durable outbox, bridge (to the hospital mosquitto in the lab), monitoring (12 probes/s, ${WINDOW_S} s windows) and /metrics; no capture interface.`,
      ],
    };
  },
};

export default bench;
