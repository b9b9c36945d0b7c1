// What one direction of the lab's WAN link does to traffic. "up" is USMP → hospital,
// "down" is hospital → USMP.
export type LinkDirection = 'up' | 'down';

export type DscpTreatment =
  | { kind: 'keep' }
  | { kind: 'bleach' } // every packet leaves with DSCP 0, as many operators do
  | { kind: 'remap'; map: Record<number, number> }; // e.g. {46: 34}: EF arrives as AF41

export interface LinkImpairment {
  /** htb rate in Mbit/s (10^6); undefined = unshaped. */
  rateMbit?: number;
  /** Queue behind the shaper, in milliseconds of the rate (bfifo); large values make bufferbloat. */
  bufferMs?: number;
  /** Random loss, percent of packets (nftables numgen). */
  lossPct?: number;
  /** One-way delay added by the userspace emulator, ms. */
  delayMs?: number;
  /** Jitter: half-width of a uniform distribution, or the sigma of a normal one, ms. */
  jitterMs?: number;
  jitterDistribution?: 'uniform' | 'normal';
  /** Let a later packet overtake an earlier one (netem's behaviour with jitter). */
  reorder?: boolean;
  dscp?: DscpTreatment;
  /**
   * The line's own framing, as a DSL modem counts it: the shaper charges each packet what it
   * takes on that line (a tc size table on its root) [tc-stab(8)]. Overhead is added to what the
   * kernel counts, which already includes the 14-octet Ethernet header.
   */
  sizeTable?: { linklayer: 'atm' | 'ethernet'; overhead: number; mpu?: number };
}

export const DEFAULT_BUFFER_MS = 100;

/** The smallest queue we give a shaper: a few full-size frames, whatever the rate. */
export const MIN_BUFFER_BYTES = 16 * 1514;

export function bufferBytes(link: LinkImpairment): number {
  if (link.rateMbit === undefined) return 0;
  const ms = link.bufferMs ?? DEFAULT_BUFFER_MS;
  return Math.max(MIN_BUFFER_BYTES, Math.round((link.rateMbit * 1e6 * ms) / 1000 / 8));
}

export function needsDelayEmulator(link: LinkImpairment): boolean {
  return (link.delayMs ?? 0) > 0 || (link.jitterMs ?? 0) > 0;
}

export function validateImpairment(direction: LinkDirection, link: LinkImpairment): void {
  const problems: string[] = [];
  if (link.rateMbit !== undefined && !(link.rateMbit > 0)) problems.push('rateMbit must be > 0');
  if (link.lossPct !== undefined && !(link.lossPct >= 0 && link.lossPct <= 100)) problems.push('lossPct must be within 0..100');
  if ((link.jitterMs ?? 0) > (link.delayMs ?? 0)) problems.push('jitterMs must not exceed delayMs');
  if ((link.delayMs ?? 0) < 0) problems.push('delayMs must be >= 0');
  if (problems.length > 0) throw new Error(`lab link ${direction}: ${problems.join('; ')}`);
}
