import type { RtpStreamSummary } from '../rtp/rtp-streams.js';
import { CODEC_BY_PAYLOAD_TYPE } from './codecs.js';
import { burstRatio, rate } from './e-model.js';

// A call's grade, from what its streams carried. Audio whose payload type names a codec is rated
// with the E-model (G.107) and graded on R by the satisfaction bands of G.107 Annex B
// (Table B.1): R ≥ 80 "satisfied" is good, R ≥ 60 ("some" to "many users dissatisfied") is fair,
// below is poor. Video, and audio of an unnamed codec, are graded on loss and jitter against
// network thresholds: good below 1 % loss (ITU-T G.1010, videophone) and 30 ms jitter
// (Microsoft's Teams network targets); poor from 3 % loss (G.1010, conversational voice) or
// 50 ms jitter (ITU-T Y.1541 class 0 delay variation). The call takes its worst grade.

export type Grade = 'good' | 'fair' | 'poor';

export const GRADE_THRESHOLDS = {
  r: { good: 80, fair: 60, source: 'ITU-T G.107 Annex B, Table B.1' },
  loss_pct: { good: 1, poor: 3, source: 'ITU-T G.1010 (videophone < 1 %, conversational voice < 3 %)' },
  jitter_ms: { good: 30, poor: 50, source: 'Microsoft Teams network targets (30 ms); ITU-T Y.1541 class 0 (50 ms)' },
} as const;

export interface AudioRating {
  codec: string;
  /** Mouth-to-ear delay used: half the monitor's RTT, one 20 ms packet, a de-jitter buffer of twice the jitter. */
  delay_ms: number;
  loss_pct: number;
  burst_ratio: number;
  r: number;
  mos: number;
  grade: Grade;
}

const PACKET_MS = 20;

/** The E-model rating of one audio stream, or undefined when its codec is not a named narrowband one. */
export function rateAudio(stream: RtpStreamSummary, rttMs: number | undefined): AudioRating | undefined {
  const codec = CODEC_BY_PAYLOAD_TYPE[stream.payload_type];
  if (!codec) return undefined;
  const jitter = stream.mean_jitter_ms ?? 0;
  const delay = (rttMs ?? 0) / 2 + PACKET_MS + 2 * jitter;
  const lossPct = Math.max(0, stream.lost_pct);
  const received = stream.packets;
  const burst = burstRatio(received, Math.max(0, stream.lost), stream.loss_runs);
  // T = Ta and Tr = 2 Ta: the echo path is the call's own path (echo cancelled at the ends, TELR 65 dB)
  const rating = rate({ Ie: codec.Ie, Bpl: codec.Bpl, Ppl: lossPct, BurstR: burst, Ta: delay, T: delay, Tr: 2 * delay });
  const r = rating.R;
  const grade: Grade = r >= GRADE_THRESHOLDS.r.good ? 'good' : r >= GRADE_THRESHOLDS.r.fair ? 'fair' : 'poor';
  const round = (x: number, digits: number): number => Number(x.toFixed(digits));
  return {
    codec: codec.name,
    delay_ms: round(delay, 1),
    loss_pct: round(lossPct, 3),
    burst_ratio: round(burst, 2),
    r: round(r, 1),
    mos: round(rating.MOS, 2),
    grade,
  };
}

/** Grade of a stream on loss and jitter alone (video, or audio of an unnamed codec). */
export function networkGrade(lossPct: number, jitterMs: number | undefined): Grade {
  const { loss_pct: loss, jitter_ms: jitter } = GRADE_THRESHOLDS;
  const j = jitterMs ?? 0;
  if (lossPct >= loss.poor || j >= jitter.poor) return 'poor';
  if (lossPct >= loss.good || j >= jitter.good) return 'fair';
  return 'good';
}

const ORDER: Record<Grade, number> = { good: 0, fair: 1, poor: 2 };

export function worstGrade(grades: readonly Grade[]): Grade {
  return grades.reduce<Grade>((worst, g) => (ORDER[g] > ORDER[worst] ? g : worst), 'good');
}
