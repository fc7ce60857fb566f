/**
 * Finds a state the snapshot codec cannot encode at the first update of its
 * partition on a thread, rather than at the first checkpoint after data
 * arrives (docs/resilience.md, snapshots): a class instance, a function, an
 * object without a prototype in a partition without a codec. Cheap by
 * design: one state is encoded per partition per thread, the first one
 * written, and every later message costs one array read. A state that
 * becomes unencodable later is still found at the checkpoint.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { PlannedPartition } from '../topology/plan.js';
import { encodeEntities } from './thread-checkpoint.js';

/** One thread's check of the states its key groups write. */
export class StateCheck {
  /** checked[partitionIndex]: the partition's first state on this thread was checked. */
  private readonly checked: boolean[] = [];
  private failed = false;

  /**
   * @param enabled check at all (the worker takes checkpoints: with resilience)
   * @param fatal called once, with the first state that cannot be encoded:
   *   ROO_ERR_SNAPSHOT_ENCODE_FAILED naming the partition, the key and where
   *   in the state
   */
  constructor(
    private readonly enabled: boolean,
    private readonly fatal: (err: RooError) => void,
  ) {}

  /** Whether `partitionIndex`'s next state written on this thread is to be checked. */
  wanted(partitionIndex: number): boolean {
    return this.enabled && this.checked[partitionIndex] !== true;
  }

  /** The state of `key` after its update: encoded once, as a checkpoint would. */
  check(partitionIndex: number, partition: PlannedPartition, key: string, state: unknown): void {
    this.checked[partitionIndex] = true;
    if (this.failed) return;
    try {
      encodeEntities(new Map([[key, state]]), partition.spec.codec, partition.name);
    } catch (err) {
      this.failed = true;
      const e =
        err instanceof RooError
          ? err
          : new RooError(ErrorCode.SnapshotEncodeFailed, (err as Error).message);
      this.fatal(
        new RooError(
          ErrorCode.SnapshotEncodeFailed,
          `${e.message} (found at its first update on this worker: with --run-with-resilience no checkpoint could ever commit)`,
          { partition: partition.name, key },
        ),
      );
    }
  }
}
