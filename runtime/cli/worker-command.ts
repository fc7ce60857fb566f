/**
 * `roo worker`: runs one worker of an application: alone (the initializer of
 * a one-worker cluster, as in Wallaroo's single-worker examples), as the
 * initializer of a cluster (`--cluster-initializer --worker-count N
 * --control --data`), as another member (`--control` of the initializer,
 * `--my-data`, `--my-control`), or joining a running cluster (`--join`).
 * Every one of them runs the same cluster node (runtime/cluster/cluster-node.ts).
 */
import { ErrorCode, RooError, type ErrorCodeValue } from '../../protocols/index.js';
import { engineHandlers } from '../cluster/engine-handlers.js';
import { ExternalServer } from '../cluster/external-server.js';
import { WorkerLifecycle } from '../cluster/lifecycle-executor.js';
import type { WorkerRole } from '../cluster/worker-lifecycle.js';
import type { Engine } from '../engine/engine.js';
import { createLogger, type Logger } from '../logging/logger.js';
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
import { StartAborted, startWorker, type StartedWorker } from './worker-start.js';

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
  let role: ClusterRole;
  try {
    role = clusterRole(options);
  } catch (err) {
    return startFailed(err, log);
  }
  // The one lifecycle of this worker: every path reports to it, and it decides.
  const lifecycle = new WorkerLifecycle(roleOf(role), log);
  // Signals are handled from here on, so that a SIGTERM sent the moment the
  // ready line appears (or during start-up) shuts down cleanly: while the
  // cluster forms it aborts the start, during a restore it waits for it.
  const onSignal = (signal: string) => lifecycle.report({ kind: 'stop-asked', reason: signal });
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
  /** Why the worker stops, when it stops for an error a restart would meet again. */
  let fatalStop: { readonly code: string; readonly message: string } | undefined;
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
      const encode = err.code === ErrorCode.SnapshotEncodeFailed;
      if (encode) {
        fatalStop = { code: ErrorCode.SnapshotEncodeFailed, message: err.message };
        log.fatal({ code: err.code }, `${err.message}; the worker stops`);
      }
      lifecycle.report({
        kind: 'fatal',
        code: codeOf(err),
        message: err.message,
        exitCode: encode ? 2 : 1,
      });
    },
  };
  let started: StartedWorker;
  try {
    started = await startWorker({ options, role, engineOptions, lifecycle, security, log });
  } catch (err) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (err instanceof StartAborted) {
      log.info(`${lifecycle.state.reason}: stopped before the cluster formed`);
      log.info(LogLine.ShutdownComplete);
      lifecycle.report({ kind: 'stopped' });
      return lifecycle.state.exitCode;
    }
    const code = err instanceof RooError ? err.code : ErrorCode.Internal;
    lifecycle.report({ kind: 'fatal', code, message: (err as Error).message, exitCode: 2 });
    lifecycle.report({ kind: 'stopped' });
    return startFailed(err, log);
  }
  const { engine, node } = started;
  /** The engine now: a rollback replaces it. */
  const current = (): Engine => node.engine();
  const rebalancer = new WorkerRebalancer({ log, engine: current, node });
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
    node,
  });
  log.info(LogLine.InitPhaseII);
  for (const stage of engine.plan.stages) {
    if (
      stage.kind === 'source' &&
      stage.source.kind === 'tcp-source' &&
      stage.source.address.absent === true
    ) {
      const wanted = stage.source.address.name;
      log.warn(
        `source '${stage.source.name}' has no --in address on this worker, so it does not run here` +
          (node.members().length <= 1
            ? `: pass --in ${wanted === undefined ? '' : `${wanted}@`}HOST:PORT to feed it`
            : ' (it runs on workers given one)'),
      );
    }
  }
  for (const [name, address] of Object.entries(engine.listening)) {
    log.info(`source '${name}' listening on ${address}`);
  }
  let external: ExternalServer | undefined;
  /** What a `roo shutdown` the cluster took does once its asker has the answer. */
  let afterShutdownAnswer = (): void => undefined;
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
              members: () => node.members(),
              cluster: () => node.view(),
              externals: () => node.view().externals ?? {},
              metrics: () => metrics.latest(),
              lifecycle: () => ({
                phase: lifecycle.phase,
                role: lifecycle.state.role,
                description: lifecycle.describe(),
              }),
            },
            log,
            shrink: (r) => node.shrink(r),
            rebalance: () => rebalancer.rebalance(),
            // The cluster's coordinator refuses a shutdown (answered with its error) unless it
            // runs; a member asks it and waits. What follows the answer runs once it is sent.
            shutdownRefusal: async () => {
              const answer = await node.shutdown(SHUTDOWN_ASKED.reason);
              afterShutdownAnswer = answer.afterAnswer;
              return answer.refused;
            },
          }),
        // Wallaroo's cluster_shutdown stops the whole cluster, not just this worker.
        onShutdown: () => afterShutdownAnswer(),
      });
    } catch (err) {
      log.error((err as Error).message);
      process.stderr.write(`roo worker: ${(err as Error).message}\n`);
      const code = err instanceof RooError ? err.code : ErrorCode.Internal;
      lifecycle.report({ kind: 'fatal', code, message: (err as Error).message, exitCode: 2 });
      await Promise.all([node.close(), current().stop()]).catch(() => undefined);
      lifecycle.report({ kind: 'stopped' });
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      return 2;
    }
  }
  log.info(LogLine.InitPhaseIII);
  const autoTimer = options.autoRebalance ? rebalancer.startAuto() : undefined;

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stopNow = (reason: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${reason}: shutting down`);
      if (autoTimer !== undefined) clearInterval(autoTimer);
      // The metrics first: a last period is taken while the threads still answer.
      metrics
        .stop()
        .catch(() => undefined)
        .then(() =>
          Promise.all([external?.close(), node.close(), current().stop(undefined, fatalStop)]),
        )
        .then(
          () => {
            log.info(LogLine.ShutdownComplete);
            lifecycle.report({ kind: 'stopped' });
          },
          (err: Error) => {
            log.error(`shutdown failed: ${err.message}`);
            const message = `shutdown failed: ${err.message}`;
            lifecycle.report({ kind: 'fatal', code: codeOf(err), message, exitCode: 1 });
            lifecycle.report({ kind: 'stopped' });
          },
        );
    };
    lifecycle.handle({ stop: (d) => stopNow(d.reason), exit: (d) => resolve(d.code) });
    // A stop decided while the worker was starting (a signal, a fatal error) is carried out now.
    if (lifecycle.phase === 'shutting-down') stopNow(lifecycle.state.reason);
  });
}

/** The event of a `roo shutdown` request. */
const SHUTDOWN_ASKED = { kind: 'shutdown-asked', reason: 'external shutdown request' } as const;

/** The lifecycle role of a worker with `role` (a worker alone is the initializer of a cluster of one). */
function roleOf(role: ClusterRole): WorkerRole {
  if (role.join) return 'joiner';
  return role.initializer === undefined ? 'member' : 'initializer';
}

/** The error code of an error from the engine (its threads send records), or ROO_ERR_INTERNAL. */
function codeOf(err: Error & { code?: string }): ErrorCodeValue {
  const codes: readonly string[] = Object.values(ErrorCode);
  return err.code !== undefined && codes.includes(err.code)
    ? (err.code as ErrorCodeValue)
    : ErrorCode.Internal;
}

/** A start that failed: said on stderr and in the log, exit 2. */
function startFailed(err: unknown, log: Logger): number {
  const code = err instanceof RooError ? err.code : 'ROO_ERR_INTERNAL';
  log.error({ code }, (err as Error).message);
  process.stderr.write(`roo worker: ${(err as Error).message}\n`);
  return 2;
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
