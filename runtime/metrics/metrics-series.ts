/**
 * A time series of the metrics receiver: messages and latency percentiles in
 * fixed slots of `pointMs` (2 s), the last `points` (150: 5 minutes) kept in
 * a ring, so a series' memory is fixed whatever runs for however long.
 *
 * Several workers report into one series (a pipeline's, merged over
 * workers), each on its own 2 s phase, so a slot stays open for its
 * histogram to be merged until {@link OPEN_SLOTS} newer slots exist; then it
 * is closed: summarized to its percentiles, and its histogram dropped. A
 * report for a slot already closed (a worker that fell far behind) counts
 * in the oldest open slot instead of being lost. Slots are by the workers'
 * clocks (a report's `at`), closed by the receiver's: a worker whose clock
 * runs ahead shows its newest points late, one behind has them counted
 * late.
 */
import { HistBuilder, percentile, type Hist } from '../../protocols/index.js';

/** Slots held open for late reports of other workers: the newest and the two before it. */
export const OPEN_SLOTS = 3;

/** One point of a series: a slot's totals and latency percentiles (ns). */
export interface SeriesPoint {
  /** The slot's start, ms since the epoch. */
  readonly t: number;
  /** Messages counted in the slot. */
  readonly messages: number;
  /** Latencies recorded in the slot (may be fewer than `messages` if the worker samples). */
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** A fixed-capacity ring: pushing onto a full ring drops its oldest item. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) {
      throw new RangeError(`a ring needs a capacity of at least 1, got ${capacity}`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  /** Items held. */
  get length(): number {
    return this.size;
  }

  /** Adds `item` as the newest; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    if (this.size < this.capacity) {
      this.items[(this.start + this.size) % this.capacity] = item;
      this.size++;
      return undefined;
    }
    const dropped = this.items[this.start];
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    return dropped;
  }

  /** The newest item, if any. */
  last(): T | undefined {
    return this.size === 0 ? undefined : this.items[(this.start + this.size - 1) % this.capacity];
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }

  /** Removes every item. */
  clear(): void {
    this.items.fill(undefined);
    this.start = 0;
    this.size = 0;
  }
}

/** A slot still taking reports. */
interface OpenSlot {
  readonly slot: number;
  messages: number;
  readonly hist: HistBuilder;
}

/** A point's summary of `messages` and a histogram. */
export function summarize(t: number, messages: number, hist: Hist): SeriesPoint {
  return {
    t,
    messages,
    count: hist.count,
    p50: percentile(hist, 50),
    p95: percentile(hist, 95),
    p99: percentile(hist, 99),
    p999: percentile(hist, 99.9),
    max: hist.max,
  };
}

/** One series: closed points in a ring, up to {@link OPEN_SLOTS} open slots. */
export class Series {
  private readonly closed: Ring<SeriesPoint>;
  /** Open slots, oldest first. */
  private readonly open: OpenSlot[] = [];
  /** The newest slot closed: points ascend, so nothing is counted at or before it again. */
  private lastClosed = Number.NEGATIVE_INFINITY;

  /**
   * @param pointMs a slot's length, ms
   * @param points how many points are kept (open slots included)
   */
  constructor(
    readonly pointMs: number,
    readonly points: number,
  ) {
    this.closed = new Ring(Math.max(1, points - OPEN_SLOTS));
  }

  /** The slot of time `at` (ms since the epoch). */
  slotOf(at: number): number {
    return Math.floor(at / this.pointMs);
  }

  /**
   * Counts `messages` and the latencies of `hist` at time `at`. A time in a
   * slot already closed counts in the oldest slot still open, or the one
   * after the newest closed: points stay unique and ascending.
   */
  add(at: number, messages: number, hist: Hist): void {
    const slot = Math.max(this.slotOf(at), this.open[0]?.slot ?? this.lastClosed + 1);
    this.advance(slot);
    let target = this.open.find((o) => o.slot === slot);
    if (target === undefined) {
      target = { slot, messages: 0, hist: new HistBuilder() };
      this.open.push(target);
      this.open.sort((a, b) => a.slot - b.slot);
    }
    target.messages += messages;
    target.hist.add(hist);
  }

  /**
   * Closes the slots that are no longer among the {@link OPEN_SLOTS} newest
   * at slot `now` (call as time passes, so a silent series' points close).
   */
  advance(now: number): void {
    while (this.open.length > 0 && this.open[0]!.slot <= now - OPEN_SLOTS) this.closeOldest();
    while (this.open.length > OPEN_SLOTS) this.closeOldest();
  }

  /**
   * The points from `since` (ms since the epoch) on, oldest first: closed
   * ones, then the open ones summarized as they stand.
   */
  toPoints(since = 0): SeriesPoint[] {
    return [...this.closed.toArray(), ...this.recent()].filter((p) => p.t >= since);
  }

  /** The open slots summarized as they stand (what changes between two pushes). */
  recent(): SeriesPoint[] {
    return this.open.map((o) => summarize(o.slot * this.pointMs, o.messages, o.hist.toHist()));
  }

  private closeOldest(): void {
    const o = this.open.shift();
    if (o === undefined) return;
    this.lastClosed = o.slot;
    // A gap of slots with no report is left as a gap: the chart shows no data there.
    this.closed.push(summarize(o.slot * this.pointMs, o.messages, o.hist.toHist()));
  }
}
