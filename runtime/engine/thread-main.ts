/**
 * Entry of a worker's scheduler thread: attaches the thread's scheduler and
 * run loop, loads the application module, builds the same plan as the main
 * thread, and exposes the thread's stream runtime (thread-runtime.ts), made
 * with sockets and files (thread-io.ts), as the control the main thread
 * calls over comlink.
 */
import { attachSchedulerThread, reportFatal, exposeControl, GcWatch } from '../../actors/index.js';
import { ErrorCode } from '../../protocols/index.js';
import type { AppArgsData } from '../api/args.js';
import { createLogger } from '../logging/logger.js';
import { buildPlan } from '../topology/plan.js';
import { buildApplication, loadApplicationModule } from './app-loader.js';
import { metricSteps } from './metric-steps.js';
import { ThreadRecorder } from './thread-metrics.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import type { ChannelSecurity } from '../security/index.js';
import type { ThreadControl } from './thread-control.js';
import { productionIo } from './thread-io.js';
import { ThreadRuntime } from './thread-runtime.js';

/** What the main thread passes each scheduler thread. */
export interface ThreadAppData {
  readonly modulePath: string;
  readonly args: AppArgsData;
  readonly workerName: string;
  /** Resilience on (`--run-with-resilience`). */
  readonly resilient: boolean;
  /** The cluster secret and TLS of the data channels (`{}`: none). */
  readonly security: ChannelSecurity;
  /** Metrics recorded on the data path (off: `ROO_METRICS=off`). */
  readonly metrics: boolean;
}

/** Every call of the control API, so that the deferred control below forwards each one. */
const CALLS: Record<keyof ThreadControl, true> = {
  spawn: true,
  listenData: true,
  wire: true,
  start: true,
  checkpoint: true,
  prepareMove: true,
  epoch: true,
  drop: true,
  adopt: true,
  groupLoads: true,
  resumeSources: true,
  commit: true,
  stats: true,
  metrics: true,
  keys: true,
  stopSources: true,
  stop: true,
};

/**
 * The control exposed to the main thread: each call waits for the runtime,
 * which exists once the application module is loaded (the main thread's
 * first call may come before), then runs on it; a module that failed to
 * load fails every call with its error.
 */
function deferredControl(runtime: Promise<ThreadRuntime>): object {
  const control: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of Object.keys(CALLS) as (keyof ThreadControl)[]) {
    control[name] = async (...args) => {
      const r = await runtime;
      return (r[name] as (...a: unknown[]) => unknown).apply(r, args);
    };
  }
  return control;
}

const {
  scheduler,
  loop,
  app: data,
} = attachSchedulerThread<ThreadAppData>({
  onActorError: (err, name) => errors.report(err, ErrorCode.Internal, `actor ${name}`),
});
const log = createLogger({ worker: data.workerName, thread: scheduler.thread });
const errors = new ErrorReporter(log);
/** Counted from the thread's start, the application's loading included. */
const gc = new GcWatch();

const runtime = (async () => {
  const fn = await loadApplicationModule(data.modulePath);
  const plan = buildPlan(buildApplication(fn, data.args));
  return new ThreadRuntime({
    scheduler,
    loop,
    plan,
    workerName: data.workerName,
    resilient: data.resilient,
    security: data.security,
    log,
    errors,
    fatal: (err) => reportFatal(err),
    recorder: data.metrics ? new ThreadRecorder(metricSteps(plan)) : undefined,
    gc,
    io: productionIo,
  });
})();

exposeControl(deferredControl(runtime));
loop.start();
runtime.catch((err: Error) => {
  log.fatal(`cannot load the application: ${err.message}`);
});
