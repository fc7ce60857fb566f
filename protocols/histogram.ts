/**
 * Latency histograms as they travel in metrics reports (metrics-report.ts):
 * a plain, mergeable record with no library behind it, so that a receiver
 * merges the histograms of many workers and threads without knowing how
 * each was recorded. Pure: no I/O.
 *
 * Values are non-negative integers, nanoseconds by convention, from 0 to
 * {@link MAX_HIST_VALUE} (2^42 - 1 ns, about 73 minutes); larger values are
 * counted in the top bucket and smaller (negative) ones as 0.
 *
 * Buckets are log-linear, as in HdrHistogram with 5 bits of sub-bucket
 * precision: values below 64 have a bucket each; above, every power of two
 * [2^e, 2^(e+1)) is cut into 32 equal buckets, each 2^(e-5) wide. A bucket's
 * representative value ({@link bucketValue}) is its middle, so it lies within
 * 1/64 (about 1.6 %) of any value the bucket holds: {@link HIST_PRECISION}.
 * There are {@link HIST_BUCKETS} (1216) buckets in all; a histogram lists
 * only those it counts something in, as sparse `[index, count]` pairs.
 */

/** Sub-buckets per power of two, as a power of two (32 sub-buckets). */
const SUB_BITS = 5;
/** Sub-buckets per power of two. */
const SUB = 1 << SUB_BITS;
/** Bits of the largest value. */
const VALUE_BITS = 42;

/** The largest value a histogram tells apart (2^42 - 1 ns, about 73 minutes). */
export const MAX_HIST_VALUE = 2 ** VALUE_BITS - 1;

/** How many buckets there are; indices run from 0 to HIST_BUCKETS - 1. */
export const HIST_BUCKETS = SUB + (VALUE_BITS - 1 - SUB_BITS) * SUB + SUB;

/**
 * The relative precision of a bucket's representative value, and so of a
 * percentile: the value {@link percentile} returns for a rank is within
 * `HIST_PRECISION × v` of the true value `v` at that rank (exact below 64).
 */
export const HIST_PRECISION = 1 / 64;

/**
 * A histogram on the wire. `count` is the number of values recorded, the sum
 * of the buckets' counts; `min` and `max` are the smallest and largest value
 * recorded, exactly (0 when empty); `sum` is the sum of the values (exact
 * while below 2^53); `buckets` are `[index, count]` pairs, indices strictly
 * ascending, counts at least 1.
 */
export interface Hist {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
  readonly buckets: readonly (readonly [number, number])[];
}

/** The histogram of nothing. */
export const EMPTY_HIST: Hist = Object.freeze({
  count: 0,
  min: 0,
  max: 0,
  sum: 0,
  buckets: Object.freeze([]) as readonly (readonly [number, number])[],
});

/** `value` as a recordable value: an integer from 0 to MAX_HIST_VALUE (NaN counts as 0). */
export function clampHistValue(value: number): number {
  if (!(value > 0)) return 0;
  if (value >= MAX_HIST_VALUE) return MAX_HIST_VALUE;
  return Math.round(value);
}

/** The index of the bucket that counts `value` (clamped as {@link clampHistValue} says). */
export function bucketOf(value: number): number {
  const v = clampHistValue(value);
  if (v < 2 * SUB) return v;
  // The power of two below v: clz32 on the high or low 32 bits (v < 2^42).
  const high = Math.floor(v / 2 ** 32);
  const e = high > 0 ? 63 - Math.clz32(high) : 31 - Math.clz32(v);
  const shift = e - SUB_BITS;
  // Division by a power of two is exact in binary floating point.
  const sub = Math.floor(v / 2 ** shift) - SUB;
  return SUB + shift * SUB + sub;
}

/** The smallest value bucket `index` counts. */
export function bucketLower(index: number): number {
  if (index < 2 * SUB) return index;
  const shift = Math.floor((index - SUB) / SUB);
  const sub = (index - SUB) % SUB;
  return (SUB + sub) * 2 ** shift;
}

/** How many values bucket `index` counts (1 below 64, then 2, 4, ...). */
export function bucketWidth(index: number): number {
  return index < 2 * SUB ? 1 : 2 ** Math.floor((index - SUB) / SUB);
}

