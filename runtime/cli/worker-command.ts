/**
 * `roo worker`: runs one worker of an application: alone (the initializer of
 * a one-worker cluster, as in Wallaroo's single-worker examples), as the
 * initializer of a cluster (`--cluster-initializer --worker-count N
 * --control --data`), or as another member (`--control` of the initializer,
 * `--my-data`, `--my-control`).
 */
import { ErrorCode, RooError, type Address } from '../../protocols/index.js';
import { loadClusterInfo } from '../cluster/cluster-info.js';
import {
  startClusterNode,
  type ClusterNode,
  type ClusterResilience,
} from '../cluster/cluster-node.js';
import { SnapshotStore } from '../checkpoint/snapshot-store.js';
import { engineHandlers, shrinkAlone } from '../cluster/engine-handlers.js';
import { ExternalServer } from '../cluster/external-server.js';
import type { Logger } from '../logging/logger.js';
import { Engine } from '../engine/engine.js';
import { checkResilientPlan, runResilientAlone, type Resilience } from '../checkpoint/alone.js';
import { createLogger } from '../logging/logger.js';
import { LogLine } from '../logging/log-lines.js';
import {
  describeSecurity,
  isOpen,
  loadChannelSecurity,
  type ChannelSecurity,
} from '../security/index.js';
import { WorkerRebalancer } from './worker-rebalance.js';
import { startWorkerMetrics } from './worker-metrics.js';
import { clusterRole, type ClusterRole } from './worker-role.js';
import {
  flagsWithoutEffect,
  parseWorkerArgs,
  WORKER_USAGE,
  type WorkerOptions,
} from './worker-flags.js';

