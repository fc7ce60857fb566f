/**
 * Seeded deterministic scheduling, for tests: the schedulers of N "threads"
 * run on the calling thread, over the same shared rings as in production,
 * and a seeded PRNG chooses which one takes the next step (drain its inbound
 * channels, run one actor turn, or flush its outbound batches) and which
 * runnable actor each runs. The same seed replays the same interleaving, so
 * an ordering bug found once is found every time. Production code never
 * touches this file, so it costs nothing there.
 */
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { allocateKernelMemory } from './shared-layout.js';

/** mulberry32: a small, good-enough seeded PRNG returning [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** N schedulers stepped on one thread in a seeded order. */
export class DeterministicSchedulers {
  /** The schedulers, by thread index. */
  readonly schedulers: Scheduler[];
  private readonly random: () => number;

  constructor(
    threads: number,
    seed: number,
    options: Omit<SchedulerOptions, 'memory' | 'thread' | 'random'> = {},
    ringBytes = 64 * 1024,
  ) {
    this.random = seededRandom(seed);
    const memory = allocateKernelMemory(threads, ringBytes);
    this.schedulers = [];
    for (let t = 0; t < threads; t++) {
      this.schedulers.push(new Scheduler({ ...options, memory, thread: t, random: this.random }));
    }
  }

  /** True if any scheduler has something to do. */
  busy(): boolean {
    return this.schedulers.some((s) => DeterministicSchedulers.hasWork(s));
  }

  private static hasWork(s: Scheduler): boolean {
    return s.hasRunnable() || s.hasInbound() || s.hasOverflow() || s.hasPendingOutbound();
  }

  /** Runs seeded steps until every scheduler is idle or `maxSteps` is reached; returns steps run. */
  runUntilIdle(maxSteps = 10_000_000): number {
    let steps = 0;
    while (steps < maxSteps) {
      let candidates = this.schedulers.filter((s) => DeterministicSchedulers.hasWork(s));
      if (candidates.length === 0) {
        // Idle as far as queues show; flush hooks may still hold buffered
        // messages (a sink's encoded bytes), as at the end of a real slice.
        for (const s of this.schedulers) s.flushOutbound();
        candidates = this.schedulers.filter((s) => DeterministicSchedulers.hasWork(s));
        if (candidates.length === 0) break;
      }
      const s = candidates[Math.floor(this.random() * candidates.length)] as Scheduler;
      const choice = Math.floor(this.random() * 3);
      if (choice === 0 && s.hasInbound()) s.drainInbound(1);
      else if (choice === 1 && s.hasRunnable()) s.runTurns(Infinity, 1);
      else s.flushOutbound();
      steps++;
    }
    return steps;
  }
}
