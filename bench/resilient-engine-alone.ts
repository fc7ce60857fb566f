/**
 * The resilience benchmarks' harness: one in-process engine checkpointing
 * itself (its own coordinator and only member), with the checkpoint driver,
 * member and snapshot store `roo worker` uses, but without the cluster node
 * around them, so that a benchmark times checkpoints and restores alone.
 * (`roo worker` alone runs as the initializer of a cluster of one.) On
 * start it recovers from the files it finds, then checkpoints every
 * `intervalMs`.
 */
import { workerEvents } from '../runtime/engine/worker-events.js';
import type { Engine } from '../runtime/engine/engine.js';
import { LogLine } from '../runtime/logging/log-lines.js';
import type { Logger } from '../runtime/logging/logger.js';
import { CheckpointDriver, CheckpointMember } from '../runtime/checkpoint/driver.js';
import { newestRestorable } from '../runtime/checkpoint/recovery.js';
import { SnapshotStore } from '../runtime/checkpoint/snapshot-store.js';
import { checkResilientPlan } from '../runtime/cli/worker-start.js';

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

/** Recovers (if there are files), starts a prepared engine alone, and starts checkpointing. */
export async function runResilientAlone(
  engine: Engine,
  o: {
    readonly name: string;
    readonly dir: string;
    readonly intervalMs: number;
    readonly log: Logger;
  },
): Promise<Resilience> {
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
    o.log.info(
      restored === undefined
        ? 'no checkpoint was committed before the stop: starting from the beginning'
        : `restoring checkpoint ${restored.id}`,
    );
    store.dropAfter(restored?.id ?? 0);
  }
  await engine.runAlone(o.name, restored?.snapshot);
  if (recovered) {
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
