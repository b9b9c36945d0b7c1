// The one table of DSCP names: class selectors (RFC 2474 §4.2.2), assured forwarding (RFC 2597
// §6), expedited forwarding (RFC 3246) and VOICE-ADMIT (RFC 5865 §6). The QoS policy, the DSCP
// check and the RTP analysis all name a mark through it, so AF12 is AF12 everywhere.

export const DSCP_BY_NAME: Readonly<Record<string, number>> = {
  CS0: 0,
  CS1: 8,
  CS2: 16,
  CS3: 24,
  CS4: 32,
  CS5: 40,
  CS6: 48,
  CS7: 56,
  AF11: 10,
  AF12: 12,
  AF13: 14,
  AF21: 18,
  AF22: 20,
  AF23: 22,
  AF31: 26,
  AF32: 28,
  AF33: 30,
  AF41: 34,
  AF42: 36,
  AF43: 38,
  EF: 46,
  VA: 44,
};

const NAME_BY_DSCP: ReadonlyMap<number, string> = new Map(Object.entries(DSCP_BY_NAME).map(([name, value]) => [value, name]));

/** `AF41` for 34; `DSCP 5` for a value without a name. */
export function dscpName(value: number): string {
  return NAME_BY_DSCP.get(value) ?? `DSCP ${value}`;
}

/** 34 for `AF41` or `af41`; undefined for anything else. */
export function dscpValue(name: string): number | undefined {
  const value = DSCP_BY_NAME[name.toUpperCase()];
  return Object.hasOwn(DSCP_BY_NAME, name.toUpperCase()) ? value : undefined;
}
