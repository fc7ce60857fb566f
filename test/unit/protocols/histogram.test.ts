import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bucketLower,
  bucketOf,
  bucketValue,
  bucketWidth,
  EMPTY_HIST,
  HIST_BUCKETS,
  HIST_PRECISION,
  HistBuilder,
  histMean,
  histOf,
  MAX_HIST_VALUE,
  mergeAllHists,
  mergeHists,
  percentile,
  type Hist,
} from '../../../protocols/index.js';

/** Latencies in ns as they come: mostly µs to ms, some tiny, some minutes, some beyond the range. */
const value = fc.oneof(
  fc.nat({ max: 200 }),
  fc.integer({ min: 1_000, max: 50_000_000 }),
  fc.integer({ min: 0, max: MAX_HIST_VALUE }),
);
const values = fc.array(value, { maxLength: 300 });
const hist: fc.Arbitrary<Hist> = values.map((vs) => histOf(vs.map((v) => [v, 1] as const)));

/** The `rank`-th smallest (1-based) of `sorted`. */
const at = (sorted: readonly number[], rank: number): number => sorted[rank - 1]!;

describe('buckets', () => {
  it('places every value in a bucket whose bounds hold it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_HIST_VALUE }), (v) => {
        const i = bucketOf(v);
        expect(i).toBeGreaterThanOrEqual(0);
        expect(i).toBeLessThan(HIST_BUCKETS);
        expect(bucketLower(i)).toBeLessThanOrEqual(v);
        expect(v).toBeLessThan(bucketLower(i) + bucketWidth(i));
        expect(Math.abs(bucketValue(i) - v)).toBeLessThanOrEqual(v * HIST_PRECISION);
      }),
      { numRuns: 5000 },
    );
  });

  it('numbers the buckets without gaps: each starts where the one before ends', () => {
    for (let i = 1; i < HIST_BUCKETS; i++) {
      expect(bucketLower(i)).toBe(bucketLower(i - 1) + bucketWidth(i - 1));
      expect(bucketOf(bucketLower(i))).toBe(i);
      expect(bucketOf(bucketLower(i) - 1)).toBe(i - 1);
    }
    expect(bucketOf(MAX_HIST_VALUE)).toBe(HIST_BUCKETS - 1);
    expect(bucketLower(HIST_BUCKETS - 1) + bucketWidth(HIST_BUCKETS - 1)).toBe(MAX_HIST_VALUE + 1);
  });

  it('is exact below 64 and clamps what is out of range', () => {
    for (let v = 0; v < 64; v++) expect(bucketValue(bucketOf(v))).toBe(v);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(MAX_HIST_VALUE * 10)).toBe(HIST_BUCKETS - 1);
    expect(bucketOf(Number.POSITIVE_INFINITY)).toBe(HIST_BUCKETS - 1);
  });
});

describe('histograms', () => {
  it('counts, sums and bounds what was recorded', () => {
    fc.assert(
      fc.property(values, (vs) => {
        const h = histOf(vs.map((v) => [v, 1] as const));
        expect(h.count).toBe(vs.length);
        expect(h.sum).toBe(vs.reduce((a, b) => a + b, 0));
        expect(h.min).toBe(vs.length === 0 ? 0 : Math.min(...vs));
        expect(h.max).toBe(vs.length === 0 ? 0 : Math.max(...vs));
        expect(h.buckets.reduce((n, [, c]) => n + c, 0)).toBe(vs.length);
        for (let k = 1; k < h.buckets.length; k++) {
          expect(h.buckets[k]![0]).toBeGreaterThan(h.buckets[k - 1]![0]);
        }
      }),
    );
  });

  it('gives percentiles within the stated precision of the true value of that rank', () => {
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0, 1, 25, 50, 90, 95, 99, 99.9, 100),
        (vs, p) => {
          const h = histOf(vs.map((v) => [v, 1] as const));
          const sorted = [...vs].sort((a, b) => a - b);
          const rank = Math.max(1, Math.ceil((p / 100) * vs.length));
          const truth = at(sorted, rank);
          const got = percentile(h, p);
          expect(Math.abs(got - truth)).toBeLessThanOrEqual(truth * HIST_PRECISION);
          expect(got).toBeGreaterThanOrEqual(h.min);
          expect(got).toBeLessThanOrEqual(h.max);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('records a value with a count as that many values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, fc.integer({ min: 1, max: 50 })), { maxLength: 40 }),
        (pairs) => {
          const once = histOf(pairs);
          const repeated = histOf(
            pairs.flatMap(([v, n]) => Array.from({ length: n }, () => [v, 1] as const)),
          );
          expect(once).toEqual(repeated);
        },
      ),
    );
    const b = new HistBuilder();
    b.record(10, 0);
    b.record(10, -1);
    b.record(10, 1.5);
    expect(b.toHist()).toBe(EMPTY_HIST);
  });

  it('merges associatively and commutatively, as if all values had been recorded in one', () => {
    fc.assert(
      fc.property(hist, hist, hist, (a, b, c) => {
        expect(mergeHists(a, b)).toEqual(mergeHists(b, a));
        expect(mergeHists(mergeHists(a, b), c)).toEqual(mergeHists(a, mergeHists(b, c)));
        expect(mergeAllHists([a, b, c])).toEqual(mergeHists(mergeHists(a, b), c));
        expect(mergeHists(a, EMPTY_HIST)).toEqual(a);
      }),
    );
    fc.assert(
      fc.property(values, values, (xs, ys) => {
        const one = (vs: number[]) => histOf(vs.map((v) => [v, 1] as const));
        expect(mergeHists(one(xs), one(ys))).toEqual(one([...xs, ...ys]));
      }),
    );
  });

  it('builds incrementally and resets', () => {
    const b = new HistBuilder();
    b.record(100);
    b.record(300, 3);
    expect(b.count).toBe(4);
    const h = b.toHist();
    expect(h).toMatchObject({ count: 4, min: 100, max: 300, sum: 1000 });
    expect(histMean(h)).toBe(250);
    b.add(h);
    expect(b.toHist().count).toBe(8);
    b.reset();
    expect(b.toHist()).toBe(EMPTY_HIST);
    expect(percentile(EMPTY_HIST, 99)).toBe(0);
    expect(histMean(EMPTY_HIST)).toBe(0);
  });
});
