/**
 * The trace mode of the latency part: what delayed each message slower than
 * the 99th percentile.
 *
 * With tracing on, the worker's threads record their run loops, parking,
 * garbage collections, source reads and sink writes (actors/trace.ts), the
 * bench records its own collections, and the receiver keeps every message's
 * send and receive time. A slow message's time is then split into stages,
 * using the trace events around it:
 *
 *   sent ─A─ source read ─B─ source took it ─C─ sink wrote it ─D─ received
 *
 *   A  network and the wait for the source thread's event loop (it was busy
 *      in a slice, or parked and had to be woken);
 *   B  the chunk waited in the source actor's mailbox;
 *   C  inside the engine: routing, the hop to the key group's thread, the
 *      sink encoder's buffer, the hop to the sink writer;
 *   D  the sink's socket and the bench's own event loop.
 *
 * A pause of garbage collection overlapping the message, in a worker thread
 * or in the bench, is counted apart: it stops whatever stage it falls in.
 * Each slow message is put down to the largest of these, with the state of
 * the thread that held it (busy in a long iteration, or parked). The stages
 * are found by time (the first read after the send, the last write before
 * the receipt), not by following the message, so they are estimates; on a
 * sample of many messages the shares are what to read.
 *
 * Pure functions over plain data: the bench gathers the data (latency.ts).
 */
import type { SavedTrace } from '../actors/index.js';
import { TraceKind } from '../actors/index.js';

/** The data a traced latency run gathered. */
export interface TailInput {
  /** Per message: send and receive time, CLOCK_MONOTONIC ms, in receive order. */
  readonly sendMs: Float64Array;
  readonly recvMs: Float64Array;
  /** How many of the pairs are filled. */
  readonly count: number;
  /** The worker's thread traces. */
  readonly threads: readonly SavedTrace[];
  /** The bench's garbage collections: [start ms, duration ms]. */
  readonly benchGc: readonly (readonly [number, number])[];
}

/** Why slow messages were slow. */
export interface TailBreakdown {
  /** The latency above which a message counts as slow (p99), ms. */
  thresholdMs: number;
  /** Messages analysed, and slow ones. */
  messages: number;
  slow: number;
  /** Per cause: slow messages put down to it, and their median latency. */
  causes: { cause: string; count: number; medianMs: number }[];
  /** Median of each stage, ms, over all messages and over slow ones. */
  stages: { stage: string; allMs: number; slowMs: number }[];
  /** Garbage collections in the traced window: worker threads and the bench. */
  gc: { where: string; count: number; totalMs: number; maxMs: number }[];
  /** Loop iterations longer than 1 ms per worker thread, and the longest, ms. */
  longIterations: { thread: string; count: number; maxMs: number }[];
}

/** A time interval. */
type Span = readonly [number, number];

/** Sorted times of one kind of event of a trace. */
function times(t: SavedTrace, kind: number): number[] {
  return t.events.filter((e) => e[1] === kind).map((e) => e[0]);
}

/** First index with a[i] >= x (a sorted), or a.length. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Length of the overlap of [from, to] with the spans (sorted by start, not overlapping each other). */
function overlap(
  spans: readonly Span[],
  starts: readonly number[],
  from: number,
  to: number,
): number {
  let total = 0;
  // A span starting before `from` may still reach into it: start one back.
  for (let i = Math.max(0, lowerBound(starts, from) - 1); i < spans.length; i++) {
    const [a, b] = spans[i] as Span;
    if (a > to) break;
    total += Math.max(0, Math.min(b, to) - Math.max(a, from));
  }
  return total;
}

/** The span containing `x`, if any. */
function within(spans: readonly Span[], starts: readonly number[], x: number): Span | undefined {
  const i = lowerBound(starts, x + 1e-9) - 1;
  const s = spans[i];
  return s !== undefined && s[0] <= x && x <= s[1] ? s : undefined;
}

/** A thread's trace as spans and sorted times. */
interface ThreadView {
  name: string;
  gc: Span[];
  gcStarts: number[];
  busy: Span[];
  busyStarts: number[];
  parked: Span[];
  parkedStarts: number[];
  reads: number[];
  takes: number[];
  writes: number[];
}

