/**
 * A worker's snapshot and its threads' parts: assembling the parts each
 * thread recorded at a barrier into the worker's snapshot (with the thread
 * each key group lived on), placing a restored snapshot's key groups back
 * on those threads, and splitting it by thread. Pure functions, kept apart
 * from engine.ts, which asks the threads for their parts and hands them
 * theirs.
 */
import { ErrorCode, RooError, type Snapshot } from '../../protocols/index.js';
import type { Plan } from '../topology/plan.js';
import type { Placement } from '../topology/placement.js';
import type { ThreadCheckpoint, ThreadRestore } from './thread-checkpoint.js';

/**
 * The placement a restore spawns under: `placement` (the start-up one for
 * this worker's share, key groups round robin over its threads) with each
 * key group of `snapshot` on the thread it lived on at the checkpoint, so
 * that a rollback keeps the placement of its checkpoint (a thread
 * rebalance made before it, say) rather than the start-up one. Only a
 * snapshot taken with as many threads as `threads` is followed: with
 * another thread count (--ponythreads changed across a restart) or no
 * recorded placement (a format 1 file), `placement` is returned as is.
 * A group of the snapshot this worker does not own is left alone (the
 * restore refuses it, {@link threadRestores}).
 */
export function placeRestored(
  plan: Plan,
  threads: number,
  placement: Placement,
  snapshot: Snapshot,
): Placement {
  if (snapshot.threads !== threads) return placement;
  const owners = placement.keyGroupOwner.map((row) => [...row]);
  for (const p of snapshot.partitions) {
    const row = owners[plan.partitions.findIndex((x) => x.name === p.name)];
    if (row === undefined) continue;
    for (const g of p.keyGroups) {
      const now = row[g.keyGroup];
      if (g.thread !== undefined && now !== undefined && now >= 0) row[g.keyGroup] = g.thread;
    }
  }
  return { ...placement, keyGroupOwner: owners };
}

/**
 * Splits a restored snapshot by thread (`threads` of them, placed as
 * `placement`): each key group to its thread; sources and sinks to all.
 * Throws ROO_ERR_SNAPSHOT_CORRUPT for a key group this worker does not own.
 */
export function threadRestores(
  plan: Plan,
  threads: number,
  placement: Placement,
  snapshot: Snapshot,
): ThreadRestore[] {
  const sources = Object.entries(snapshot.sources).map(([id, position]) => {
    const [stage, instance] = id.split('/').map(Number) as [number, number];
    return { stage, instance, position };
  });
  const sinks = Object.entries(snapshot.sinks).map(([id, pending]) => ({
    sink: Number(id),
    pending: pending as [number, Uint8Array][],
  }));
  const out: ThreadRestore[] = Array.from({ length: threads }, () => ({
    keyGroups: [],
    sources,
    sinks,
  }));
  for (const p of snapshot.partitions) {
    const pi = plan.partitions.findIndex((x) => x.name === p.name);
    for (const g of p.keyGroups) {
      const thread = placement.keyGroupOwner[pi]?.[g.keyGroup];
      if (thread === undefined || thread < 0) {
        throw new RooError(
          ErrorCode.SnapshotCorrupt,
          `the snapshot holds key group ${g.keyGroup} of partition '${p.name}', which this worker does not own`,
        );
      }
      (out[thread]?.keyGroups as ThreadRestore['keyGroups'][number][]).push({
        partition: pi,
        keyGroup: g.keyGroup,
        count: g.entities,
        state: g.state,
      });
    }
  }
  return out;
}

/**
 * Assembles the threads' parts of barrier `id` into worker `worker`'s
 * snapshot (the parts must hold no errors: the engine checks first). Part
 * `t` is thread `t`'s: each key group records it as its thread, and the
 * snapshot the thread count, so that a restore places the groups as they
 * are now ({@link placeRestored}).
 */
export function assembleSnapshot(
  plan: Plan,
  applicationHash: string,
  id: number,
  worker: string,
  parts: readonly ThreadCheckpoint[],
): Snapshot {
  const sources: Record<string, unknown> = {};
  const sinks: Record<string, unknown> = {};
  const partitions = plan.partitions.map((p) => ({
    name: p.name,
    keyGroups: [] as { keyGroup: number; entities: number; state: Uint8Array; thread: number }[],
  }));
  parts.forEach((part, thread) => {
    for (const s of part.sources) sources[`${s.stage}/${s.instance}`] = s.position;
    for (const s of part.sinks) sinks[String(s.sink)] = s.pending;
    for (const g of part.keyGroups)
      partitions[g.partition]?.keyGroups.push({
        keyGroup: g.keyGroup,
        entities: g.count,
        state: g.state,
        thread,
      });
  });
  return {
    application: plan.application,
    applicationHash,
    worker,
    checkpointId: id,
    createdAt: new Date().toISOString(),
    sources,
    sinks,
    partitions,
    threads: parts.length,
  };
}
