/**
 * Choosing what a restarted worker restores: the newest committed checkpoint
 * whose snapshot file is whole. A corrupt or truncated file is refused with a
 * clear error and the one before it (kept for this) is tried; if none is
 * whole, the worker refuses to start and says what to do.
 */
import { ErrorCode, RooError, type Snapshot } from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import type { SnapshotStore } from './snapshot-store.js';

/** A checkpoint to restore. */
export interface Restorable {
  readonly id: number;
  readonly snapshot: Snapshot;
}

/**
 * Reads the newest of `ids` (committed checkpoints, oldest first) whose file
 * is whole; logs each refused file. Undefined when `ids` is empty. Throws
 * RooError ROO_ERR_SNAPSHOT_CORRUPT, saying what to do, when every one is refused.
 */
export function newestRestorable(
  store: SnapshotStore,
  ids: readonly number[],
  log: Logger,
): Restorable | undefined {
  if (ids.length === 0) return undefined;
  const refused: string[] = [];
  for (const id of [...ids].sort((a, b) => b - a)) {
    try {
      return { id, snapshot: store.read(id) };
    } catch (err) {
      const message = (err as Error).message;
      refused.push(message);
      log.error({ code: ErrorCode.SnapshotCorrupt }, message);
    }
  }
  throw new RooError(
    ErrorCode.SnapshotCorrupt,
    `cannot recover: no committed checkpoint of worker '${store.worker}' can be restored (${refused.join('; ')}). ` +
      `To start without the saved state, remove this worker's resilience files (rm ${store.workerFiles})` +
      " (in a cluster: shut the cluster down and remove every worker's files), then start again",
  );
}

/**
 * Committed checkpoints (oldest first) whose files this worker can restore:
 * whole (checksum) and its own, checked without decoding their state; the
 * one the cluster rolls back to is decoded once, when it is restored.
 */
export function restorableIds(
  store: SnapshotStore,
  committed: readonly number[],
  log: Logger,
): number[] {
  const ok: number[] = [];
  for (const id of committed) {
    try {
      store.check(id);
      ok.push(id);
    } catch (err) {
      log.error({ code: ErrorCode.SnapshotCorrupt }, (err as Error).message);
    }
  }
  return ok;
}

/** What a cluster rolls back to, or which restarted workers must be refused. */
export type RollbackChoice =
  | { readonly kind: 'rollback'; readonly target: number }
  | { readonly kind: 'refuse'; readonly workers: readonly string[]; readonly reason: string };

/**
 * The checkpoint a cluster rolls back to: the newest committed one (the
 * coordinator's record, oldest first) that every restarted worker reported it
 * can restore (live workers acked it, so their files are there). With none
 * committed, 0: every worker starts empty and sources replay from the start.
 * With no common one, the restarted workers are refused: the cluster cannot
 * recover without their state.
 */
export function chooseRollback(
  committed: readonly number[],
  reported: ReadonlyMap<string, readonly number[]>,
): RollbackChoice {
  if (committed.length === 0) return { kind: 'rollback', target: 0 };
  const lists = [...reported.values()];
  const target = [...committed].reverse().find((id) => lists.every((l) => l.includes(id)));
  if (target !== undefined) return { kind: 'rollback', target };
  const has = [...reported].map(
    ([name, list]) => `'${name}' can restore ${list.length === 0 ? 'none' : list.join(', ')}`,
  );
  return {
    kind: 'refuse',
    workers: [...reported.keys()],
    reason: `no committed checkpoint (${committed.join(', ')}) can be restored by every restarted worker (${has.join('; ')}): their snapshot files are missing or corrupt (see their logs)`,
  };
}
