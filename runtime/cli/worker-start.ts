/**
 * How `roo worker` starts. Every worker is in a cluster: the initializer, a
 * member, a joiner, or a worker alone, which is the initializer of a
 * cluster of one (listening for joiners only when given --control). It
 * forms or joins the cluster, rejoining it (and, with resilience, rolling
 * back with it) when it finds the files of a previous run. Every step is
 * reported to the worker's one lifecycle (runtime/cluster/worker-lifecycle.ts):
 * `join-begun`, then through the cluster node `assigned`, `recovery-begun`,
 * `restored` and `joined`. A stop asked meanwhile is the lifecycle's to
 * decide: it aborts a cluster that is still forming, and waits for a
 * restore under way.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import { SnapshotStore } from '../checkpoint/snapshot-store.js';
import { loadClusterInfo, type ClusterInfo } from '../cluster/cluster-info.js';
import {
  startClusterNode,
  type ClusterNode,
  type ClusterResilience,
} from '../cluster/cluster-node.js';
import type { WorkerLifecycle } from '../cluster/lifecycle-executor.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { LogLine } from '../logging/log-lines.js';
import type { Logger } from '../logging/logger.js';
import type { ChannelSecurity } from '../security/index.js';
import type { WorkerOptions } from './worker-flags.js';
import type { ClusterRole } from './worker-role.js';

/** A worker whose start went through: its first engine and its cluster node. */
export interface StartedWorker {
  readonly engine: Engine;
  readonly node: ClusterNode;
}

/** What every path needs. */
export interface StartContext {
  readonly options: WorkerOptions;
  readonly role: ClusterRole;
  readonly engineOptions: EngineOptions;
  readonly lifecycle: WorkerLifecycle;
  readonly security: ChannelSecurity;
  readonly log: Logger;
}

/** A stop (a signal, a leave, the cluster's shutdown) that came before the cluster formed. */
export class StartAborted extends Error {}

/**
 * Starts the worker: forms or joins its cluster (a worker alone forms a
 * cluster of one). Throws StartAborted when the lifecycle aborted the start
 * (nothing runs then), or the start's error.
 */
