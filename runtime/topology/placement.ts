/**
 * Placement: which thread hosts each key group, each source, and each sink
 * writer. The routing table (key group -> owner) is versioned: it is the one
 * thing that changes when key groups move (later: between workers, too).
 */
import type { Plan } from './plan.js';

/** Where everything of a plan lives, by thread index. */
export interface Placement {
  /** Version of the routing table; bumped on every change. */
  readonly version: number;
  readonly threads: number;
  /** keyGroupOwner[partitionIndex][keyGroup] = thread. */
  readonly keyGroupOwner: readonly (readonly number[])[];
  /** sourceThreads[stageId] = threads running that source stage (several for a parallel generator). */
  readonly sourceThreads: ReadonlyMap<number, readonly number[]>;
  /** sinkThread[sinkId] = thread of the sink's writer. */
  readonly sinkThread: readonly number[];
}

/**
 * Spreads key groups round-robin over threads, sources from thread 0 up and
 * sink writers from the last thread down, so that with few of each the
 * source's decoding and the sink's writing land on different threads.
 */
export function placePlan(plan: Plan, threads: number): Placement {
  const keyGroupOwner = plan.partitions.map((p) =>
    Array.from({ length: p.grouper.groups }, (_, g) => g % threads),
  );
  const sourceThreads = new Map<number, number[]>();
  let next = 0;
  for (const s of plan.stages) {
    if (s.kind !== 'source') continue;
    if (s.source.kind === 'generator-source' && s.source.parallel) {
      sourceThreads.set(
        s.id,
        Array.from({ length: threads }, (_, t) => t),
      );
    } else {
      sourceThreads.set(s.id, [next % threads]);
      next++;
    }
  }
  const sinkThread = plan.sinks.map((_, i) => (threads - 1 - (i % threads) + threads) % threads);
  return { version: 1, threads, keyGroupOwner, sourceThreads, sinkThread };
}
