/**
 * Word count's plan (examples/word_count/app.ts, through the buildPlan a
 * scheduler thread uses) run by one ThreadRuntime per thread on the
 * deterministic schedulers, with its TCP source fed from memory by an
 * acknowledging sender and its sink kept in memory; driven as the engine
 * drives a worker alone: spawn, wire (the source's thread first, the others
 * while input flows), start, then checkpoints and thread rebalances, each
 * taken while input flows. Several seeds and thread counts; every count is
 * checked exactly against an independent count of the lines.
 */
import { afterAll, describe, expect, it } from 'vitest';
import wordCount from '../../../examples/word_count/app.js';
import {
  allocateKernelMemory,
  DeterministicSchedulers,
  GcWatch,
  seededRandom,
  ThreadLoop,
} from '../../../actors/index.js';
import { buildApplication } from '../../../runtime/engine/app-loader.js';
import {
  decodeEntities,
  type ThreadCheckpoint,
} from '../../../runtime/engine/thread-checkpoint.js';
import type { ThreadRestore } from '../../../runtime/engine/thread-checkpoint.js';
import type { Wiring } from '../../../runtime/engine/thread-control.js';
import { ThreadRuntime } from '../../../runtime/engine/thread-runtime.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { createLogger } from '../../../runtime/logging/logger.js';
import { assignKeyGroups, mergeDirectories } from '../../../runtime/routing/index.js';
import { OPEN_CHANNELS } from '../../../runtime/security/index.js';
import {
  placeWorkerShare,
  runsSourceOn,
  type Placement,
} from '../../../runtime/topology/placement.js';
import { buildPlan } from '../../../runtime/topology/plan.js';
import { memoryIo, MemoryOutput, MemorySender } from './memory-io.js';

const log = createLogger({ test: 'thread-runtime-plan' });
log.level = 'silent';
const gc = new GcWatch();
afterAll(() => gc.close());

const plan = buildPlan(
  buildApplication(wordCount, {
    in: [{ host: '127.0.0.1', port: 7010 }],
    out: [{ host: '127.0.0.1', port: 7002 }],
    workerName: 'w',
    threads: 1,
    appArgs: [],
  }),
);
const PARTITION = 0;
const grouper = (plan.partitions[PARTITION] as (typeof plan.partitions)[number]).grouper;

/** `count` lines of 1 to 8 words from a skewed vocabulary of 60 (word i about 1/(i+1) as often as word 0). */
function makeLines(count: number, random: () => number): string[] {
  const vocabulary = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const weights = vocabulary.map((_, i) => 1 / (i + 1));
  const sum = weights.reduce((a, b) => a + b, 0);
  const word = (): string => {
    let r = random() * sum;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return vocabulary[i] as string;
    }
    return vocabulary[0] as string;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(random() * 8) }, word).join(' '),
  );
}

/** Each word's count in `lines`, counted apart from the runtime. */
function countWords(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines)
    for (const w of line.split(' ')) if (w !== '') counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

/** Sorted entries, for exact comparison of two counts. */
function sorted(counts: ReadonlyMap<string, number>): [string, number][] {
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Each word's outputs at the sink (`word => count` lines), in the order written. */
function sinkOutputs(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [word, count] = line.split(' => ') as [string, string];
    let seen = out.get(word);
    if (seen === undefined) out.set(word, (seen = []));
    seen.push(Number(count));
  }
  return out;
}

/** The word counts a checkpoint's key groups hold; throws unless every key group is in it exactly once. */
function snapshotCounts(parts: readonly ThreadCheckpoint[]): Map<string, number> {
  const counts = new Map<string, number>();
  const groups = new Set<number>();
  for (const part of parts) {
    expect(part.errors).toEqual([]);
    for (const g of part.keyGroups) {
      expect(groups.has(g.keyGroup)).toBe(false);
      groups.add(g.keyGroup);
      const entities = decodeEntities(g.state, undefined, 'word totals');
      for (const [word, total] of entities) counts.set(word, (total as { count: number }).count);
    }
  }
  expect(groups.size).toBe(grouper.groups);
  return counts;
}

