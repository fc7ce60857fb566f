/**
 * Resilience of a worker that runs alone (no cluster): it is its own
 * checkpoint coordinator and only member. On start it recovers from its
 * files if it finds any, then checkpoints every `--time-between-checkpoints`.
 */
import { workerEvents } from '../engine/worker-events.js';
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { Engine } from '../engine/engine.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import { LogLine } from '../logging/log-lines.js';
import type { Logger } from '../logging/logger.js';
import { CheckpointDriver, CheckpointMember } from './driver.js';
import { newestRestorable } from './recovery.js';
import { SnapshotStore } from './snapshot-store.js';

/** A running resilient worker's checkpointing. */
export interface Resilience {
  readonly store: SnapshotStore;
  readonly driver: CheckpointDriver;
  readonly member: CheckpointMember;
  /** The checkpoint restored at start (0: none). */
  readonly restoredFrom: number;
  /** True when it found files and recovered (from `restoredFrom`, or from the beginning). */
  readonly recovered: boolean;
}

/**
 * What the worker's lifecycle (runtime/cluster/worker-lifecycle.ts, a layer
 * above this one) hears of a recovery.
 */
export interface RecoveryReports {
  /** A recovery from `checkpoint` (0: none committed) begins; false when the lifecycle refused it. */
  begun(checkpoint: number): boolean;
  /** The engine runs with that checkpoint's state. */
  restored(checkpoint: number): void;
}

/** Refuses a plan whose barriers could never align (a route loop). */
export function checkResilientPlan(engine: Engine): void {
  const loop = barrierCycle(engine.plan);
  if (loop !== undefined)
    throw new RooError(
      ErrorCode.BadFlag,
      `--run-with-resilience cannot checkpoint application '${engine.plan.application}': its routes loop through ${loop}, so barriers could never align`,
    );
}

/**
 * Recovers (if there are files), starts a prepared engine alone, and starts
 * checkpointing. Undefined when the lifecycle refused the recovery (a stop
 * was asked first): nothing was started, the files are kept.
 */
export async function runResilientAlone(
  engine: Engine,
  o: {
    readonly name: string;
    readonly dir: string;
    readonly intervalMs: number;
    readonly log: Logger;
    /** The lifecycle's ears; none in a benchmark. */
    readonly recovery?: RecoveryReports;
  },
): Promise<Resilience | undefined> {
  checkResilientPlan(engine);
  const store = new SnapshotStore(o.dir, engine.plan.application, engine.applicationHash, o.name);
  const committed = store.committed();
  const files = store.ids();
  let restored;
  const recovered = committed.length > 0 || files.length > 0;
  if (recovered) {
    o.log.info(LogLine.RecoveringFromFiles);
    o.log.info(LogLine.AttemptingToRecover);
    restored = newestRestorable(store, committed, o.log);
    if (o.recovery?.begun(restored?.id ?? 0) === false) return undefined;
    o.log.info(
      restored === undefined
        ? 'no checkpoint was committed before the stop: starting from the beginning'
        : `restoring checkpoint ${restored.id}`,
    );
    store.dropAfter(restored?.id ?? 0);
  }
  await engine.runAlone(o.name, restored?.snapshot);
  if (recovered) {
    o.recovery?.restored(restored?.id ?? 0);
    workerEvents.event('recovery', `recovered from checkpoint ${restored?.id ?? 0}`, {
      checkpoint: restored?.id ?? 0,
    });
    o.log.info(LogLine.RecoveryComplete);
    o.log.info(LogLine.ResumingProcessing);
  }
  const member = new CheckpointMember(() => engine, store, o.name, o.log, true);
  const driver = new CheckpointDriver(
    o.intervalMs,
    store,
    (order) => {
      const id = order.checkpointId;
      if (order.kind === 'start') void member.take(id).then((err) => driver.acked(o.name, id, err));
      else
        void member.commit(id).catch((err: Error) => o.log.error(`commit ${id}: ${err.message}`));
    },
    o.log,
  );
  const restoredFrom = restored?.id ?? 0;
  driver.run([o.name], restoredFrom, Math.max(restoredFrom, ...files, ...committed));
  return { store, driver, member, restoredFrom, recovered };
}