/** Runs `roo worker`; resolves to the exit code when the worker stops. */
export async function run(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseWorkerArgs(argv);
  } catch (err) {
    process.stderr.write(`roo worker: ${(err as Error).message}\n(see 'roo worker --help')\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(WORKER_USAGE);
    return 0;
  }
  let loaded: ReturnType<typeof loadChannelSecurity>;
  try {
    loaded = loadChannelSecurity(options.security);
  } catch (err) {
    process.stderr.write(`roo worker: ${(err as Error).message}\n`);
    return 2;
  }
  const security: ChannelSecurity = loaded.security;
  const log = createLogger({ worker: options.name, thread: 'main' });
  for (const w of loaded.warnings) log.warn(w);
  logSecurity(options, security, log);
  const ignored = flagsWithoutEffect(options);
  if (ignored.length > 0) {
    log.debug(`${ignored.join(' / ')}: no effect in roo (accepted for Wallaroo compatibility)`);
  }
  // Signals are handled from here on, so that a SIGTERM sent the moment the
  // ready line appears (or during start-up) shuts down cleanly.
  let engine: Engine | undefined;
  let stopRequested: string | undefined;
  let stopNow: ((signal: string) => void) | undefined;
  // While the cluster forms, a signal (or the initializer's shutdown) aborts
  // the start: the worker must not wait for a cluster that may never form.
  let abortStart: ((signal: string) => void) | undefined;
  const onSignal = (signal: string) => {
    if (stopNow !== undefined) stopNow(signal);
    else {
      stopRequested ??= signal;
      abortStart?.(signal);
    }
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  log.info(LogLine.InitPhaseI);
  if (options.runWithResilience && options.in.some((a) => a.port === 0)) {
    log.warn(
      '--in with port 0: after a recovery the source listens on another port, where acknowledging senders will not find it; give restartable workers fixed --in ports',
    );
  }
  let node: ClusterNode | undefined;
  let resilience: Resilience | undefined;
  /** Why the worker stops, when it stops for an error a restart would meet again. */
  let fatalStop: { readonly code: string; readonly message: string } | undefined;
  try {
    const engineOptions = {
      modulePath: options.applicationModule,
      args: {
        in: options.in,
        out: options.out,
        workerName: options.name,
        threads: options.ponythreads ?? 0,
        appArgs: options.appArgs,
      },
      workerName: options.name,
      resilient: options.runWithResilience,
      security,
      ...(options.ponythreads === undefined ? {} : { threads: options.ponythreads }),
      log,
      onFatal: (err: Error & { code?: string }) => {
        // The application's own mistake (a state no checkpoint can encode)
        // exits 2, as a bad application at start does; its senders hear why.
        if (err.code === ErrorCode.SnapshotEncodeFailed) {
          fatalStop = { code: err.code, message: err.message };
          log.fatal({ code: err.code }, `${err.message}; the worker stops`);
          process.exitCode = 2;
        } else process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      },
    };
    const role = clusterRole(options);
    if (role === undefined && options.runWithResilience) {
      const prepared = await Engine.prepare(engineOptions);
      engine = prepared;
      try {
        resilience = await runResilientAlone(prepared, {
          name: options.name,
          dir: options.resilienceDir,
          intervalMs: checkpointIntervalMs(options),
          log,
        });
      } catch (err) {
        await prepared.terminate();
        throw err;
      }
    } else if (role === undefined) {
      engine = await Engine.start(engineOptions);
    } else {
      const prepared = await Engine.prepare(engineOptions);
      engine = prepared;
      try {
        const info = loadClusterInfo(
          options.resilienceDir,
          prepared.plan.application,
          prepared.applicationHash,
          options.name,
        );
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
        let clusterResilience: ClusterResilience | undefined;
        if (options.runWithResilience) {
          checkResilientPlan(prepared);
          let current: Engine = prepared;
          clusterResilience = {
            store: new SnapshotStore(
              options.resilienceDir,
              prepared.plan.application,
              prepared.applicationHash,
              options.name,
            ),
            intervalMs: checkpointIntervalMs(options),
            replaceEngine: async () => {
              await current.terminate();
              current = await Engine.prepare(engineOptions);
              return current;
            },
            ...(role.initializer !== undefined && info !== undefined
              ? { order: info.workers }
              : {}),
          };
        }
        const holder: { node?: ClusterNode } = {};
        const joining = new AbortController();
        const aborted = new Promise<never>((_, reject) => {
          abortStart = (signal) => {
            joining.abort();
            reject(new StartAborted(signal));
          };
          if (stopRequested !== undefined) abortStart(stopRequested);
        });
        try {
          node = await Promise.race([
            formCluster(prepared, role, options.name, log, holder, {
              resilienceDir: options.resilienceDir,
              // A port still to be chosen (0) is not known yet: the others show none for it.
              ...(options.external === undefined || options.external.port === 0
                ? {}
                : { external: options.external }),
              rejoin: info !== undefined,
              ...((options.clusterId ?? info?.clusterId) === undefined
                ? {}
                : { clusterId: (options.clusterId ?? info?.clusterId) as string }),
              onShutdown: (reason) => onSignal(`cluster shutdown (${reason})`),
              signal: joining.signal,
              security,
              heartbeatTimeoutMs: options.heartbeatTimeoutMs,
              ...(clusterResilience === undefined ? {} : { resilience: clusterResilience }),
            }),
            aborted,
          ]);
        } catch (err) {
          // Close the control channel too, or its open server keeps the process alive.
          await holder.node?.close().catch(() => undefined);
          throw err;
        } finally {
          abortStart = undefined;
        }
      } catch (err) {
        await prepared.terminate();
        throw err;
      }
    }
  } catch (err) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (err instanceof StartAborted) {
      log.info(`${err.message}: stopped before the cluster formed`);
      log.info(LogLine.ShutdownComplete);
      return 0;
    }
    const code = err instanceof RooError ? err.code : 'ROO_ERR_INTERNAL';
    log.error({ code }, (err as Error).message);
    process.stderr.write(`roo worker: ${(err as Error).message}\n`);
    return 2;
  }
  const running = engine;
  /** The engine now: a cluster's rollback replaces it. */
  const current = (): Engine => node?.engine() ?? running;
  const rebalancer = new WorkerRebalancer({
    worker: options.name,
    log,
    engine: current,
    node: () => node,
    resilientAlone: () => resilience !== undefined,
  });
  const status = {
    get plan() {
      return current().plan;
    },
    get placement() {
      return current().placement;
    },
    get listening() {
      return current().listening;
    },
    stats: () => current().stats(),
    keys: (limit: number) => current().keys(limit),
  };
  const metrics = startWorkerMetrics({
    worker: options.name,
    metrics: options.metrics,
    security,
    log,
    engine: current,
    node: () => node,
  });
  log.info(LogLine.InitPhaseII);
  for (const stage of running.plan.stages) {
    if (
      stage.kind === 'source' &&
      stage.source.kind === 'tcp-source' &&
      stage.source.address.absent === true
    ) {
      const wanted = stage.source.address.name;
      log.warn(
        `source '${stage.source.name}' has no --in address on this worker, so it does not run here` +
          (node === undefined
            ? `: pass --in ${wanted === undefined ? '' : `${wanted}@`}HOST:PORT to feed it`
            : ' (it runs on workers given one)'),
      );
    }
  }
  for (const [name, address] of Object.entries(engine.listening)) {
    log.info(`source '${name}' listening on ${address}`);
  }
  let external: ExternalServer | undefined;
  if (options.external !== undefined) {
    try {
      external = await ExternalServer.start({
        address: options.external,
        log,
        security,
        handlers: (bound) =>
          engineHandlers({
            engine: status,
            identity: {
              worker: options.name,
              startedAtMs: Date.now() - process.uptime() * 1000,
              external: bound,
              ...(node === undefined
                ? {}
                : {
                    members: () => (node as ClusterNode).members(),
                    cluster: () => (node as ClusterNode).view(),
                    externals: () => (node as ClusterNode).view().externals ?? {},
                  }),
              metrics: () => metrics.latest(),
            },
            log,
            shrink: (r) =>
              node !== undefined ? node.shrink(r) : Promise.resolve(shrinkAlone(options.name)),
            rebalance: () => rebalancer.rebalance(),
          }),
        // Wallaroo's cluster_shutdown stops the whole cluster, not just this worker.
        onShutdown: () => {
          if (node !== undefined) node.shutdownCluster('external shutdown request');
          else if (resilience === undefined) onSignal('external shutdown request');
          else {
            // A clean shutdown: a last checkpoint commits what was processed,
            // then nothing is left to recover next time.
            const r = resilience;
            void r.driver.finish(10_000).then((ok) => {
              if (!ok) log.warn('the last checkpoint did not commit; shutting down without it');
              r.driver.stop();
              r.member.close();
              r.store.removeAll();
              onSignal('external shutdown request');
            });
          }
        },
      });
    } catch (err) {
      log.error((err as Error).message);
      process.stderr.write(`roo worker: ${(err as Error).message}\n`);
      await running.stop().catch(() => undefined);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      return 2;
    }
  }
  log.info(LogLine.InitPhaseIII);
  const autoTimer = options.autoRebalance ? rebalancer.startAuto() : undefined;

  return new Promise<number>((resolve) => {
    let stopping = false;
    stopNow = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: shutting down`);
      resilience?.driver.stop();
      if (autoTimer !== undefined) clearInterval(autoTimer);
      // The metrics first: a last period is taken while the threads still answer.
      metrics
        .stop()
        .catch(() => undefined)
        .then(() =>
          Promise.all([external?.close(), node?.close(), current().stop(undefined, fatalStop)]),
        )
        .then(
          () => {
            log.info(LogLine.ShutdownComplete);
            resolve(typeof process.exitCode === 'number' ? process.exitCode : 0);
          },
          (err: Error) => {
            log.error(`shutdown failed: ${err.message}`);
            resolve(1);
          },
        );
    };
    if (stopRequested !== undefined) stopNow(stopRequested);
  });
}

