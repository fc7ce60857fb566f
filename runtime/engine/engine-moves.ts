/**
 * Where moved key groups go between an engine's threads: which thread hosts
 * each group that moves away, and which thread takes each group that moves
 * in. Pure
 * functions over the engine's placement, kept apart from engine.ts, which
 * carries out the moves on the threads.
 */
import type { Placement } from '../topology/placement.js';
import type { ThreadRestore } from './thread-checkpoint.js';

/** A key group of a partition, by their indices. */
export interface GroupRef {
  readonly partition: number;
  readonly keyGroup: number;
}

/** Per thread (of `threads`), the groups of `groups` it hosts under `placement`. */
export function threadsOf(
  placement: Placement,
  threads: number,
  groups: readonly GroupRef[],
): { partition: number; keyGroup: number }[][] {
  const out: { partition: number; keyGroup: number }[][] = Array.from(
    { length: threads },
    () => [],
  );
  for (const g of groups) {
    const t = placement.keyGroupOwner[g.partition]?.[g.keyGroup];
    if (t !== undefined && t >= 0) out[t]?.push(g);
  }
  return out;
}

/** `placement` without `groups` (they moved away: owned by no thread here). */
export function placeMovedOut(placement: Placement, groups: readonly GroupRef[]): Placement {
  const owners = placement.keyGroupOwner.map((o) => [...o]);
  for (const g of groups) (owners[g.partition] as number[])[g.keyGroup] = -1;
  return { ...placement, keyGroupOwner: owners };
}

/**
 * Places key groups that moved here: each on the thread `threadOf` names,
 * or else on the thread hosting the fewest groups of its partition. The new
 * placement, and per thread the groups it adopts.
 */
export function placeMovedIn(
  placement: Placement,
  threads: number,
  groups: ThreadRestore['keyGroups'],
  threadOf: (partition: number, keyGroup: number) => number | undefined,
): { placement: Placement; perThread: ThreadRestore['keyGroups'][number][][] } {
  const owners = placement.keyGroupOwner.map((o) => [...o]);
  const perThread: ThreadRestore['keyGroups'][number][][] = Array.from(
    { length: threads },
    () => [],
  );
  for (const g of groups) {
    const row = (owners[g.partition] ??= []);
    const load = new Array<number>(threads).fill(0);
    for (const t of row) if (t !== undefined && t >= 0) load[t] = (load[t] ?? 0) + 1;
    const asked = threadOf(g.partition, g.keyGroup);
    const thread =
      asked !== undefined && asked >= 0 && asked < threads
        ? asked
        : load.indexOf(Math.min(...load));
    row[g.keyGroup] = thread;
    perThread[thread]?.push(g);
  }
  return { placement: { ...placement, keyGroupOwner: owners }, perThread };
}