/** The value that stands for bucket `index`: its middle, within HIST_PRECISION of all it holds. */
export function bucketValue(index: number): number {
  return bucketLower(index) + Math.floor(bucketWidth(index) / 2);
}

/**
 * Builds a {@link Hist} from recorded values. Memory is one map entry per
 * bucket used, at most {@link HIST_BUCKETS}, whatever is recorded. A worker
 * records here directly, or converts another histogram by recording each of
 * its distinct values with its count (an HdrHistogram's recorded values).
 */
export class HistBuilder {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private lowest = 0;
  private highest = 0;
  private added = 0;

  /** Values recorded so far. */
  get count(): number {
    return this.total;
  }

  /** Records `value` `count` times (a count that is not a positive integer records nothing). */
  record(value: number, count = 1): void {
    if (!(Number.isSafeInteger(count) && count > 0)) return;
    const v = clampHistValue(value);
    const index = bucketOf(v);
    this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    if (this.total === 0 || v < this.lowest) this.lowest = v;
    if (this.total === 0 || v > this.highest) this.highest = v;
    this.total += count;
    this.added += v * count;
  }

  /** Adds a whole histogram (another thread's, say). */
  add(hist: Hist): void {
    if (hist.count === 0) return;
    for (const [index, count] of hist.buckets) {
      this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    }
    if (this.total === 0 || hist.min < this.lowest) this.lowest = hist.min;
    if (this.total === 0 || hist.max > this.highest) this.highest = hist.max;
    this.total += hist.count;
    this.added += hist.sum;
  }

  /** The histogram of what was recorded, as a fresh record. */
  toHist(): Hist {
    if (this.total === 0) return EMPTY_HIST;
    const buckets = [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
    return {
      count: this.total,
      min: this.lowest,
      max: this.highest,
      sum: this.added,
      buckets,
    };
  }

  /** Forgets everything (a new reporting period). */
  reset(): void {
    this.counts.clear();
    this.total = 0;
    this.lowest = 0;
    this.highest = 0;
    this.added = 0;
  }
}

/** The histogram of `[value, count]` pairs (e.g. another histogram's recorded values). */
export function histOf(entries: Iterable<readonly [number, number]>): Hist {
  const builder = new HistBuilder();
  for (const [value, count] of entries) builder.record(value, count);
  return builder.toHist();
}

/** The histogram of everything `a` and `b` counted. Associative and commutative. */
export function mergeHists(a: Hist, b: Hist): Hist {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  const buckets: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.buckets.length || j < b.buckets.length) {
    const x = a.buckets[i];
    const y = b.buckets[j];
    if (y === undefined || (x !== undefined && x[0] < y[0])) {
      buckets.push([x![0], x![1]]);
      i++;
    } else if (x === undefined || y[0] < x[0]) {
      buckets.push([y[0], y[1]]);
      j++;
    } else {
      buckets.push([x[0], x[1] + y[1]]);
      i++;
      j++;
    }
  }
  return {
    count: a.count + b.count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    sum: a.sum + b.sum,
    buckets,
  };
}

/** The merge of any number of histograms. */
export function mergeAllHists(hists: Iterable<Hist>): Hist {
  const builder = new HistBuilder();
  for (const h of hists) builder.add(h);
  return builder.toHist();
}

/**
 * The `p`-th percentile (0 to 100) of `hist`: the value of rank
 * ⌈p/100 × count⌉ (at least 1), within {@link HIST_PRECISION} of the true
 * value of that rank, and never outside [min, max]. 0 for an empty
 * histogram; `p` outside 0..100 is taken as the nearest bound.
 */
export function percentile(hist: Hist, p: number): number {
  if (hist.count === 0) return 0;
  const q = Number.isNaN(p) ? 0 : Math.min(100, Math.max(0, p));
  if (q === 100) return hist.max;
  const rank = Math.max(1, Math.ceil((q / 100) * hist.count));
  let seen = 0;
  for (const [index, count] of hist.buckets) {
    seen += count;
    if (seen >= rank) return Math.min(hist.max, Math.max(hist.min, bucketValue(index)));
  }
  return hist.max;
}

/** The mean of the values recorded (0 for an empty histogram). */
export function histMean(hist: Hist): number {
  return hist.count === 0 ? 0 : hist.sum / hist.count;
}
