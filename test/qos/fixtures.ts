import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDRESSES } from '../../src/lab/lab.js';

// A lab policy: 20/20 Mbit/s, telemedicine video = UDP between the station and the hospital
// (iperf3's UDP flows and STAMP probes fall in it); best effort is the rest (TCP).

export function labPolicy(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    backend: 'linux',
    up_mbps: 20,
    down_mbps: 20,
    shape_percent: 95,
    classes: [
      {
        name: 'video',
        dscp: 'AF41',
        priority: 2,
        rate_mbps: 4,
        ceil_mbps: 19,
        match: { local: [`${ADDRESSES.usmp}/32`, `${ADDRESSES.applianceWan}/32`], remote: [`${ADDRESSES.hospital}/32`], protocol: 'udp' },
      },
      {
        name: 'devices',
        dscp: 'AF21',
        priority: 3,
        rate_mbps: 1,
        ceil_mbps: 19,
        match: { remote: [`${ADDRESSES.hospital}/32`], protocol: 'tcp', remote_ports: ['8883'] },
      },
    ],
    confirm_timeout_s: 20,
    check_target: ADDRESSES.hospital,
    check_port: 862,
    linux: { wan_interface: 'wan0', lan_interface: 'lan0' },
    ...overrides,
  };
}

export interface ConfigDir {
  dir: string;
  file: string;
  stateDir: string;
  cleanup(): void;
}

export function writeQosConfig(qos: Record<string, unknown>): ConfigDir {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-qos-'));
  const stateDir = join(dir, 'state');
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ log: { level: 'warn', pretty: 'never' }, deployment: { mode: 'inline-router' }, qos: { state_dir: stateDir, ...qos } }));
  return { dir, file, stateDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
