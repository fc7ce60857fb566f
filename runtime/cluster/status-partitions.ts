/**
 * The partition query and the entity counts of the external channel: where
 * this worker's key groups are, with their first keys, and how many state
 * entities each thread holds. The records' shapes and their pure builders,
 * apart from the worker's status (status.ts, which re-exports all of this
 * and collects both from a running engine).
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { EngineStats } from '../engine/engine.js';
import type { KeyGroupKeys } from '../engine/thread-control.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';

/** Keys listed per key group in a partition query unless asked otherwise. */
export const DEFAULT_KEYS_PER_GROUP = 100;
/** Most keys listed per key group (a larger request is clamped to it). */
export const MAX_KEYS_PER_GROUP = 10_000;

/** One key group in a partition query. */
export interface KeyGroupReport {
  readonly keyGroup: number;
  readonly worker: string;
  /** The thread that hosts the group (as it reported itself). */
  readonly thread: number;
  /** State entities in the group. */
  readonly count: number;
  /** The first keys of the group (at most the query's `keysPerGroup`). */
  readonly keys: readonly string[];
  /** True when `count` exceeds the keys listed. */
  readonly truncated: boolean;
}

/** One state partition in a partition query. */
export interface PartitionReport {
  readonly name: string;
  /** Key groups of the partition in the whole cluster (`groups` lists those on this worker). */
  readonly keyGroups: number;
  readonly entities: number;
  readonly groups: readonly KeyGroupReport[];
}

/** The answer to `partition-query`. */
export interface PartitionQuery {
  readonly worker: string;
  readonly routingVersion: number;
  readonly keysPerGroup: number;
  readonly partitions: readonly PartitionReport[];
}

/** Entities of one partition on one thread of one worker. */
export interface EntityCount {
  readonly worker: string;
  readonly thread: number;
  readonly entities: number;
}

/** The answer to `entity-counts`. */
export interface EntityCounts {
  readonly worker: string;
  readonly partitions: readonly {
    readonly name: string;
    readonly total: number;
    readonly threads: readonly EntityCount[];
  }[];
}

/** Adds up `values` (the totals of the status records). */
export function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/**
 * Reads the `keysPerGroup` argument of a partition query: absent means
 * {@link DEFAULT_KEYS_PER_GROUP}; a whole number from 0 is clamped to
 * {@link MAX_KEYS_PER_GROUP}; anything else is refused with ROO_ERR_BAD_MESSAGE.
 */
export function keysPerGroupArg(args: unknown): number {
  if (args === undefined || args === null) return DEFAULT_KEYS_PER_GROUP;
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new RooError(ErrorCode.BadMessage, 'partition-query args must be an object');
  }
  const value = (args as Record<string, unknown>)['keysPerGroup'];
  if (value === undefined) return DEFAULT_KEYS_PER_GROUP;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RooError(
      ErrorCode.BadMessage,
      `partition-query keysPerGroup must be a whole number from 0, got ${JSON.stringify(value)}`,
    );
  }
  return Math.min(value, MAX_KEYS_PER_GROUP);
}

/** What a partition query is made of. */
export interface PartitionFacts {
  readonly worker: string;
  readonly plan: Pick<Plan, 'partitions'>;
  readonly placement: Placement;
  readonly keysPerGroup: number;
  /** Per thread, the key groups it hosts (as `collectPartitionQuery` in status.ts gets them). */
  readonly threads: readonly {
    readonly thread: number;
    readonly groups: readonly KeyGroupKeys[];
  }[];
}

/**
 * Builds the answer to `partition-query`: every key group of every
 * partition on this worker, with the thread that hosts it and its first
 * keys. A group the placement gives to another worker (owner -1) and no
 * thread here reported is left out: that worker answers for it. A group
 * placed here that no thread reported (it should not happen) is listed at
 * its placed thread with no keys.
 */
export function buildPartitionQuery(f: PartitionFacts): PartitionQuery {
  const hosted = new Map<string, { thread: number; group: KeyGroupKeys }>();
  for (const t of f.threads) {
    for (const g of t.groups)
      hosted.set(`${g.partition}/${g.keyGroup}`, { thread: t.thread, group: g });
  }
  const partitions = f.plan.partitions.map((p, pi): PartitionReport => {
    const owners = f.placement.keyGroupOwner[pi] ?? [];
    const groups: KeyGroupReport[] = [];
    for (let kg = 0; kg < p.grouper.groups; kg++) {
      const found = hosted.get(`${pi}/${kg}`);
      const placed = owners[kg] ?? -1;
      if (found === undefined && placed < 0) continue;
      const keys = found === undefined ? [] : found.group.keys.slice(0, f.keysPerGroup);
      const count = found?.group.count ?? 0;
      groups.push({
        keyGroup: kg,
        worker: f.worker,
        thread: found?.thread ?? placed,
        count,
        keys,
        truncated: count > keys.length,
      });
    }
    return {
      name: p.name,
      keyGroups: p.grouper.groups,
      entities: sum(groups.map((g) => g.count)),
      groups,
    };
  });
  return {
    worker: f.worker,
    routingVersion: f.placement.version,
    keysPerGroup: f.keysPerGroup,
    partitions,
  };
}

/** Builds the answer to `entity-counts`: per partition, per thread. */
export function buildEntityCounts(
  worker: string,
  plan: Pick<Plan, 'partitions'>,
  stats: Pick<EngineStats, 'threads'>,
): EntityCounts {
  return {
    worker,
    partitions: plan.partitions.map((p) => {
      const threads = stats.threads.map((t) => ({
        worker,
        thread: t.thread,
        entities: t.entities[p.name] ?? 0,
      }));
      return { name: p.name, total: sum(threads.map((t) => t.entities)), threads };
    }),
  };
}
