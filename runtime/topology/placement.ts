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
  /** Instances of a parallel source before this worker's (cluster-wide numbering). */
  readonly instanceOffset?: number;
  /** Instances of a parallel source in the whole cluster. */
  readonly instanceTotal?: number;
}

/** Where this worker stands in the cluster, for placing its share. */
export interface ClusterShare {
  /** This worker's index. */
  readonly me: number;
  /** Threads of every worker, by index. */
  readonly threads: readonly number[];
  /** owners[partitionIndex][keyGroup] = owning worker. */
  readonly owners: readonly (readonly number[])[];
  /** Names of the sources this worker can run (TCP sources need a --in address here). */
  readonly runsSource: (stageId: number) => boolean;
}

/**
 * This worker's share of a cluster's plan: its key groups spread round robin
 * over its threads (-1 marks a group another worker owns), the sources it
 * runs, and its sink writers.
 */
export function placeWorkerShare(plan: Plan, share: ClusterShare): Placement {
  const threads = share.threads[share.me] ?? 1;
  const keyGroupOwner = plan.partitions.map((_, pi) => {
    let mine = 0;
    return (share.owners[pi] ?? []).map((w) => (w === share.me ? mine++ % threads : -1));
  });
  const local = placePlan(plan, threads);
  const sourceThreads = new Map<number, number[]>();
  for (const [stage, ts] of local.sourceThreads)
    if (share.runsSource(stage)) sourceThreads.set(stage, [...ts]);
  const instanceOffset = share.threads.slice(0, share.me).reduce((a, b) => a + b, 0);
  const instanceTotal = share.threads.reduce((a, b) => a + b, 0);
  return { ...local, keyGroupOwner, sourceThreads, instanceOffset, instanceTotal };
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

/**
 * Whether worker `me` runs a source stage: a TCP source on every worker given
 * an --in address for it; a parallel generator on every worker; any other
 * source (a file, a generator) on worker 0 only, so its data enters once.
 */
export function runsSourceOn(plan: Plan, stageId: number, me: number): boolean {
  const stage = plan.stages[stageId];
  if (stage === undefined || stage.kind !== 'source') return false;
  const s = stage.source;
  if (s.kind === 'tcp-source') return s.address.absent !== true;
  if (s.kind === 'generator-source' && s.parallel) return true;
  return me === 0;
}
