/**
 * Joiners that join together. As in Wallaroo, K workers each started with
 * `--join ADDR --worker-count K` join a running cluster in one
 * reconfiguration: the coordinator gathers them until all K have asked, then
 * grows the cluster by all of them at once (one barrier, one new routing
 * table, each key group moving at most once). A joiner started without
 * `--worker-count` (K = 1) joins alone, at once.
 *
 * Pure: joiners in, decisions out; the initializer node carries them out.
 */
import { ErrorCode, type ErrorCodeValue } from '../../protocols/index.js';
import type { Member } from './coordinator.js';

/** Joiners gathered so far, all naming the same count. */
export interface JoinBatch {
  /** The K every joiner of the batch named (0: no batch open). */
  readonly count: number;
  readonly joiners: readonly Member[];
}

/** What to do after a joiner asked. */
export type JoinDecision =
  /** Grow the cluster by these workers, together. */
  | { readonly kind: 'grow'; readonly joiners: readonly Member[] }
  /** Keep this joiner waiting for the rest of its batch. */
  | { readonly kind: 'wait'; readonly name: string; readonly have: number; readonly count: number }
  /** Turn this joiner away. */
  | {
      readonly kind: 'refuse';
      readonly name: string;
      readonly code: ErrorCodeValue;
      readonly reason: string;
    };

/** No batch open. */
export const NO_BATCH: JoinBatch = { count: 0, joiners: [] };

/** A joiner asked to join, naming `count` joiners (its `--worker-count`, 1 if not given). */
export function addJoiner(
  batch: JoinBatch,
  joiner: Member,
  count: number,
): { batch: JoinBatch; decision: JoinDecision } {
  if (batch.joiners.some((j) => j.name === joiner.name))
    return {
      batch,
      decision: {
        kind: 'refuse',
        name: joiner.name,
        code: ErrorCode.DuplicateWorker,
        reason: `a worker named '${joiner.name}' is already waiting to join; give every worker a unique --name`,
      },
    };
  if (batch.count !== 0 && count !== batch.count)
    return {
      batch,
      decision: {
        kind: 'refuse',
        name: joiner.name,
        code: ErrorCode.ClusterMismatch,
        reason: `${batch.joiners.length} of ${batch.count} workers joining together are waiting (--worker-count ${batch.count}), but '${joiner.name}' names --worker-count ${count}; start every worker of a batch with the same --worker-count`,
      },
    };
  const joiners = [...batch.joiners, joiner];
  if (joiners.length >= count) return { batch: NO_BATCH, decision: { kind: 'grow', joiners } };
  return {
    batch: { count, joiners },
    decision: { kind: 'wait', name: joiner.name, have: joiners.length, count },
  };
}

/** A waiting joiner's connection closed: it leaves the batch. */
export function dropJoiner(batch: JoinBatch, name: string): JoinBatch {
  const joiners = batch.joiners.filter((j) => j.name !== name);
  if (joiners.length === batch.joiners.length) return batch;
  return joiners.length === 0 ? NO_BATCH : { count: batch.count, joiners };
}
