// The E-model of ITU-T G.107 (06/2015): the transmission rating factor R of a narrowband call,
// and the MOS it predicts. Every equation is the Recommendation's, numbered as there; every
// parameter not given takes its default of Table 1 (§7.7), with which R = 93.2.

/** The E-model's parameters [G.107 §7.7, Table 1]; each optional one takes its default. */
export interface EModelParameters {
  /** Send and receive loudness ratings, dB. */
  SLR: number;
  RLR: number;
  /** Sidetone masking rating and listener sidetone rating, dB. */
  STMR: number;
  LSTR: number;
  /** D-value of the telephone, send and receive side. */
  Ds: number;
  Dr: number;
  /** Talker echo loudness rating, dB; weighted echo path loss, dB. */
  TELR: number;
  WEPL: number;
  /** Mean one-way delay of the echo path, round-trip delay of a 4-wire loop, absolute delay, ms. */
  T: number;
  Tr: number;
  Ta: number;
  /** Quantization distortion units. */
  qdu: number;
  /** Equipment impairment factor and packet-loss robustness factor of the codec [G.113]. */
  Ie: number;
  Bpl: number;
  /** Random packet-loss probability, percent, and the burst ratio (1 for random loss). */
  Ppl: number;
  BurstR: number;
  /** Circuit noise referred to the 0 dBr point, dBm0p; noise floor at the receive side, dBmp. */
  Nc: number;
  Nfor: number;
  /** Room noise at the send and receive side, dB(A). */
  Ps: number;
  Pr: number;
  /** Advantage factor. */
  A: number;
  /** Delay sensitivity and minimum perceivable delay, ms [G.107 §7.4, 2015]. */
  sT: number;
  mT: number;
}

export const G107_DEFAULTS: Readonly<EModelParameters> = {
  SLR: 8,
  RLR: 2,
  STMR: 15,
  LSTR: 18,
  Ds: 3,
  Dr: 3,
  TELR: 65,
  WEPL: 110,
  T: 0,
  Tr: 0,
  Ta: 0,
  qdu: 1,
  Ie: 0,
  Bpl: 4.3,
  Ppl: 0,
  BurstR: 1,
  Nc: -70,
  Nfor: -64,
  Ps: 35,
  Pr: 35,
  A: 0,
  sT: 1,
  mT: 100,
};

export interface Rating {
  R: number;
  Ro: number;
  Is: number;
  Id: number;
  IeEff: number;
  MOS: number;
}

const log10 = Math.log10;

/** R = Ro − Is − Id − Ie,eff + A [G.107 eq. 7-1]. */
export function rate(given: Partial<EModelParameters> = {}): Rating {
  const p: EModelParameters = { ...G107_DEFAULTS, ...given };
  const OLR = p.SLR + p.RLR;
  // §7.2 basic signal-to-noise ratio
  const Nfo = p.Nfor + p.RLR; // eq. 7-7
  const Pre = p.Pr + 10 * log10(1 + 10 ** ((10 - p.LSTR) / 10)); // eq. 7-6
  const Nor = p.RLR - 121 + Pre + 0.008 * (Pre - 35) ** 2; // eq. 7-5
  const Nos = p.Ps - p.SLR - p.Ds - 100 + 0.004 * (p.Ps - OLR - p.Ds - 14) ** 2; // eq. 7-4
  const No = 10 * log10(10 ** (p.Nc / 10) + 10 ** (Nos / 10) + 10 ** (Nor / 10) + 10 ** (Nfo / 10)); // eq. 7-3
  const Ro = 15 - 1.5 * (p.SLR + No); // eq. 7-2
  // §7.3 simultaneous impairment factor
  const Xolr = OLR + 0.2 * (64 + No - p.RLR); // eq. 7-10
  const Iolr = 20 * ((1 + (Xolr / 8) ** 8) ** (1 / 8) - Xolr / 8); // eq. 7-9
  const STMRo = -10 * log10(10 ** (-p.STMR / 10) + Math.exp(-p.T / 4) * 10 ** (-p.TELR / 10)); // eq. 7-12
  // eq. 7-11
  const Ist =
    12 * (1 + ((STMRo - 13) / 6) ** 8) ** (1 / 8) - 28 * (1 + ((STMRo + 1) / 19.4) ** 35) ** (1 / 35) - 13 * (1 + ((STMRo - 3) / 33) ** 13) ** (1 / 13) + 29;
  const Q = 37 - 15 * log10(p.qdu); // eq. 7-17
  const G = 1.07 + 0.258 * Q + 0.0602 * Q ** 2; // eq. 7-16
  const Z = 46 / 30 - G / 40; // eq. 7-15
  const Y = (Ro - 100) / 15 + 46 / 8.4 - G / 9; // eq. 7-14
  const Iq = 15 * log10(1 + 10 ** Y + 10 ** Z); // eq. 7-13
  const Is = Iolr + Ist + Iq; // eq. 7-8
  // §7.4 delay impairment factor
  const Roe = -1.5 * (No - p.RLR); // eq. 7-20
  let TERV = p.TELR - 40 * log10((1 + p.T / 10) / (1 + p.T / 150)) + 6 * Math.exp(-0.3 * p.T ** 2); // eq. 7-22
  if (p.STMR < 9) TERV += Ist / 2; // TERVs, eq. 7-23
  const Re = 80 + 2.5 * (TERV - 14); // eq. 7-21
  const Idte = ((Roe - Re) / 2 + Math.sqrt((Roe - Re) ** 2 / 4 + 100) - 1) * (1 - Math.exp(-p.T)); // eq. 7-19
  const Rle = 10.5 * (p.WEPL + 7) * (p.Tr + 1) ** -0.25; // eq. 7-25
  const Idle = (Ro - Rle) / 2 + Math.sqrt((Ro - Rle) ** 2 / 4 + 169); // eq. 7-24
  let Idd = 0; // eq. 7-26: no impairment up to mT
  if (p.Ta > p.mT) {
    const X = log10(p.Ta / p.mT) / log10(2); // eq. 7-28
    const k = 6 * p.sT;
    Idd = 25 * ((1 + X ** k) ** (1 / k) - 3 * (1 + (X / 3) ** k) ** (1 / k) + 2); // eq. 7-27
  }
  const Id = Idte + Idle + Idd; // eq. 7-18
  // §7.5 effective equipment impairment factor
  const IeEff = p.Ie + ((95 - p.Ie) * p.Ppl) / (p.Ppl / p.BurstR + p.Bpl); // eq. 7-29
  const R = Ro - Is - Id - IeEff + p.A;
  return { R, Ro, Is, Id, IeEff, MOS: mosOf(R) };
}

/** MOS_CQE from R [G.107 Annex B, eq. B-4]. */
export function mosOf(R: number): number {
  if (R < 0) return 1;
  if (R > 100) return 4.5;
  return 1 + 0.035 * R + R * (R - 60) * (100 - R) * 7e-6;
}

/**
 * BurstR of a two-state loss model [G.107 §7.5, eq. 7-30]: 1 / (p + q), with p the probability
 * of a loss after a received packet and q of a received packet after a loss. 1 is random loss;
 * above 1, losses come in bursts.
 */
export function burstRatio(received: number, lost: number, lossRuns: number): number {
  if (lost <= 0 || received <= 0 || lossRuns <= 0) return 1;
  const p = lossRuns / received;
  const q = lossRuns / lost;
  return Math.max(1, 1 / (p + q));
}
