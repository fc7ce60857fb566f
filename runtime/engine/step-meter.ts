/**
 * Where a scheduler thread keeps one latency histogram: an HdrHistogram
 * (hdr-histogram-js) of nanoseconds, its exact minimum, maximum and sum, and
 * the sampling that keeps a clock off most messages. Taken (converted to the
 * wire's histogram, protocols/histogram.ts, and reset) once per reporting
 * period by the thread's recorder (thread-metrics.ts).
 *
 * Sampling (docs/metrics.md, "How the worker measures"): a step times one
 * message in `mask + 1` (the caller tests `(n & mask) === 0` on a counter it
 * keeps anyway), so a timed message costs two clock reads and a record
 * (~300 ns here) and every other message one AND and one branch. The mask
 * adapts: it starts at 0 (every message timed, so a quiet step still has
 * samples) and doubles each time a period's samples pass SAMPLE_BUDGET, up
 * to MAX_MASK; at a take it halves while the period had fewer than half the
 * budget. A busy step thus records about SAMPLE_BUDGET samples per period
 * whatever its rate, at well under a nanosecond per message.
 */
import { build, type JsHistogram } from 'hdr-histogram-js';
import { HistBuilder, MAX_HIST_VALUE, type Hist } from '../../protocols/histogram.js';

/** Samples per period past which a meter samples half as often. */
export const SAMPLE_BUDGET = 1_024;
/** At most one message in MAX_MASK + 1 is left untimed between samples. */
export const MAX_MASK = 1_023;

/** A fresh HdrHistogram of nanoseconds: 2 significant digits, up to MAX_HIST_VALUE (~73 min). */
function newHistogram(): JsHistogram {
  return build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_HIST_VALUE,
    numberOfSignificantValueDigits: 2,
  }) as unknown as JsHistogram;
}

/** One latency histogram of a thread, with its sampling mask. */
export class LatencyMeter {
  /** Time one message in `mask + 1` (a power of two minus one). */
  mask = 0;
  /** Messages a computation or state step handled (exact; sources and sinks count in their own counters). */
  messages = 0;
  private readonly hist = newHistogram();
  private samples = 0;
  private min = 0;
  private max = 0;
  private sum = 0;

  constructor(
    /** Subtracted from every span (`clockCostNs`): what the two clock reads themselves took. */
    private readonly clockNs = 0,
  ) {}

  /** Records the span between two `performance.now()` reads, less the clock's own cost. */
  span(t0: number, t1: number): void {
    this.record((t1 - t0) * 1e6 - this.clockNs);
  }

  /** Records one value, ns (clamped to 0..MAX_HIST_VALUE). */
  record(ns: number): void {
    const v = ns > 0 ? (ns < MAX_HIST_VALUE ? Math.round(ns) : MAX_HIST_VALUE) : 0;
    this.hist.recordValue(v);
    if (this.samples === 0 || v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sum += v;
    if (++this.samples % SAMPLE_BUDGET === 0 && this.mask < MAX_MASK) this.mask = this.mask * 2 + 1;
  }

  /** Values recorded since the last take. */
  get count(): number {
    return this.samples;
  }

  /**
   * The period's histogram in the wire form (each HdrHistogram bucket's
   * count at its median value; exact count, min, max and sum), then starts
   * a new period, sampling twice as often if this one had few samples.
   */
  take(): Hist {
    const n = this.samples;
    if (n < SAMPLE_BUDGET / 2) this.mask >>= 1;
    if (n === 0) return new HistBuilder().toHist();
    const values: number[] = [];
    const counts: number[] = [];
    const it = this.hist.recordedValuesIterator;
    it.reset();
    while (it.hasNext()) {
      const step = it.next();
      values.push(this.hist.medianEquivalentValue(step.valueIteratedTo));
      counts.push(step.countAtValueIteratedTo);
    }
    // The first and last buckets hold the exact min and max: record them there, so that the
    // wire histogram's first and last buckets are theirs (its validator checks it).
    values[0] = this.min;
    values[values.length - 1] = this.max;
    const builder = new HistBuilder();
    values.forEach((v, i) =>
      builder.record(Math.min(this.max, Math.max(this.min, v)), counts[i] as number),
    );
    const hist: Hist = { ...builder.toHist(), min: this.min, max: this.max, sum: this.sum };
    this.hist.reset();
    this.samples = 0;
    this.min = 0;
    this.max = 0;
    this.sum = 0;
    return hist;
  }
}

/**
 * Calls `f(a, b, c)` timed into `meter`. Apart from the hot functions on
 * purpose: the untimed path stays small enough for V8 to inline what it
 * calls (the user's computation), and this one is rarely run.
 */
export function timedCall<A, B, C, R>(
  meter: LatencyMeter,
  f: (a: A, b: B, c: C) => R,
  a: A,
  b: B,
  c: C,
): R {
  const t0 = performance.now();
  const r = f(a, b, c);
  meter.span(t0, performance.now());
  return r;
}

/**
 * The cost of one `performance.now()` pair on this thread, ns: the smallest
 * difference between two back-to-back reads over a few hundred tries. A
 * timed step subtracts it, so that a step of a few tens of nanoseconds is
 * not reported as the clock's own cost (docs/metrics.md: the bias left).
 */
export function clockCostNs(tries = 500): number {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    const t1 = performance.now();
    if (t1 - t0 < best) best = t1 - t0;
  }
  return Number.isFinite(best) ? best * 1e6 : 0;
}
