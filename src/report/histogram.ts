// Compact distributions for the report's charts and for perfSONAR's histogram-latency
// (perfSONAR pScheduler's latency test result, `histogram-latency`): fixed-width buckets on a "nice" width (1, 2 or 5 × 10^k ms)
// so that a few hundred samples make about 30 bars, whatever the link.

export interface Histogram {
  start_ms: number;
  bucket_ms: number;
  counts: number[];
}

const TARGET_BUCKETS = 30;

export function niceBucketWidth(rangeMs: number, buckets = TARGET_BUCKETS): number {
  const raw = Math.max(rangeMs, 0.001) / buckets;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (raw <= step * power) return round(step * power);
  return round(10 * power);
}

export function histogramOf(valuesMs: number[]): Histogram | undefined {
  if (valuesMs.length === 0) return undefined;
  let min = Infinity;
  let max = -Infinity;
  for (const v of valuesMs) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const width = niceBucketWidth(max - min);
  const start = round(Math.floor(min / width) * width);
  const counts = new Array<number>(Math.floor((max - start) / width) + 1).fill(0);
  for (const v of valuesMs) counts[Math.min(counts.length - 1, Math.floor((v - start) / width))]! += 1;
  return { start_ms: start, bucket_ms: width, counts };
}

/** Lower edge of every bucket, for labels. */
export function bucketEdges(h: Histogram): number[] {
  return h.counts.map((_, i) => round(h.start_ms + i * h.bucket_ms));
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
