// Small, exact statistics over samples. Percentiles interpolate linearly between order
// statistics (Hyndman & Fan type 7, as numpy and irtt's median do).

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** q in [0, 1]; `sorted` must be ascending. */
export function percentileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const below = Math.floor(position);
  const fraction = position - below;
  const low = sorted[below]!;
  const high = sorted[Math.min(below + 1, sorted.length - 1)]!;
  return low + (high - low) * fraction;
}

export function percentile(values: readonly number[], q: number): number {
  return percentileSorted(sortedCopy(values), q);
}

export function standardDeviation(values: readonly number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  let sum = 0;
  for (const v of values) sum += (v - m) ** 2;
  return Math.sqrt(sum / (values.length - 1));
}

/** Two-sided standard normal quantiles for the confidence levels we use. */
export const Z = { 0.95: 1.959964, 0.99: 2.575829, 0.999: 3.290527 } as const;

/**
 * Wilson score interval for a binomial proportion: the range of loss rates consistent with
 * `successes` lost out of `trials` at the given confidence. Better than p ± z·√(p(1−p)/n)
 * near 0, where loss rates live.
 */
export function wilsonInterval(successes: number, trials: number, z: number = Z[0.95]): { low: number; high: number } {
  if (trials <= 0) return { low: 0, high: 1 };
  const p = successes / trials;
  const z2 = z * z;
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials);
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/**
 * Range of counts that `trials` Bernoulli(p) draws fall in with the given confidence (normal
 * approximation, continuity-corrected): "is the observed loss consistent with the injected p?"
 */
export function binomialCountInterval(trials: number, p: number, z: number = Z[0.95]): { low: number; high: number } {
  const expected = trials * p;
  const sd = Math.sqrt(trials * p * (1 - p));
  return { low: Math.max(0, Math.floor(expected - z * sd - 0.5)), high: Math.ceil(expected + z * sd + 0.5) };
}

/**
 * Distribution-free confidence interval of the median of sorted samples: the order statistics
 * whose ranks bound it, from the binomial(n, ½) count of samples below the median (normal
 * approximation; Conover, Practical Nonparametric Statistics, §3.2). Undefined below 6 samples.
 */
export function medianInterval(sorted: readonly number[], z: number = Z[0.99]): { low: number; high: number } | undefined {
  const n = sorted.length;
  if (n < 6) return undefined;
  const half = (z * Math.sqrt(n)) / 2;
  const lowRank = Math.max(0, Math.floor(n / 2 - half) - 1);
  const highRank = Math.min(n - 1, Math.ceil(n / 2 + half));
  return { low: sorted[lowRank]!, high: sorted[highRank]! };
}

/** Confidence interval of a mean, mean ± z·s/√n. Undefined below 2 samples. */
export function meanInterval(values: readonly number[], z: number = Z[0.99]): { low: number; high: number } | undefined {
  if (values.length < 2) return undefined;
  const m = mean(values);
  const half = (z * standardDeviation(values)) / Math.sqrt(values.length);
  return { low: m - half, high: m + half };
}