/** `--time-between-checkpoints` in milliseconds (at least 1). */
function checkpointIntervalMs(o: WorkerOptions): number {
  return Math.max(1, Number(o.timeBetweenCheckpoints / 1_000_000n));
}

/** Forms or joins the cluster; resolves when this worker's sources run. */
function formCluster(
  engine: Engine,
  role: ClusterRole,
  name: string,
  log: Logger,
  holder: { node?: ClusterNode },
  more: {
    resilienceDir: string;
    rejoin: boolean;
    clusterId?: string;
    onShutdown: (reason: string) => void;
    signal: AbortSignal;
    security: ChannelSecurity;
    heartbeatTimeoutMs: number;
    resilience?: ClusterResilience;
    external?: Address;
  },
): Promise<ClusterNode> {
  return new Promise<ClusterNode>((resolve, reject) => {
    let node: ClusterNode | undefined;
    let ready = false;
    startClusterNode({
      name,
      engine,
      log,
      control: role.control,
      data: role.data,
      myControl: role.myControl,
      initializer: role.initializer,
      ...(more.external === undefined ? {} : { external: more.external }),
      resilienceDir: more.resilienceDir,
      rejoin: more.rejoin,
      join: role.join,
      joinCount: role.joinCount ?? 1,
      ...(more.clusterId === undefined ? {} : { clusterId: more.clusterId }),
      onShutdown: more.onShutdown,
      signal: more.signal,
      security: more.security,
      heartbeatTimeoutMs: more.heartbeatTimeoutMs,
      ...(more.resilience === undefined ? {} : { resilience: more.resilience }),
      onReady: () => {
        ready = true;
        if (node !== undefined) resolve(node);
      },
      onFatal: (err) => {
        if (node === undefined || !ready) reject(err);
        else {
          log.fatal({ code: err.code }, err.message);
          process.exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        }
      },
    }).then((n) => {
      node = n;
      holder.node = n;
      if (ready) resolve(n);
    }, reject);
  });
}

/**
 * Says once, at start-up, how the worker's cluster ports are protected; a
 * worker with such ports (control, data, external) and neither a cluster
 * secret nor TLS warns that anyone who can reach them can control it.
 */
function logSecurity(o: WorkerOptions, security: ChannelSecurity, log: Logger): void {
  const ports =
    o.control !== undefined ||
    o.join !== undefined ||
    o.external !== undefined ||
    o.workerCount > 1;
  if (!ports) return;
  if (isOpen(security)) {
    log.warn(
      'the control, data and external channels are open to anyone who can reach their ports (anyone can shut the cluster down, join it or inject data): give every worker and tool --cluster-secret-file (or ROO_CLUSTER_SECRET_FILE), and TLS across untrusted networks',
    );
  } else log.info(`the cluster channels are protected by ${describeSecurity(security)}`);
}

/** A stop requested (signal, cluster shutdown) while the cluster was forming. */
class StartAborted extends Error {}
