import t from 'tap';
import { binomialCountInterval, mean, percentile, standardDeviation, wilsonInterval, Z } from '../../src/measure/statistics.js';

t.test('percentiles interpolate like numpy (type 7)', async (t) => {
  const v = [4, 1, 3, 2];
  t.equal(percentile(v, 0.5), 2.5);
  t.equal(percentile(v, 0), 1);
  t.equal(percentile(v, 1), 4);
  t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95).toFixed(6), '9.550000');
  t.ok(Number.isNaN(percentile([], 0.5)));
});

t.test('mean and standard deviation', async (t) => {
  t.equal(mean([1, 2, 3]), 2);
  t.equal(standardDeviation([2, 4, 4, 4, 5, 5, 7, 9]).toFixed(4), '2.1381');
  t.ok(Number.isNaN(mean([])));
});

t.test('Wilson interval bounds solve the score equation', async (t) => {
  // Wilson's bounds are the two roots π of (p̂ − π)² = z²·π(1 − π)/n.
  const n = 1000;
  const z = Z[0.95];
  const { low, high } = wilsonInterval(10, n, z);
  for (const pi of [low, high]) t.ok(Math.abs((0.01 - pi) ** 2 - (z * z * pi * (1 - pi)) / n) < 1e-12, `root ${pi}`);
  t.ok(low < 0.01 && high > 0.01);
  t.equal(low.toFixed(5), '0.00544');
  t.same(wilsonInterval(0, 0), { low: 0, high: 1 });
});

t.test('binomial count interval brackets the expectation', async (t) => {
  const { low, high } = binomialCountInterval(10_000, 0.01, Z[0.95]);
  t.ok(low < 100 && high > 100);
  t.ok(low >= 79 && high <= 121, `${low}..${high}`);
});