/** A one-worker run of the plan: a runtime per thread, its sender, its sink's output. */
class Run {
  readonly d: DeterministicSchedulers;
  readonly random: () => number;
  readonly runtimes: ThreadRuntime[];
  readonly output = new MemoryOutput();
  /** Errors thrown by actors, and fatal reports: none expected. */
  readonly failures: unknown[] = [];
  sender: MemorySender | undefined;
  placement: Placement;
  wiring: Wiring | undefined;
  private readonly owners = assignKeyGroups(plan, 1);

  constructor(
    readonly threads: number,
    seed: number,
    readonly lines: readonly string[],
  ) {
    this.d = new DeterministicSchedulers(threads, seed, {
      onActorError: (err) => this.failures.push(err),
    });
    this.random = seededRandom(seed * 7919);
    const control = allocateKernelMemory(threads, 1024).control;
    const io = memoryIo((events) => {
      this.sender = new MemorySender(lines, events, this.random);
      return this.sender;
    }, this.output);
    this.runtimes = this.d.schedulers.map(
      (scheduler) =>
        new ThreadRuntime({
          scheduler,
          loop: new ThreadLoop(scheduler, control),
          plan,
          workerName: 'w',
          resilient: true,
          security: OPEN_CHANNELS,
          log,
          errors: new ErrorReporter(log),
          fatal: (err) => this.failures.push(err),
          recorder: undefined,
          gc,
          io,
        }),
    );
    this.placement = placeWorkerShare(plan, {
      me: 0,
      threads: [threads],
      owners: this.owners,
      runsSource: (stage) => runsSourceOn(plan, stage, 0),
    });
  }

  /**
   * Spawns every thread's actors (restored if given), wires the source's
   * thread and starts the source, then wires the other threads one by one
   * while input flows: their actors wait, paused, until then.
   */
  async start(restores?: readonly ThreadRestore[]): Promise<void> {
    const locals = await Promise.all(
      this.runtimes.map((r, t) => r.spawn(this.placement, restores?.[t], 0)),
    );
    this.wiring = {
      me: 0,
      members: [{ name: 'w', data: { host: '127.0.0.1', port: 1 }, threads: this.threads }],
      owners: this.owners,
      directories: [mergeDirectories(locals)],
    };
    const first = this.runtimes[0] as ThreadRuntime;
    first.wire(this.wiring);
    await Promise.all(this.runtimes.map((r) => r.start()));
    for (const r of this.runtimes.slice(1)) {
      this.flow(20);
      r.wire(this.wiring);
    }
  }

  /** `rounds` times: maybe a chunk of input, then a few seeded scheduler steps. */
  flow(rounds: number): void {
    for (let i = 0; i < rounds; i++) {
      for (const s of this.d.schedulers) s.checkUnmute();
      this.pump();
      this.d.runUntilIdle(1 + Math.floor(this.random() * 30));
    }
  }

  /** Flows until `lines` lines have been framed to the source. */
  feed(lines: number): void {
    for (let i = 0; i < 1_000_000 && this.framedLines() < lines; i++) this.flow(1);
    expect(this.framedLines()).toBeGreaterThanOrEqual(lines);
  }

