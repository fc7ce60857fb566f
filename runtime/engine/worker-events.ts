/**
 * What happens to a worker between two metrics reports, beside the data:
 * the checkpoints it took part in, and the cluster's events as it saw them
 * (recoveries, migrations, rebalances, workers joining, leaving or lost,
 * aborted checkpoints). The code that finishes each of these (the
 * checkpoint driver and member, the reconfiguration driver, the
 * initializer) reports it here in one call; the worker's metrics collector
 * (runtime/metrics/) drains it once per period into its report.
 *
 * One per process (`workerEvents`), as the main thread is one worker: the
 * reporting code needs no handle threaded through the layers between.
 * Bounded: at most MAX_HELD of each kind wait between drains; past that the
 * newest are counted as dropped, never queued.
 */

/** What a checkpoint took on this worker. */
export interface CheckpointRecord {
  readonly id: number;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** Bytes of this worker's snapshot file. */
  readonly bytes: number;
  readonly outcome: 'committed' | 'aborted';
}

/** Kinds of cluster event (the metrics format's). */
export type WorkerEventKind =
  'recovery' | 'migration' | 'rebalance' | 'join' | 'leave' | 'checkpoint-aborted' | 'worker-lost';

/** Something that happened to the cluster, as this worker saw it. */
export interface WorkerEvent {
  /** ms since the epoch. */
  readonly at: number;
  readonly kind: WorkerEventKind;
  /** One sentence for people. */
  readonly text: string;
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

/** What a drain returns. */
export interface DrainedEvents {
  readonly checkpoints: readonly CheckpointRecord[];
  readonly checkpointsDropped: number;
  readonly events: readonly WorkerEvent[];
  readonly eventsDropped: number;
}

/** Records of each kind held between drains (the metrics report's limit). */
export const MAX_HELD = 64;

/** The events of this worker since the last drain. */
export class WorkerEvents {
  private checkpoints: CheckpointRecord[] = [];
  private events: WorkerEvent[] = [];
  private checkpointsDropped = 0;
  private eventsDropped = 0;
  /** Snapshot bytes and start time of checkpoints taken here and not yet committed, by id. */
  private readonly taken = new Map<
    number,
    { startedAt: number; durationMs: number; bytes: number }
  >();

  /** This worker wrote its snapshot of checkpoint `id` (it counts once the checkpoint commits). */
  checkpointTaken(id: number, startedAt: number, durationMs: number, bytes: number): void {
    this.taken.set(id, { startedAt: Math.round(startedAt), durationMs, bytes });
    // Older ones that never committed (aborted) are dropped: at most a few are in flight.
    for (const k of this.taken.keys())
      if (this.taken.size > MAX_HELD && k < id) this.taken.delete(k);
  }

  /** Bytes of this worker's snapshot of checkpoint `id`, if it took one and it has not committed yet (0 otherwise). */
  bytesOf(id: number): number {
    return this.taken.get(id)?.bytes ?? 0;
  }

  /** The newest checkpoint this worker heard committed (0: none). */
  lastCommitted = 0;

  /** Checkpoint `id` committed; a snapshot this worker took for it is recorded. */
  checkpointCommitted(id: number): void {
    this.lastCommitted = Math.max(this.lastCommitted, id);
    const t = this.taken.get(id);
    for (const k of this.taken.keys()) if (k <= id) this.taken.delete(k);
    if (t === undefined) return;
    this.addCheckpoint({ id, ...t, outcome: 'committed' });
  }

  /** Checkpoint `id` was aborted (seen by the coordinator). */
  checkpointAborted(id: number, reason: string): void {
    const t = this.taken.get(id);
    this.taken.delete(id);
    if (t !== undefined) this.addCheckpoint({ id, ...t, outcome: 'aborted' });
    this.event('checkpoint-aborted', `checkpoint ${id} aborted: ${reason}`, { checkpoint: id });
  }

  /** A cluster event. */
  event(
    kind: WorkerEventKind,
    text: string,
    detail?: Readonly<Record<string, string | number | boolean>>,
  ): void {
    if (this.events.length >= MAX_HELD) {
      this.eventsDropped++;
      return;
    }
    this.events.push({ at: Date.now(), kind, text, ...(detail === undefined ? {} : { detail }) });
  }

  /** Everything since the last drain, then forgets it. */
  drain(): DrainedEvents {
    const out = {
      checkpoints: this.checkpoints,
      checkpointsDropped: this.checkpointsDropped,
      events: this.events,
      eventsDropped: this.eventsDropped,
    };
    this.checkpoints = [];
    this.events = [];
    this.checkpointsDropped = 0;
    this.eventsDropped = 0;
    return out;
  }

  private addCheckpoint(record: CheckpointRecord): void {
    if (this.checkpoints.length >= MAX_HELD) this.checkpointsDropped++;
    else this.checkpoints.push(record);
  }
}

/** This process's events (one worker per process). */
export const workerEvents = new WorkerEvents();
