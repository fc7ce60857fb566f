/**
 * A worker's thread rebalancing, for `roo rebalance` and `--auto-rebalance`:
 * the worker plans its moves and its cluster's coordinator runs them as a
 * reconfiguration (ClusterNode.rebalance), a worker alone's included (it is
 * the coordinator of its cluster of one).
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import {
  AUTO_REBALANCE_INTERVAL_MS,
  AUTO_REBALANCE_SAMPLES,
  autoRebalanceStart,
  autoRebalanceStep,
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

  constructor(
    private readonly o: {
      readonly log: Logger;
      /** The engine now (a rollback replaces it). */
      readonly engine: () => Engine;
      /** The worker's cluster node (a worker alone's is a cluster of one). */
      readonly node: ClusterNode;
    },
  ) {}

  /** Rebalances this worker's threads, as a reconfiguration of its cluster. One at a time. */
  async rebalance(): Promise<RebalanceAnswer> {
    if (this.running) return { ok: false, message: 'a rebalance is under way' };
    this.running = true;
    try {
      const r = await this.o.node.rebalance();
      if (r.ok) this.o.log.info(`rebalance: ${r.message}`);
      return r;
    } finally {
      this.running = false;
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