function view(t: SavedTrace): ThreadView {
  const gc: Span[] = [];
  const busy: Span[] = [];
  const parked: Span[] = [];
  let iterStart = -1;
  let parkStart = -1;
  for (const [ms, kind, a] of t.events) {
    if (kind === TraceKind.GC) gc.push([ms, ms + a]);
    else if (kind === TraceKind.ITERATION_START) iterStart = ms;
    else if (kind === TraceKind.ITERATION_END && iterStart >= 0) {
      busy.push([iterStart, ms]);
      iterStart = -1;
    } else if (kind === TraceKind.PARK) parkStart = ms;
    else if (kind === TraceKind.WAKE && parkStart >= 0) {
      parked.push([parkStart, ms]);
      parkStart = -1;
    }
  }
  gc.sort((x, y) => x[0] - y[0]);
  return {
    name: t.name,
    gc,
    gcStarts: gc.map((s) => s[0]),
    busy,
    busyStarts: busy.map((s) => s[0]),
    parked,
    parkedStarts: parked.map((s) => s[0]),
    reads: times(t, TraceKind.SOURCE_READ),
    takes: times(t, TraceKind.SOURCE_TAKE),
    writes: times(t, TraceKind.SINK_WRITE),
  };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
}

/** The p-th percentile (0..100) of values. */
export function percentile(values: Float64Array | readonly number[], p: number): number {
  const s = Array.from(values).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

/** The state of a thread at time x: busy in an iteration (and how long it lasted), parked, or between. */
function stateAt(v: ThreadView, x: number): string {
  const b = within(v.busy, v.busyStarts, x);
  if (b !== undefined) return b[1] - b[0] > 1 ? 'in a slice over 1 ms' : 'in a short slice';
  if (within(v.parked, v.parkedStarts, x) !== undefined) return 'parked (woken)';
  return 'between iterations (event loop)';
}

/** Splits every message above p99 into stages and causes; see the module comment. */
export function analyzeTail(input: TailInput): TailBreakdown {
  const n = input.count;
  const latency = new Float64Array(n);
  for (let i = 0; i < n; i++)
    latency[i] = (input.recvMs[i] as number) - (input.sendMs[i] as number);
  const threshold = percentile(latency.subarray(0, n), 99);
  const views = input.threads.map(view);
  const source = views.find((v) => v.reads.length > 0);
  const sink = views.find((v) => v.writes.length > 0);
  const benchGc: Span[] = [...input.benchGc].map(([s, d]) => [s, s + d] as const);
  benchGc.sort((x, y) => x[0] - y[0]);
  const benchGcStarts = benchGc.map((s) => s[0]);

  const causes = new Map<string, number[]>();
  const stageNames = [
    'A sent → source read',
    'B read → taken',
    'C taken → sink write',
    'D write → received',
  ];
  const stageAll: number[][] = stageNames.map(() => []);
  const stageSlow: number[][] = stageNames.map(() => []);
  let slow = 0;
  for (let i = 0; i < n; i++) {
    const s = input.sendMs[i] as number;
    const r = input.recvMs[i] as number;
    const L = r - s;
    let stages: number[] | undefined;
    if (source !== undefined && sink !== undefined) {
      const read = source.reads[lowerBound(source.reads, s)];
      const take = read === undefined ? undefined : source.takes[lowerBound(source.takes, read)];
      const wi = lowerBound(sink.writes, r) - 1;
      const write = wi >= 0 ? sink.writes[wi] : undefined;
      if (
        read !== undefined &&
        take !== undefined &&
        write !== undefined &&
        read <= take &&
        take <= write &&
        write <= r
      )
        stages = [read - s, take - read, write - take, r - write];
    }
    if (stages !== undefined) stages.forEach((d, k) => stageAll[k]?.push(d));
    if (L <= threshold) continue;
    slow++;
    if (stages !== undefined) stages.forEach((d, k) => stageSlow[k]?.push(d));
    let gcWorker = 0;
    let gcThread = '';
    for (const v of views) {
      const o = overlap(v.gc, v.gcStarts, s, r);
      if (o > gcWorker) {
        gcWorker = o;
        gcThread = v.name;
      }
    }
    const gcBench = overlap(benchGc, benchGcStarts, s, r);
    let cause: string;
    const biggestStage = stages === undefined ? -1 : stages.indexOf(Math.max(...stages));
    const stageMs = stages === undefined ? 0 : (stages[biggestStage] as number);
    if (Math.max(gcWorker, gcBench) >= stageMs / 2 && Math.max(gcWorker, gcBench) > 0) {
      cause =
        gcWorker >= gcBench ? `GC pause in worker ${gcThread}` : 'GC pause in the bench process';
    } else if (stages === undefined || source === undefined || sink === undefined) {
      cause = 'unattributed (no matching trace events)';
    } else if (biggestStage === 0) {
      cause = `A: source thread ${stateAt(source, s)} when sent`;
    } else if (biggestStage === 1) {
      cause = 'B: chunk waited in the source mailbox';
    } else if (biggestStage === 2) {
      const take = s + (stages[0] as number) + (stages[1] as number);
      cause = `C: in the engine (sink thread ${stateAt(sink, take)} after the take)`;
    } else {
      cause = 'D: sink socket → bench receiver';
    }
    const list = causes.get(cause) ?? [];
    list.push(L);
    causes.set(cause, list);
  }
  const gc = views.map((v) => ({
    where: `worker ${v.name}`,
    count: v.gc.length,
    totalMs: v.gc.reduce((a, [x, y]) => a + (y - x), 0),
    maxMs: v.gc.reduce((a, [x, y]) => Math.max(a, y - x), 0),
  }));
  gc.push({
    where: 'bench process',
    count: benchGc.length,
    totalMs: benchGc.reduce((a, [x, y]) => a + (y - x), 0),
    maxMs: benchGc.reduce((a, [x, y]) => Math.max(a, y - x), 0),
  });
  return {
    thresholdMs: threshold,
    messages: n,
    slow,
    causes: [...causes.entries()]
      .map(([cause, ls]) => ({ cause, count: ls.length, medianMs: median(ls) }))
      .sort((a, b) => b.count - a.count),
    stages: stageNames.map((stage, k) => ({
      stage,
      allMs: median(stageAll[k] ?? []),
      slowMs: median(stageSlow[k] ?? []),
    })),
    gc,
    longIterations: views.map((v) => {
      const long = v.busy.filter(([a, b]) => b - a > 1);
      return {
        thread: v.name,
        count: long.length,
        maxMs: long.reduce((m, [a, b]) => Math.max(m, b - a), 0),
      };
    }),
  };
}

/** The breakdown as markdown lines. */
export function formatTail(b: TailBreakdown): string[] {
  const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(3)} ms` : 'n/a');
  const lines = [
    `Messages above p99 (${ms(b.thresholdMs)}): ${b.slow} of ${b.messages}.`,
    '',
    '| what delayed them | messages | share | median latency |',
    '| --- | --- | --- | --- |',
    ...b.causes.map(
      (c) =>
        `| ${c.cause} | ${c.count} | ${((100 * c.count) / Math.max(1, b.slow)).toFixed(1)} % | ${ms(c.medianMs)} |`,
    ),
    '',
    '| stage | median, all messages | median, slow messages |',
    '| --- | --- | --- |',
    ...b.stages.map((s) => `| ${s.stage} | ${ms(s.allMs)} | ${ms(s.slowMs)} |`),
    '',
    '| garbage collection | pauses | total | longest |',
    '| --- | --- | --- | --- |',
    ...b.gc.map((g) => `| ${g.where} | ${g.count} | ${ms(g.totalMs)} | ${ms(g.maxMs)} |`),
    '',
    '| thread | iterations over 1 ms | longest |',
    '| --- | --- | --- |',
    ...b.longIterations.map((l) => `| ${l.thread} | ${l.count} | ${ms(l.maxMs)} |`),
  ];
  return lines;
}
