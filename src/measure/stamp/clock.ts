// Time for STAMP: a wall clock in nanoseconds since the Unix epoch, and its 64-bit NTP form.
// [RFC 8762 §4.2.1; RFC 5905 §6: seconds since 1900-01-01 + 32-bit binary fraction]

export interface Clock {
  /** Wall-clock nanoseconds since 1970-01-01 UTC. */
  nowNs(): bigint;
}

/**
 * Date.now() has millisecond resolution; hrtime has nanoseconds but no epoch. Anchor hrtime to
 * the wall clock once: differences (RTT, turnaround) are then exact to the nanosecond, and the
 * absolute error is that of the wall clock plus at most 1 ms.
 */
export function systemClock(): Clock {
  const anchorWall = BigInt(Date.now()) * 1_000_000n;
  const anchorMono = process.hrtime.bigint();
  return { nowNs: () => anchorWall + (process.hrtime.bigint() - anchorMono) };
}

const NTP_UNIX_OFFSET_S = 2_208_988_800n;
const NS_PER_S = 1_000_000_000n;
const TWO_32 = 4_294_967_296n;

export function writeNtpTimestamp(buffer: Buffer, offset: number, ns: bigint): void {
  const seconds = ns / NS_PER_S + NTP_UNIX_OFFSET_S;
  const fraction = ((ns % NS_PER_S) * TWO_32) / NS_PER_S;
  buffer.writeUInt32BE(Number(seconds & 0xffffffffn), offset);
  buffer.writeUInt32BE(Number(fraction), offset + 4);
}

export function readNtpTimestamp(buffer: Buffer, offset: number): bigint {
  const seconds = BigInt(buffer.readUInt32BE(offset));
  const fraction = BigInt(buffer.readUInt32BE(offset + 4));
  // Round to the nearest nanosecond: the fraction's unit is 2^-32 s ≈ 0.23 ns.
  return (seconds - NTP_UNIX_OFFSET_S) * NS_PER_S + (fraction * NS_PER_S + TWO_32 / 2n) / TWO_32;
}

/** Error Estimate: S(1) Z(1) Scale(6) Multiplier(8); error = Multiplier × 2^(Scale−32) s. [RFC 4656 §4.1.2] */
export interface ErrorEstimate {
  synchronized: boolean;
  /** Z bit: timestamps in PTPv2 truncated format instead of NTP. [RFC 8186 §2.3] */
  ptp: boolean;
  errorSeconds: number;
}

export function encodeErrorEstimate(estimate: Omit<ErrorEstimate, 'ptp'>): number {
  const wanted = Math.max(estimate.errorSeconds, 2 ** -32);
  let scale = 0;
  let multiplier = Math.ceil(wanted * 2 ** (32 - scale));
  while (multiplier > 255 && scale < 63) {
    scale++;
    multiplier = Math.ceil(wanted * 2 ** (32 - scale));
  }
  multiplier = Math.min(255, Math.max(1, multiplier)); // [RFC 4656 §4.1.2] Multiplier MUST NOT be zero
  return ((estimate.synchronized ? 1 : 0) << 15) | (scale << 8) | multiplier;
}

export function decodeErrorEstimate(value: number): ErrorEstimate {
  const scale = (value >> 8) & 0x3f;
  const multiplier = value & 0xff;
  return { synchronized: (value & 0x8000) !== 0, ptp: (value & 0x4000) !== 0, errorSeconds: multiplier * 2 ** (scale - 32) };
}