  /** Flows (input first, each round) until `p` settles; resolves with its value. */
  async settle<T>(p: Promise<T>): Promise<T> {
    let settled: { value: T } | undefined;
    void p.then((value) => (settled = { value }));
    for (let i = 0; i < 100_000 && settled === undefined; i++) {
      for (const s of this.d.schedulers) s.checkUnmute();
      this.pump();
      this.d.runUntilIdle(1 + Math.floor(this.random() * 30));
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (settled === undefined) throw new Error('never settled');
    return settled.value;
  }

  /** Flows until every line went in and every thread is idle. */
  finish(): void {
    for (let i = 0; i < 1_000_000 && !(this.sender?.done ?? false); i++) this.flow(1);
    expect(this.sender?.done).toBe(true);
    this.d.runUntilIdle();
    expect(this.d.busy()).toBe(false);
  }

  /** Checkpoint `id` on every thread, taken while input flows. */
  checkpoint(id: number): Promise<ThreadCheckpoint[]> {
    return this.settle(Promise.all(this.runtimes.map((r) => r.checkpoint(id))));
  }

  /**
   * Moves `groups` of the partition to the next thread, as Engine.rebalanceAlone
   * does, with input flowing between every step: prepare, barrier `id`
   * (only the moving groups encode), drop, adopt, and the threads rewired
   * one by one.
   */
  async rebalance(id: number, groups: readonly number[]): Promise<void> {
    const owner = this.placement.keyGroupOwner[PARTITION] as readonly number[];
    const moves = groups.map((g) => ({
      partition: PARTITION,
      keyGroup: g,
      from: owner[g] as number,
      to: ((owner[g] as number) + 1) % this.threads,
    }));
    for (const r of this.runtimes) r.prepareMove(moves, []);
    this.flow(10);
    const keys = moves.map((m) => `${m.partition}/${m.keyGroup}`);
    const parts = await this.settle(
      Promise.all(this.runtimes.map((r) => r.checkpoint(id, false, keys))),
    );
    this.flow(10);
    this.runtimes.forEach((r, t) => r.drop(moves.filter((m) => m.from === t)));
    this.flow(10);
    const states = parts
      .flatMap((p) => p.keyGroups)
      .filter((g) => keys.includes(`0/${g.keyGroup}`));
    expect(states.length).toBe(moves.length);
    const locals = this.runtimes.map((r, t) =>
      r.adopt(states.filter((g) => moves.find((m) => m.keyGroup === g.keyGroup)?.to === t)),
    );
    const next = [...owner];
    for (const m of moves) next[m.keyGroup] = m.to;
    this.placement = { ...this.placement, keyGroupOwner: [next] };
    const wiring = { ...(this.wiring as Wiring), directories: [mergeDirectories(locals)] };
    this.wiring = wiring;
    for (const r of this.runtimes) {
      this.flow(10);
      r.wire(wiring);
    }
  }

  /** Each thread's part of a checkpoint as what a thread restores (as Engine.threadRestores splits a snapshot). */
  restores(parts: readonly ThreadCheckpoint[]): ThreadRestore[] {
    const owner = this.placement.keyGroupOwner[PARTITION] as readonly number[];
    const sources = parts.flatMap((p) => p.sources);
    const sinks = parts.flatMap((p) => p.sinks);
    return this.runtimes.map((_, t) => ({
      keyGroups: parts.flatMap((p) => p.keyGroups).filter((g) => owner[g.keyGroup] === t),
      sources,
      sinks,
    }));
  }

  /** Hands the source 0 to 3 chunks. */
  private pump(): void {
    for (let n = Math.floor(this.random() * 4); n > 0; n--) this.sender?.pump();
  }

  private framedLines(): number {
    return this.sender?.framed ?? 0;
  }

  /** Every thread's data-path errors: none expected. */
  errors(): Record<string, number> {
    return Object.assign({}, ...this.runtimes.map((r) => r.stats().errors)) as Record<
      string,
      number
    >;
  }
}

/** The frames a checkpoint's source recorded as gone into the pipeline (the sender's stream 'lines'). */
function recordedPosition(parts: readonly ThreadCheckpoint[]): number {
  const sources = parts.flatMap((p) => p.sources);
  expect(sources.length).toBe(1);
  const position = (sources[0] as ThreadCheckpoint['sources'][number]).position as Record<
    string,
    number
  >;
  expect(Object.keys(position)).toEqual(['lines']);
  return position['lines'] as number;
}

/** Every word's outputs are exactly from+1 .. to, in order (from: counts before, to: counts after). */
function expectRuns(
  outputs: ReadonlyMap<string, readonly number[]>,
  from: ReadonlyMap<string, number>,
  to: ReadonlyMap<string, number>,
): void {
  const expected = new Map<string, number[]>();
  for (const [word, n] of to) {
    const first = (from.get(word) ?? 0) + 1;
    if (n >= first)
      expected.set(
        word,
        Array.from({ length: n - first + 1 }, (_, i) => first + i),
      );
  }
  expect([...outputs].sort(([a], [b]) => (a < b ? -1 : 1))).toEqual(
    [...expected].sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

const LINES = 600;
const CASES = [2, 3].flatMap((threads) => [1, 2, 3, 4].map((seed) => ({ threads, seed })));

describe('ThreadRuntime runs word count on the deterministic schedulers', () => {
  for (const { threads, seed } of CASES) {
    it(`a checkpoint taken while input flows holds the counts of the lines before its recorded position, and a restore replays from there (${threads} threads, seed ${seed})`, async () => {
      const lines = makeLines(LINES, seededRandom(seed));
      const run = new Run(threads, seed, lines);
      await run.start();
      run.feed(LINES / 3);
      const delivered = run.sender?.delivered ?? 0;
      const parts = await run.checkpoint(1);
      // Input went on while the barrier was in flight.
      expect(run.sender?.delivered ?? 0).toBeGreaterThan(delivered);
      const position = recordedPosition(parts);
      expect(position).toBeGreaterThan(0);
      expect(position).toBeLessThan(LINES);
      const atCheckpoint = snapshotCounts(parts);
      expect(sorted(atCheckpoint)).toEqual(sorted(countWords(lines.slice(0, position))));

      // The commit reaches the sender as an ack of the recorded position.
      for (const r of run.runtimes) r.commit(1);
      run.flow(50);
      expect(run.sender?.acked).toBe(position);

      run.finish();
      const all = countWords(lines);
      expect(sorted(snapshotCounts(await run.checkpoint(2)))).toEqual(sorted(all));
      expectRuns(sinkOutputs(run.output.text), new Map(), all);
      expect(run.errors()).toEqual({});
      expect(run.failures).toEqual([]);

      // A new worker restored from checkpoint 1: the sender resumes at its position.
      const again = new Run(threads, seed + 100, lines);
      await again.start(run.restores(parts));
      expect(again.sender?.resumedAt).toBe(position);
      again.finish();
      expect(sorted(snapshotCounts(await again.checkpoint(2)))).toEqual(sorted(all));
      expectRuns(sinkOutputs(again.output.text), atCheckpoint, all);
      expect(again.errors()).toEqual({});
      expect(again.failures).toEqual([]);
    });

    it(`key groups rebalanced between threads while input flows keep every word's outputs exactly 1..n in order (${threads} threads, seed ${seed})`, async () => {
      const lines = makeLines(LINES, seededRandom(seed));
      const all = countWords(lines);
      // The groups of the most frequent words: they get input while they move.
      const hot = [
        ...new Set(
          sorted(all)
            .sort(([, a], [, b]) => b - a)
            .map(([w]) => grouper.groupOf(w)),
        ),
      ];
      const run = new Run(threads, seed, lines);
      await run.start();
      run.feed(LINES / 4);
      await run.rebalance(1, hot.slice(0, 6));
      run.feed(LINES / 2);
      // Some of them again (now on their second move), and others.
      await run.rebalance(2, hot.slice(3, 9));
      run.finish();
      expect(sorted(snapshotCounts(await run.checkpoint(3)))).toEqual(sorted(all));
      expectRuns(sinkOutputs(run.output.text), new Map(), all);
      expect(run.errors()).toEqual({});
      expect(run.failures).toEqual([]);
    });
  }
});
