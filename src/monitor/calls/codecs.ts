// Codecs a static RTP payload type names [RFC 3551 §6], with the E-model's impairment factors
// from ITU-T G.113 (11/2007) Appendix I: Ie (Table I.1) and Bpl under random loss (Table I.3).
// G.711 is taken with packet-loss concealment, as every current endpoint has it. G.722 (PT 9) is
// wideband and the narrowband E-model does not rate it; dynamic payload types name no codec.

export interface NarrowbandCodec {
  name: string;
  Ie: number;
  Bpl: number;
}

const G711_PLC = { Ie: 0, Bpl: 25.1 };

export const CODEC_BY_PAYLOAD_TYPE: Readonly<Record<number, NarrowbandCodec>> = {
  0: { name: 'G.711 µ-law (PCMU)', ...G711_PLC },
  8: { name: 'G.711 A-law (PCMA)', ...G711_PLC },
  4: { name: 'G.723.1 6.3 kbit/s', Ie: 15, Bpl: 16.1 },
  18: { name: 'G.729A', Ie: 11, Bpl: 19.0 },
};

/** Clock rates of video payload types are 90 kHz [RFC 3551 §5]; everything else with a clock is audio. */
export function mediaOf(clockRate: number | undefined): 'audio' | 'video' | 'unknown' {
  if (clockRate === undefined) return 'unknown';
  return clockRate === 90000 ? 'video' : 'audio';
}
