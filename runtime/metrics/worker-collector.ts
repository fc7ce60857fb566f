/**
 * A worker's metrics on its main thread: once per period (Wallaroo's 2 s)
 * it asks every scheduler thread for its take (`Engine.metrics`), drains the
 * worker's events (engine/worker-events.ts), builds the period's report
 * (report-builder.ts), keeps it for `roo status` (`latest`), and offers it
 * to the reporter when the worker has `--metrics`. The data path is never
 * touched: threads record into their own meters, and a take is one RPC per
 * thread per period.
 */
import { formatAddress, type MetricsReport } from '../../protocols/index.js';
import type { Engine } from '../engine/engine.js';
import { metricSteps, type MetricSteps } from '../engine/metric-steps.js';
import { workerEvents } from '../engine/worker-events.js';
import type { Logger } from '../logging/logger.js';
import type { ClusterView } from '../cluster/cluster-node.js';
import type { StatusMetrics } from '../cluster/status.js';
import { buildHello, buildReport, NO_TOTALS, type Totals } from './report-builder.js';
import type { MetricsReporter } from './reporter.js';
import { rooVersion } from './roo-version.js';
import { statusMetrics } from './status-metrics.js';

/** Wallaroo's reporting period, ms. */
export const METRICS_PERIOD_MS = 2_000;
/**
 * The reporting period: METRICS_PERIOD_MS, or ROO_METRICS_PERIOD_MS when it
 * holds a whole number from 1 to 60,000 (for tests and tuning; anything
 * else is ignored). A period shorter than a take lasts skips periods.
 */
export function metricsPeriodMs(
  env: string | undefined = process.env['ROO_METRICS_PERIOD_MS'],
): number {
  const n = Number(env);
  return env !== undefined && Number.isInteger(n) && n >= 1 && n <= 60_000 ? n : METRICS_PERIOD_MS;
}

/** A thread that has not answered a take within this long is given up on for this period. */
const TAKE_TIMEOUT_MS = 5_000;

/** Settings of a collector. */
export interface CollectorOptions {
  readonly worker: string;
  /** The engine now (a rollback replaces it). */
  readonly engine: () => Pick<Engine, 'plan' | 'placement' | 'threads' | 'metrics'>;
  /** The cluster as this worker knows it, when it is in one (undefined: alone). */
  readonly cluster?: () =>
    { readonly view: ClusterView; readonly members: readonly string[] } | undefined;
  readonly log: Logger;
  /** Sends the reports (`--metrics`); absent: reports are only kept for `roo status`. */
  readonly reporter?: MetricsReporter;
  readonly periodMs?: number;
}

/** Collects a worker's metrics every period. */
export class WorkerCollector {
  private totals: Totals = NO_TOTALS;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastAt = Date.now();
  private steps: { readonly plan: unknown; readonly table: MetricSteps } | undefined;
  private last: MetricsReport | undefined;
  /** Periods whose take failed or timed out (a thread busy past TAKE_TIMEOUT_MS, an engine being replaced). */
  missed = 0;

  constructor(private readonly o: CollectorOptions) {}

  /** The hello of a reporter's connection. */
  hello(): ReturnType<typeof buildHello> {
    const e = this.o.engine();
    const c = this.o.cluster?.();
    return buildHello({
      app: e.plan.application,
      worker: this.o.worker,
      clusterId: c?.view.clusterId ?? '',
      pid: process.pid,
      startedAt: Math.round(performance.timeOrigin),
      rooVersion: rooVersion(),
      steps: this.table(),
      threads: e.threads,
      plan: e.plan,
    });
  }

  /** Starts the periodic collection (and the reporter's connection). */
  start(): void {
    this.o.reporter?.start();
    this.lastAt = Date.now();
    this.timer = setInterval(() => void this.collect(), this.o.periodMs ?? metricsPeriodMs());
    this.timer.unref();
  }

  /** The last period, as `roo status` shows it (undefined before the first). */
  latest(): StatusMetrics | undefined {
    if (this.last === undefined) return undefined;
    const r = this.o.reporter;
    return statusMetrics(
      this.last,
      r === undefined ? null : { address: formatAddress(r.address), ...r.counts },
    );
  }

  /**
   * Collects one period now (a collection already running is waited for
   * instead). Resolves when its report is kept and offered.
   */
  collect(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    this.inFlight = this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Stops: a last period is collected and offered, then the reporter's connection is ended. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.collect();
    await this.o.reporter?.close();
  }

  private table(): MetricSteps {
    const plan = this.o.engine().plan;
    if (this.steps?.plan !== plan) this.steps = { plan, table: metricSteps(plan) };
    return this.steps.table;
  }

  private async take(): Promise<void> {
    const engine = this.o.engine();
    let timer: NodeJS.Timeout | undefined;
    let takes;
    try {
      takes = await Promise.race([
        engine.metrics(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), TAKE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      this.missed++;
      this.o.log.debug(`metrics: the threads' take failed (${(err as Error).message})`);
      return;
    } finally {
      clearTimeout(timer);
    }
    const now = Date.now();
    const c = this.o.cluster?.();
    const members = c !== undefined && c.members.length > 0 ? c.members : [this.o.worker];
    const { report, totals } = buildReport(this.totals, {
      app: engine.plan.application,
      worker: this.o.worker,
      clusterId: c?.view.clusterId ?? '',
      seq: 0,
      atMs: now,
      periodMs: now - this.lastAt,
      steps: this.table(),
      plan: engine.plan,
      placement: engine.placement,
      routingVersion: c?.view.routingVersion ?? engine.placement.version,
      members,
      owners: c === undefined ? undefined : (c.view.owners ?? []),
      takes,
      events: workerEvents.drain(),
    });
    this.totals = totals;
    this.lastAt = now;
    this.last = report;
    this.o.reporter?.offer(report);
  }
}
