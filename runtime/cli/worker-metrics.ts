/**
 * A worker's metrics, as `roo worker` runs them: the collector that takes a
 * period every 2 s (kept for `roo status`), and with `--metrics ADDR` the
 * reporter that sends each period to the metrics receiver there
 * (runtime/metrics/, docs/metrics.md).
 */
import type { Address } from '../../protocols/index.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import { MetricsReporter } from '../metrics/reporter.js';
import { WorkerCollector } from '../metrics/worker-collector.js';
import type { ChannelSecurity } from '../security/index.js';

/** Starts a worker's metrics; `stop` takes a last period and ends the reporter's connection. */
export function startWorkerMetrics(o: {
  readonly worker: string;
  readonly metrics: Address | undefined;
  /** The cluster secret and TLS: the reporter's connection passes them, as `roo metrics` asks. */
  readonly security: ChannelSecurity;
  readonly log: Logger;
  readonly engine: () => Engine;
  readonly node: ClusterNode;
}): WorkerCollector {
  const holder: { collector?: WorkerCollector } = {};
  const reporter =
    o.metrics === undefined
      ? undefined
      : new MetricsReporter({
          address: o.metrics,
          log: o.log,
          security: o.security,
          hello: () => (holder.collector as WorkerCollector).hello(),
        });
  const collector = new WorkerCollector({
    worker: o.worker,
    engine: o.engine,
    cluster: () => ({ view: o.node.view(), members: o.node.members() }),
    log: o.log,
    ...(reporter === undefined ? {} : { reporter }),
  });
  holder.collector = collector;
  collector.start();
  return collector;
}
