/**
 * A worker's thread rebalancing, for `roo rebalance` and `--auto-rebalance`:
 * in a cluster the worker plans its moves and the coordinator runs them as a
 * reconfiguration (ClusterNode.rebalance); a worker alone moves its key
 * groups itself at a barrier (Engine.rebalanceAlone). One at a time.
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { WorkerLifecycle } from '../cluster/lifecycle-executor.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import type { Engine } from '../engine/engine.js';
import { workerEvents } from '../engine/worker-events.js';
import type { Logger } from '../logging/logger.js';
import {
  AUTO_REBALANCE_INTERVAL_MS,
  AUTO_REBALANCE_SAMPLES,
  autoRebalanceStart,
  autoRebalanceStep,
  imbalance,
  planThreadMoves,
  threadLoads,
} from '../topology/rebalance.js';

/** What a rebalance answers. */
export interface RebalanceAnswer {
  readonly ok: boolean;
  readonly message: string;
}

/** A worker's rebalancer. */
export class WorkerRebalancer {
  private running = false;
  /** Barrier ids of a worker alone's rebalances, far from any checkpoint's. */
  private barrier = 1 << 30;

  constructor(
    private readonly o: {
      readonly worker: string;
      readonly log: Logger;
      /** The engine now (a rollback replaces it). */
      readonly engine: () => Engine;
      /** The cluster node, when the worker is in a cluster. */
      readonly node: () => ClusterNode | undefined;
      /** True for a worker alone with resilience (its checkpoints own the barriers). */
      readonly resilientAlone: () => boolean;
      /** The worker's lifecycle: a worker alone's rebalance is its reconfiguration. */
      readonly lifecycle: WorkerLifecycle;
    },
  ) {}

  /** Rebalances this worker's threads: through the cluster, or here for a worker alone. */
  async rebalance(): Promise<RebalanceAnswer> {
    const { o } = this;
    if (this.running) return { ok: false, message: 'a rebalance is under way' };
    const node = o.node();
    if (node !== undefined) {
      this.running = true;
      return node.rebalance().finally(() => (this.running = false));
    }
    if (o.resilientAlone())
      return {
        ok: false,
        message:
          'a worker alone with resilience cannot rebalance its threads; start it as a one-worker cluster (--cluster-initializer --control ADDR)',
      };
    const e = o.engine();
    const loop = barrierCycle(e.plan);
    if (loop !== undefined)
      return {
        ok: false,
        message: `the application's routes loop through ${loop}, so a rebalance's barrier could never align`,
      };
    // A worker alone's rebalance is its reconfiguration: only while it runs.
    const id = ++this.barrier;
    const begun = { kind: 'reconfiguration-begun', id, leaving: false } as const;
    const refused = o.lifecycle.check(begun);
    if (refused !== undefined) return { ok: false, message: refused.message };
    o.lifecycle.report(begun);
    this.running = true;
    try {
      const groups = await e.groupLoads();
      const before = imbalance(threadLoads(groups, e.threads));
      const moves = planThreadMoves(groups, e.threads);
      if (moves.length === 0)
        return {
          ok: true,
          message: `nothing to move: the busiest thread carries ${before.toFixed(2)}x the mean load`,
        };
      const r = await e.rebalanceAlone(id, o.worker, moves);
      const message = `the busiest thread carried ${before.toFixed(2)}x the mean load; moved ${r.groups} key groups (${r.entities} keys, ${r.bytes} bytes) between threads; the moving groups paused ${r.pausedMs} ms`;
      o.log.info(`rebalance: ${message}`);
      workerEvents.event('rebalance', `rebalance: ${message}`, { ...r });
      return { ok: true, message };
    } finally {
      this.running = false;
      // Not once the worker began to stop meanwhile: that is the stop's to finish.
      if (o.lifecycle.phase === 'reconfiguring')
        o.lifecycle.report({ kind: 'reconfiguration-ended', id });
    }
  }

  /** `--auto-rebalance`: samples the threads' loads and rebalances when one stays much busier. */
  startAuto(): NodeJS.Timeout {
    const { o } = this;
    let auto = autoRebalanceStart(o.engine().threads);
    const timer = setInterval(() => {
      void (async () => {
        if (this.running) return;
        const e = o.engine();
        const step = autoRebalanceStep(auto, threadLoads(await e.groupLoads(), e.threads));
        auto = step.state;
        if (!step.rebalance) return;
        o.log.info(
          `auto-rebalance: the busiest thread carried ${step.imbalance.toFixed(2)}x the mean load for ${AUTO_REBALANCE_SAMPLES} samples in a row`,
        );
        const r = await this.rebalance();
        if (!r.ok) o.log.warn(`auto-rebalance: ${r.message}`);
        auto = autoRebalanceStart(e.threads);
      })().catch((err: Error) => o.log.warn(`auto-rebalance: ${err.message}`));
    }, AUTO_REBALANCE_INTERVAL_MS);
    timer.unref();
    return timer;
  }
}
