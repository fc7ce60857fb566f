/**
 * A worker's snapshot and its threads' parts: assembling the parts each
 * thread recorded at a barrier into the worker's snapshot, and splitting a
 * restored snapshot back by thread. Pure functions, kept apart from
 * engine.ts, which asks the threads for their parts and hands them theirs.
 */
import { ErrorCode, RooError, type Snapshot } from '../../protocols/index.js';
import type { Plan } from '../topology/plan.js';
import type { Placement } from '../topology/placement.js';
import type { ThreadCheckpoint, ThreadRestore } from './thread-checkpoint.js';

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
 * snapshot (the parts must hold no errors: the engine checks first).
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
    keyGroups: [] as { keyGroup: number; entities: number; state: Uint8Array }[],
  }));
  for (const part of parts) {
    for (const s of part.sources) sources[`${s.stage}/${s.instance}`] = s.position;
    for (const s of part.sinks) sinks[String(s.sink)] = s.pending;
    for (const g of part.keyGroups)
      partitions[g.partition]?.keyGroups.push({
        keyGroup: g.keyGroup,
        entities: g.count,
        state: g.state,
      });
  }
  return {
    application: plan.application,
    applicationHash,
    worker,
    checkpointId: id,
    createdAt: new Date().toISOString(),
    sources,
    sinks,
    partitions,
  };
}
