/**
 * The stages of `roo demo`: a run is a list of stages over one context, each
 * doing what a user would do in a shell, as in Wallaroo's resilience guide
 * (start, send, kill a worker, restart it, send more) and its autoscale
 * guide (grow the running cluster, shrink it back):
 *
 *   metrics      roo metrics --listen 127.0.0.1:0 --http 127.0.0.1:0  (its UI's address printed)
 *   receivers    roo receive --listen 127.0.0.1:0       (one per worker)
 *   initializer  roo worker ... --in 127.0.0.1:<free port> --cluster-initializer --worker-count N
 *                  --control 127.0.0.1:0 --data 127.0.0.1:0 --external 127.0.0.1:0
 *   members      roo worker ... --control <initializer> --my-data 127.0.0.1:<free port>
 *                  --external 127.0.0.1:0 --name worker2   (no --in)
 *                every worker with --run-with-resilience --resilience-dir <temp>
 *                --time-between-checkpoints 500000000 --metrics <roo metrics> -- --exactly-once
 *   sender       roo send --host <source> --file <text> --repeat --messages M/2 --stream-id roo-demo;
 *                in a cluster paced (--batch-size B --interval 50000000) to last about 10 s
 *   counting     progress until the first checkpoint's counts are out
 *   grow         (in a cluster) roo receive --listen 127.0.0.1:0 for worker3, then
 *                roo worker ... --name worker3 --join <initializer's control>
 *                  --my-data 127.0.0.1:0 --my-control 127.0.0.1:<free port> (no --in);
 *                the reconfiguration's log lines as they come, what moved, the pause
 *   counting     progress until worker3's sink has written counts
 *   shrink       roo shrink --external <initializer's external> --workers worker3;
 *                worker3 exits 0 and removes its files; what moved back, the pause
 *   crash        kill -9 worker2 (the initializer with --workers 1)
 *   restart      the same command again; the recovery log lines as they come
 *   send more    once the first send is acknowledged: roo send ... --messages M
 *                --stream-id roo-demo, which resumes where the stream stopped
 *   counting     progress until every expected count has arrived
 *   state        roo status <external> --json, for every worker
 *   (--ui)       the cluster and the metrics UI keep running until Ctrl-C
 *   shutdown     roo shutdown <initializer's external>; every worker exits 0
 *
 * (worker3 is the worker after the last: worker4 with --workers 3.) The grow
 * and the shrink come before the crash: a worker that joins after a
 * rollback is not given the cluster's new data-channel generation, so it
 * drops the others' data and checkpoints stop committing.
 *
 * Every address is picked by the OS (port 0) and read back from the line
 * the child logs, so a demo never collides with anything else on the
 * machine, but for the source's, the members' data addresses and the
 * joiner's control address: those are free ports picked up front, because
 * a recovery reopens the source at the address its command gives and a
 * restarted member must come back at the data address the cluster has on
 * record.
 *
 * This file lists the stages in order; each lives with its kind:
 *
 *   demo-context.ts   what the stages share (options, context, progress line)
 *   demo-start.ts     receivers, initializer, other workers
 *   demo-send.ts      the first roo send, and the rest after the recovery
 *   demo-progress.ts  the counting stages: progress until the counts are in
 *   demo-crash.ts     kill -9 and the restart, with the recovery lines
 *   demo-resize.ts    the grow (roo worker --join) and the shrink (roo shrink)
 *   demo-echo.ts      the children's log lines shown in the narrative
 *   demo-inspect.ts   roo status on every worker, as a table
 *   demo-metrics.ts   roo metrics, and the pause of --ui
 *   demo-shutdown.ts  roo shutdown and the clean-exit check
 */
import type { DemoStage } from './demo-context.js';
import { crashWorker, restartWorker } from './demo-crash.js';
import { inspectState } from './demo-inspect.js';
import { holdForUi, startMetrics } from './demo-metrics.js';
import { awaitCounts, countUntilCrash } from './demo-progress.js';
import { countOnGrown, growCluster, shrinkCluster } from './demo-resize.js';
import { sendRest, startSender } from './demo-send.js';
import { shutdownCluster } from './demo-shutdown.js';
import { startInitializer, startMembers, startReceivers } from './demo-start.js';

/**
 * The stages of the word count demo on a cluster of `workers` workers, in
 * order: in a cluster, one more worker joins while the first half streams
 * in, and leaves again; then a crash of worker2 (of the initializer when it
 * runs alone) and its recovery. With `ui`, the cluster keeps running
 * before its shutdown until Ctrl-C.
 */
export function wordCountStages(workers: number, ui = false): DemoStage[] {
  const cluster = workers > 1;
  return [
    startMetrics,
    startReceivers,
    startInitializer,
    ...(cluster ? [startMembers] : []),
    startSender(cluster),
    countUntilCrash,
    ...(cluster ? [growCluster(workers), countOnGrown(workers), shrinkCluster(workers)] : []),
    crashWorker(workers),
    restartWorker(workers),
    sendRest,
    awaitCounts,
    inspectState,
    ...(ui ? [holdForUi] : []),
    shutdownCluster,
  ];
}
