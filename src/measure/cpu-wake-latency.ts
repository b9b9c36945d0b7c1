import { closeSync, openSync, writeSync } from 'node:fs';

// While a measurement runs, ask the kernel to keep idle CPUs ready to run at once, so the
// moment a reply arrives is the moment we read it. [Linux Documentation/admin-guide/pm/
// cpuidle.rst, "Power Management Quality of Service for CPUs": a process that writes a 32-bit
// latency limit to /dev/cpu_dma_latency holds it until it closes the file; 0 keeps CPUs out of
// every idle state that takes time to leave.]
//
// Measured here (benchmarks/stamp-timestamping.bench.ts, 50 pps on a 2-vCPU VM): our RTT
// exceeds the kernel's capture RTT of the same packets by 318 µs mean, 287 median; holding the
// limit brings that to 177 and 122. The kernel drops the request when the file is closed, also
// on SIGKILL (test/unit/cpu-wake-latency.test.ts), so nothing outlives the process. It costs an idle CPU's power while held: for the minutes of
// a probe or a qualification, never for the daemon's continuous monitoring.

export const CPU_LATENCY_DEVICE = '/dev/cpu_dma_latency';

export interface CpuWakeLatencyHold {
  /** True when the kernel accepted the request. */
  readonly held: boolean;
  /** Why it could not be held (not root, no such device), for the log. */
  readonly reason?: string;
  /** Lets the CPUs idle deeply again; safe to call more than once. */
  release(): void;
}

export interface FileOps {
  open(path: string): number;
  write(fd: number, data: Buffer): void;
  close(fd: number): void;
}

const nodeFileOps: FileOps = {
  open: (path) => openSync(path, 'w'),
  write: (fd, data) => {
    writeSync(fd, data);
  },
  close: (fd) => closeSync(fd),
};

export function holdCpuWakeLatency(files: FileOps = nodeFileOps): CpuWakeLatencyHold {
  const path = CPU_LATENCY_DEVICE;
  let fd: number;
  try {
    fd = files.open(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason = code === 'EACCES' || code === 'EPERM' ? `${path} is writable by root only` : `${path}: ${code}`;
    return { held: false, reason, release: () => undefined };
  }
  const limit = Buffer.alloc(4); // a binary s32 of 0 µs: the same four bytes in either byte order
  try {
    files.write(fd, limit);
  } catch (err) {
    files.close(fd);
    return { held: false, reason: `${path}: ${(err as NodeJS.ErrnoException).code ?? 'write failed'}`, release: () => undefined };
  }
  let open = true;
  return {
    held: true,
    release: () => {
      if (!open) return;
      open = false;
      files.close(fd);
    },
  };
}
