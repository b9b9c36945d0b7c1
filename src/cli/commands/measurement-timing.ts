import { holdCpuWakeLatency, type CpuWakeLatencyHold } from '../../measure/cpu-wake-latency.js';
import type { Logger } from '../../log/logger.js';

/**
 * Holds the CPU wake-up latency at 0 for a measurement command (probe latency, qualify) and
 * says so in the log; without root the figures still come, with the wake-up delay in them.
 */
export function holdForMeasurement(log: Logger, hold: () => CpuWakeLatencyHold = () => holdCpuWakeLatency()): CpuWakeLatencyHold {
  const held = hold();
  if (held.held) log.debug({ event: 'timing.cpu_wake_latency_held' }, 'CPUs kept ready to run while measuring');
  else
    log.info(
      { event: 'timing.cpu_wake_latency_not_held', reason: held.reason },
      'round trips may include the CPU wake-up delay (0.3 ms on average, measured on a virtual machine); run as root to avoid it',
    );
  return held;
}