export async function startWorker(c: StartContext): Promise<StartedWorker> {
  const prepared = await Engine.prepare(c.engineOptions);
  try {
    return await startInCluster(c, c.role, prepared);
  } catch (err) {
    await prepared.terminate();
    throw err;
  }
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

/** `--time-between-checkpoints` in milliseconds (at least 1). */
export function checkpointIntervalMs(o: WorkerOptions): number {
  return Math.max(1, Number(o.timeBetweenCheckpoints / 1_000_000n));
}

/** Forms or joins the cluster (rejoining it from the cluster file of a previous run). */
async function startInCluster(
  c: StartContext,
  role: ClusterRole,
  prepared: Engine,
): Promise<StartedWorker> {
  const { options, log } = c;
  const info =
    loadClusterInfo(
      options.resilienceDir,
      prepared.plan.application,
      prepared.applicationHash,
      options.name,
    ) ?? aloneFiles(c, role, prepared);
  if (
    options.clusterId !== undefined &&
    info?.clusterId !== undefined &&
    info.clusterId !== options.clusterId
  ) {
    throw new RooError(
      ErrorCode.ClusterMismatch,
      `--cluster-id ${options.clusterId}: the files under ${options.resilienceDir} belong to cluster '${info.clusterId}'; give that id, or another --resilience-dir to start a new cluster`,
    );
  }
  if (info !== undefined) {
    log.info(
      `found cluster information of a previous run (worker ${info.workerIndex + 1} of ${info.workers.length}): rejoining the running cluster`,
    );
    if (options.runWithResilience) {
      log.info(LogLine.RecoveringFromFiles);
      log.info(LogLine.AttemptingToRecover);
    } else {
      log.warn(
        'the state this worker held before it stopped is lost: run with --run-with-resilience to keep it across crashes',
      );
    }
  }
  let resilience: ClusterResilience | undefined;
  if (options.runWithResilience) {
    checkResilientPlan(prepared);
    let current: Engine = prepared;
    resilience = {
      store: new SnapshotStore(
        options.resilienceDir,
        prepared.plan.application,
        prepared.applicationHash,
        options.name,
      ),
      intervalMs: checkpointIntervalMs(options),
      replaceEngine: async () => {
        await current.terminate();
        current = await Engine.prepare(c.engineOptions);
        return current;
      },
      ...(role.initializer !== undefined && info !== undefined ? { order: info.workers } : {}),
    };
  }
  const clusterId = options.clusterId ?? info?.clusterId;
  const node = await formCluster(c, role, prepared, {
    rejoin: info !== undefined,
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(resilience === undefined ? {} : { resilience }),
  });
  return { engine: prepared, node };
}

/**
 * The files of a worker that ran alone before workers alone were clusters of
 * one: snapshots but no cluster information. It recovers them as the one
 * member of its cluster (and saves the cluster information it lacked at its
 * first assignment). Undefined for any other worker, or without snapshots.
 */
function aloneFiles(
  c: StartContext,
  role: ClusterRole,
  prepared: Engine,
): Pick<ClusterInfo, 'workerIndex' | 'workers' | 'clusterId'> | undefined {
  const { options, log } = c;
  if (!options.runWithResilience || role.initializer?.workerCount !== 1) return undefined;
  const store = new SnapshotStore(
    options.resilienceDir,
    prepared.plan.application,
    prepared.applicationHash,
    options.name,
  );
  if (store.ids().length === 0 && store.committed().length === 0) return undefined;
  log.info(
    'found the snapshot files of this worker running alone: recovering them as a cluster of one',
  );
  return { workerIndex: 0, workers: [options.name] };
}

/**
 * Forms or joins the cluster; resolves once this worker's sources run. The
 * lifecycle's `abort-start` (a stop, a leave or the cluster's shutdown
 * before then) rejects it with StartAborted.
 */
async function formCluster(
  c: StartContext,
  role: ClusterRole,
  engine: Engine,
  more: { rejoin: boolean; clusterId?: string; resilience?: ClusterResilience },
): Promise<ClusterNode> {
  const { options, lifecycle, log } = c;
  const holder: { node?: ClusterNode } = {};
  const joining = new AbortController();
  let abort: (reason: string) => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    abort = (reason) => {
      joining.abort();
      reject(new StartAborted(reason));
    };
  });
  // Not a crash if nobody waits on it any more.
  aborted.catch(() => undefined);
  lifecycle.handle({ 'abort-start': (d) => abort(d.reason) });
  if (!lifecycle.report({ kind: 'join-begun' })) throw new StartAborted(lifecycle.state.reason);
  const formed = new Promise<ClusterNode>((resolve, reject) => {
    let node: ClusterNode | undefined;
    let ready = false;
    startClusterNode({
      name: options.name,
      engine,
      log,
      lifecycle,
      control: role.control,
      data: role.data,
      myControl: role.myControl,
      initializer: role.initializer,
      // A port still to be chosen (0) is not known yet: the others show none for it.
      ...(options.external === undefined || options.external.port === 0
        ? {}
        : { external: options.external }),
      resilienceDir: options.resilienceDir,
      rejoin: more.rejoin,
      join: role.join,
      joinCount: role.joinCount ?? 1,
      ...(more.clusterId === undefined ? {} : { clusterId: more.clusterId }),
      signal: joining.signal,
      security: c.security,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      ...(more.resilience === undefined ? {} : { resilience: more.resilience }),
      onReady: () => {
        lifecycle.report({ kind: 'joined' });
        ready = true;
        if (node !== undefined) resolve(node);
      },
      onFatal: (err) => {
        if (node === undefined || !ready) reject(err);
        else {
          log.fatal({ code: err.code }, err.message);
          lifecycle.report({ kind: 'fatal', code: err.code, message: err.message, exitCode: 1 });
        }
      },
    }).then((n) => {
      node = n;
      holder.node = n;
      if (ready) resolve(n);
    }, reject);
  });
  // An aborted start leaves the node's start to fail later, unheard.
  formed.catch(() => undefined);
  try {
    return await Promise.race([formed, aborted]);
  } catch (err) {
    // Close the control channel too, or its open server keeps the process alive.
    await holder.node?.close().catch(() => undefined);
    throw err;
  } finally {
    // Once formed, a stop is the worker's `stop`: nothing is left to abort.
    lifecycle.handle({ 'abort-start': () => undefined });
  }
}
