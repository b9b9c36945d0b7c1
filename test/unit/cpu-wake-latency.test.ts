import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import t from 'tap';
import { CPU_LATENCY_DEVICE, holdCpuWakeLatency, type FileOps } from '../../src/measure/cpu-wake-latency.js';
import { holdForMeasurement } from '../../src/cli/commands/measurement-timing.js';
import { createLogger } from '../../src/log/logger.js';

function fakeFiles(fail: { open?: string; write?: string } = {}): FileOps & { written: Buffer[]; closed: number[] } {
  const written: Buffer[] = [];
  const closed: number[] = [];
  const error = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  return {
    written,
    closed,
    open: () => {
      if (fail.open) throw error(fail.open);
      return 7;
    },
    write: (_fd, data) => {
      if (fail.write) throw error(fail.write);
      written.push(Buffer.from(data));
    },
    close: (fd) => {
      closed.push(fd);
    },
  };
}

t.test('held: writes a 0 µs limit and closes the file once on release', async (t) => {
  const files = fakeFiles();
  const hold = holdCpuWakeLatency(files);
  t.equal(hold.held, true);
  t.same(files.written, [Buffer.alloc(4)], 'one binary s32 of 0');
  t.same(files.closed, [], 'kept open while held');
  hold.release();
  hold.release();
  t.same(files.closed, [7], 'closed once');
});

t.test('not root: not held, the reason says so, release does nothing', async (t) => {
  const files = fakeFiles({ open: 'EACCES' });
  const hold = holdCpuWakeLatency(files);
  t.equal(hold.held, false);
  t.match(hold.reason, /writable by root only/);
  hold.release();
  t.same(files.closed, []);
});

t.test('no such device, or the write refused: not held, nothing left open', async (t) => {
  t.match(holdCpuWakeLatency(fakeFiles({ open: 'ENOENT' })).reason, /ENOENT/);
  const files = fakeFiles({ write: 'EINVAL' });
  const hold = holdCpuWakeLatency(files);
  t.equal(hold.held, false);
  t.match(hold.reason, /EINVAL/);
  t.same(files.closed, [7], 'the file opened is closed again');
});

const realDevice = { skip: process.getuid?.() !== 0 || !existsSync(CPU_LATENCY_DEVICE) ? 'needs root and /dev/cpu_dma_latency' : false };
/** Reading the device gives the limit in force, the lowest of all requests held. [pm_qos_interface.rst] */
const limitInForce = (): number => readFileSync(CPU_LATENCY_DEVICE).readInt32LE(0);

t.test('the real device, as root: open while held, closed after', realDevice, async (t) => {
  const openOnDevice = (): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === CPU_LATENCY_DEVICE;
      } catch {
        return false;
      }
    }).length;
  const before = openOnDevice();
  // another process (a lab emulator) may hold its own request: the limit in force is the lowest
  const baseline = limitInForce();
  const hold = holdCpuWakeLatency();
  t.equal(hold.held, true, hold.reason ?? 'held');
  t.equal(openOnDevice(), before + 1, 'the request lives as long as this open file');
  t.equal(limitInForce(), 0, 'the kernel applies 0 µs');
  hold.release();
  t.equal(openOnDevice(), before, 'released');
  if (baseline === 0) t.comment('another process holds 0 µs: the release cannot be seen in the limit in force; the open-file count above shows it');
  else t.equal(limitInForce(), baseline, `the limit in force is back to what it was (${baseline} µs)`);
});

t.test('a process killed with SIGKILL while holding leaves no limit behind', realDevice, async (t) => {
  const module = new URL('../../dist/measure/cpu-wake-latency.js', import.meta.url).href;
  const baseline = limitInForce();
  const child = spawn(
    process.execPath,
    ['-e', `import(${JSON.stringify(module)}).then((m) => { console.log(m.holdCpuWakeLatency().held); setInterval(() => undefined, 60_000); })`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  t.equal(line, 'true', 'the child holds the request');
  t.equal(limitInForce(), 0, 'in force while the child lives');
  child.kill('SIGKILL');
  await once(child, 'exit');
  if (baseline === 0) t.comment("another process holds 0 µs: the end of the child's request cannot be seen in the limit in force");
  else t.equal(limitInForce(), baseline, `gone with the process (back to ${baseline} µs)`);
});

t.test('the command log says whether the timestamps carry the wake-up delay', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger({ level: 'debug', pretty: 'never', fd: 2, destination });
  holdForMeasurement(log, () => ({ held: false, reason: '/dev/cpu_dma_latency is writable by root only', release: () => undefined }));
  holdForMeasurement(log, () => ({ held: true, release: () => undefined }));
  t.match(lines, [
    { level: 30, event: 'timing.cpu_wake_latency_not_held', reason: /root only/ },
    { level: 20, event: 'timing.cpu_wake_latency_held' },
  ]);
});
