/**
 * How the initializer rolls the cluster back: to the newest committed
 * checkpoint every restarted worker can restore (checkpoint/recovery.ts
 * chooses), with the members and routing table that checkpoint was taken
 * under (cluster-info.ts keeps them). A worker that can restore none is
 * refused with what to do. Kept apart from initializer-node.ts, which owns
 * the state this acts on (`RollbackEffects` below).
 */
import {
  ErrorCode,
  type AssignControlMessage,
  type ControlMessage,
} from '../../protocols/index.js';
import type { SnapshotStore } from '../checkpoint/snapshot-store.js';
import { chooseRollback } from '../checkpoint/recovery.js';
import type { Logger } from '../logging/logger.js';
import { assignKeyGroups } from '../routing/index.js';
import type { Plan } from '../topology/plan.js';
import { layoutOf, loadLayouts } from './cluster-info.js';
import type { Member } from './coordinator.js';
import type { WorkerLifecycle } from './lifecycle-executor.js';
import { rollbackLayout, type Layout } from './reconfiguration.js';

/** What the initializer's node lends a rollback. */
export interface RollbackEffects {
  readonly log: Logger;
  readonly lifecycle: WorkerLifecycle;
  readonly plan: Plan;
  /** Where each checkpoint's layout was saved (`--resilience-dir`). */
  readonly resilienceDir: string;
  readonly store: SnapshotStore;
  /** Committed checkpoints that restarted workers said they can restore, by name. */
  readonly reported: Map<string, readonly number[]>;
  /** Member name -> control connection. */
  readonly names: Map<string, number>;
  /** Pauses the checkpoint driver. */
  pause(why: string): void;
  /** Sends `m` to member `name` (in process for the initializer itself). */
  toName(name: string, m: ControlMessage): void;
  /** Closes member `name`'s connection (never the initializer's own). */
  drop(name: string, why: string): void;
  /** The rollback to checkpoint `target` begins under a new `generation`. */
  begin(target: number, generation: number): void;
  /** The coordinator's members become `members` (the checkpoint's). */
  members(members: readonly Member[]): void;
  /** `layout` is in force again. */
  install(layout: Layout): void;
  /** The `assign` message telling worker `index` of `members` its place under `layout`. */
  assignOf(members: readonly Member[], index: number, layout: Layout): AssignControlMessage;
}

/**
 * Rolls every member back to the newest committed checkpoint that every
 * restarted worker can restore; a worker that can restore none is refused
 * with what to do (the cluster cannot recover without its state).
 */
export function rollbackCluster(members: readonly Member[], fx: RollbackEffects): void {
  const { log, reported, store } = fx;
  // Not while this worker shuts the cluster down: the restore would race the stop.
  const refused = fx.lifecycle.check({ kind: 'recovery-begun', checkpoint: 0 });
  if (refused !== undefined) {
    log.warn({ code: refused.code }, `no rollback: ${refused.message}`);
    return;
  }
  fx.pause('the cluster is rolling back');
  const choice = chooseRollback(store.committed(), reported);
  if (choice.kind === 'refuse') {
    // A worker alone (a cluster of one) says so in a worker's words.
    const message =
      members.length === 1
        ? `cannot recover: no committed checkpoint of worker '${store.worker}' (${store.committed().join(', ')}) can be restored (see the refused files above). To start without the saved state, remove this worker's resilience files (rm ${store.workerFiles}), then start again`
        : `${choice.reason}. The cluster cannot recover without their state; to start afresh, shut the cluster down (roo shutdown) and remove every worker's resilience files (rm ${store.applicationFiles}), then start the cluster again`;
    log.error({ code: ErrorCode.SnapshotCorrupt }, message);
    for (const name of choice.workers) {
      fx.toName(name, { type: 'refuse', version: 1, code: ErrorCode.SnapshotCorrupt, message });
      fx.drop(name, 'cannot recover');
    }
    reported.clear();
    return;
  }
  const target = choice.target;
  reported.clear();
  const generation = 1 + Math.floor(Math.random() * 0x7ffffffe);
  fx.begin(target, generation);
  log.info(`rolling the cluster back to checkpoint ${target} (generation ${generation})`);
  // The members and routing table the checkpoint was taken under come back with its state.
  const { layout, leaving } = rollbackLayout(
    layoutOf(loadLayouts(fx.resilienceDir, fx.plan.application), target),
    members,
    () => assignKeyGroups(fx.plan, members.length),
  );
  const back = layout.members;
  for (const name of leaving) {
    log.info(`worker '${name}' was not in the cluster at checkpoint ${target}: it leaves`);
    fx.toName(name, {
      type: 'leave',
      version: 1,
      reason: `the cluster rolled back to checkpoint ${target}, taken before it joined`,
    });
    fx.names.delete(name);
  }
  if (back.length !== members.length || back.some((m, i) => m.name !== members[i]?.name))
    fx.members(back);
  fx.install(layout);
  back.forEach((m, i) => {
    fx.toName(m.name, { type: 'rollback', version: 1, checkpoint: target, generation });
    fx.toName(m.name, fx.assignOf(back, i, layout));
  });
}
