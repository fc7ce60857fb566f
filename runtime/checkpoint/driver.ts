/**
 * The executors around the checkpoint coordinator (coordinator.ts, pure):
 * - `CheckpointDriver` on the coordinating worker: a timer feeds the state
 *   machine, and its decisions go out (start k to every worker; commit k,
 *   recorded durably first). While the cluster is not whole (a worker lost,
 *   a recovery under way) it starts nothing: a checkpoint needs every worker.
 * - `CheckpointMember` on every worker: takes the worker's part of checkpoint
 *   k (engine barrier, snapshot file) and acks; on commit k records it,
 *   tells the engine (sources ack their senders, exactly-once sinks release
 *   output), and deletes older files.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import {
  checkpointStep,
  initialCheckpointState,
  type CheckpointDecision,
  type CheckpointEvent,
  type CheckpointState,
} from './coordinator.js';
import type { SnapshotStore } from './snapshot-store.js';
import { workerEvents } from '../engine/worker-events.js';
import { CheckpointSummary } from './checkpoint-summary.js';

/** What the driver sends: start k to every worker, or commit k to every worker. */
export type CheckpointOrder = { readonly kind: 'start' | 'commit'; readonly checkpointId: number };

/** The coordinator's executor. */
export class CheckpointDriver {
  private state: CheckpointState | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** A last checkpoint asked for by a clean shutdown: one started after id `after`. */
  private final: { readonly after: number; readonly settle: (ok: boolean) => void } | undefined;
  /** The INFO summary of commits (each commit itself is a debug line). */
  private readonly summary = new CheckpointSummary(Date.now());
  /** When the checkpoint in flight was ordered (performance.now()), by id. */
  private readonly startedAt = new Map<number, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly store: SnapshotStore,
    private readonly send: (order: CheckpointOrder) => void,
    private readonly log: Logger,
  ) {}

  /** The newest committed checkpoint this coordinator recorded (0: none). */
  get committed(): number {
    return this.state?.committed ?? this.store.committed().at(-1) ?? 0;
  }

  /**
   * Starts checkpointing `workers` after `committed`; ids go on after
   * `lastId` (strictly rising, never reusing an id a file may carry).
   */
  run(workers: readonly string[], committed: number, lastId: number): void {
    const tick = Math.max(5, Math.min(100, Math.floor(this.intervalMs / 4)));
    const base = initialCheckpointState(
      // No timeout: a slow checkpoint (a congested sink holds its barrier) is
      // waited for. Starting k+1 while barriers of k still travel would break
      // the epoch bit's one-checkpoint-in-flight rule; only a lost worker
      // aborts, and its return rolls every engine back anyway.
      { intervalMs: this.intervalMs, timeoutMs: Infinity },
      workers,
      Date.now(),
      committed,
    );
    this.state = { ...base, lastId: Math.max(lastId, committed) };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref();
  }

  /**
   * Takes a last checkpoint now (after the one in flight, if any), so that a
   * clean shutdown commits everything processed: exactly-once sinks release
   * their output and acking senders hear their last acks. Resolves true once
   * it committed; false if it could not (not running, aborted, or no commit
   * within `timeoutMs`).
   */
  finish(timeoutMs: number): Promise<boolean> {
    const state = this.state;
    if (state === undefined || this.timer === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(false), timeoutMs);
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        this.final = undefined;
        resolve(ok);
      };
      this.final = { after: state.lastId, settle };
      this.tick();
    });
  }

  private tick(): void {
    const s = this.state;
    // A last checkpoint asked for: start it as soon as none is in flight.
    const now =
      this.final !== undefined && s !== undefined && s.inFlight === undefined
        ? Math.max(Date.now(), s.lastStartMs + this.intervalMs)
        : Date.now();
    this.apply({ kind: 'tick', nowMs: now });
    const line = this.summary.due(Date.now());
    if (line !== undefined) this.log.info(line);
  }

  /** Stops starting checkpoints (a worker is gone, or a recovery begins); aborts one in flight. */
  pause(reason: string): void {
    clearInterval(this.timer);
    this.timer = undefined;
    const f = this.state?.inFlight;
    if (f !== undefined) {
      this.log.warn(`checkpoint ${f.id} aborted: ${reason}`);
      workerEvents.checkpointAborted(f.id, reason);
    }
    if (this.state !== undefined) this.state = { ...this.state, inFlight: undefined };
  }

  /**
   * How checkpoints and a reconfiguration take turns: `before` takes a
   * checkpoint now, waits for its commit and pauses checkpoints, giving the
   * reconfiguration's barrier the next id; `commit` records that barrier's
   * checkpoint durably (then `announce` tells the members); `after` resumes
   * checkpoints over the new members and waits for one to commit.
   */
  reconfigurationTurns(
    timeoutMs: number,
    announce: (id: number, members: readonly string[]) => void,
  ): {
    before(): Promise<number>;
    commit(id: number, members: readonly string[]): void;
    after(members: readonly string[], id: number): Promise<void>;
  } {
    return {
      before: async () => {
        if (!(await this.finish(timeoutMs)))
          throw new Error('the checkpoint before it did not commit');
        this.pause('a reconfiguration runs');
        return this.lastId + 1;
      },
      commit: (id, members) => {
        // Durable here first, as any commit.
        this.store.recordCommit(id);
        this.log.info(`checkpoint ${id} committed (reconfiguration barrier)`);
        announce(id, members);
      },
      after: async (members, id) => {
        this.run(members, this.committed, id);
        if (!(await this.finish(timeoutMs))) throw new Error('the checkpoint did not commit');
      },
    };
  }

  /** The last id handed out. */
  get lastId(): number {
    return this.state?.lastId ?? 0;
  }

  /** A worker acked checkpoint `id` (or failed it: the checkpoint is aborted). */
  acked(worker: string, id: number, error: string | undefined): void {
    if (error !== undefined) {
      this.log.error(`checkpoint ${id} failed on worker '${worker}': ${error}`);
      this.apply({ kind: 'failed', worker, checkpointId: id });
      return;
    }
    this.apply({ kind: 'ack', worker, checkpointId: id });
  }

  /** Stops for good. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private apply(event: CheckpointEvent): void {
    if (this.state === undefined) return;
    const r = checkpointStep(this.state, event);
    this.state = r.state;
    for (const d of r.decisions) this.execute(d);
  }

  /** A commit: a debug line, and the INFO summary when one is due (checkpoint-summary.ts). */
  private logCommit(id: number): void {
    this.log.debug(`checkpoint ${id} committed`);
    const t0 = this.startedAt.get(id);
    const durationMs = t0 === undefined ? 0 : performance.now() - t0;
    const line = this.summary.committed(id, durationMs, workerEvents.bytesOf(id), Date.now());
    if (line !== undefined) this.log.info(line);
  }

  private execute(d: CheckpointDecision): void {
    switch (d.kind) {
      case 'start':
        this.log.debug(`checkpoint ${d.checkpointId}: barriers injected`);
        this.startedAt.clear();
        this.startedAt.set(d.checkpointId, performance.now());
        this.send({ kind: 'start', checkpointId: d.checkpointId });
        return;
      case 'commit':
        // Durable here first: once any worker hears of the commit, it survives a crash of this one.
        this.store.recordCommit(d.checkpointId);
        this.logCommit(d.checkpointId);
        this.send({ kind: 'commit', checkpointId: d.checkpointId });
        if (this.final !== undefined && d.checkpointId > this.final.after) this.final.settle(true);
        return;
      case 'delete-before':
        return;
      case 'abort':
        this.log.warn(`checkpoint ${d.checkpointId} aborted: ${d.reason}`);
        workerEvents.checkpointAborted(d.checkpointId, d.reason);
        if (this.final !== undefined && d.checkpointId > this.final.after) this.final.settle(false);
        return;
    }
  }
}

/** Timings of the last checkpoint a member took. */
export interface CheckpointTiming {
  readonly id: number;
  /** From the order to the snapshot in hand (barriers through the pipeline). */
  readonly alignMs: number;
  /** Writing the file (encode, write, fsync, rename). */
  readonly writeMs: number;
  readonly bytes: number;
}

/** A worker's side of checkpoints. */
export class CheckpointMember {
  /** Timings of the newest checkpoint taken. */
  last: CheckpointTiming | undefined;
  /** Set by a clean shutdown: a checkpoint still in flight must not write its file after the files are removed. */
  private closed = false;

  constructor(
    private readonly engine: () => Engine,
    private readonly store: SnapshotStore,
    private readonly name: string,
    private readonly log: Logger,
    /** True on the coordinator, which recorded the commit itself already. */
    private readonly coordinator: boolean,
  ) {}

  /** Takes this worker's part of checkpoint `id`; resolves with an error message if it failed. */
  async take(id: number): Promise<string | undefined> {
    const t0 = performance.now();
    try {
      const snapshot = await this.engine().checkpoint(id, this.name);
      if (this.closed) return 'the worker is shutting down';
      const t1 = performance.now();
      const bytes = this.store.write(snapshot);
      const t2 = performance.now();
      this.last = { id, alignMs: t1 - t0, writeMs: t2 - t1, bytes };
      workerEvents.checkpointTaken(id, performance.timeOrigin + t0, t2 - t0, bytes);
      this.log.debug(
        `checkpoint ${id}: snapshot of ${bytes} bytes written in ${(t2 - t1).toFixed(1)} ms (barriers took ${(t1 - t0).toFixed(1)} ms)`,
      );
      return undefined;
    } catch (err) {
      const e =
        err instanceof RooError
          ? err
          : new RooError(ErrorCode.SnapshotEncodeFailed, (err as Error).message);
      this.log.error({ code: e.code }, `checkpoint ${id}: ${e.message}`);
      return e.message;
    }
  }

  /**
   * Writes a snapshot taken elsewhere as this worker's part of its
   * checkpoint (a reconfiguration's barrier is one: its commit releases the
   * output before it ahead of any output after it).
   */
  write(snapshot: Parameters<SnapshotStore['write']>[0]): void {
    if (!this.closed) this.store.write(snapshot);
  }

  /** No more files: the cluster is shutting down cleanly (its files are being removed). */
  close(): void {
    this.closed = true;
  }

  /** Checkpoint `id` committed. */
  async commit(id: number): Promise<void> {
    if (this.closed) return;
    const kept = this.coordinator ? this.store.committed() : this.store.recordCommit(id);
    workerEvents.checkpointCommitted(id);
    await this.engine().commit(id);
    this.store.prune(kept);
  }
}
