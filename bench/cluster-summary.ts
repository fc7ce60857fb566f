/**
 * The figures of the cluster benchmark's fresh clusters, and their summary
 * by cluster size: words/s and its ratio to one worker, the messages that
 * crossed between workers, and who kept the cores busy (the whole machine,
 * the workers alone), so that a reader sees when the machine, not the
 * cluster, is the limit. cluster-run.ts produces the runs; cluster-report.ts
 * renders the rows. Pure.
 */
import type { LatencySummary } from './stats.js';
import { median, summarize, type Summary } from './stats.js';

/** What one fresh cluster measured over its window. */
export interface ClusterRun {
  /** Workers in the cluster. */
  readonly workers: number;
  /** Which repetition (1-based). */
  readonly rep: number;
  /** Seconds from the first spawn until every worker logged that it is ready. */
  readonly startSeconds: number;
  /** Words/s over the warm-up (from the sender's spawn). */
  readonly warmupRate: number;
  /** Words/s reaching the receiver in the window: the figure. */
  readonly rate: number;
  /** Messages the workers sent to other workers, per second of the window. */
  readonly crossingRate: number;
  /** Cores the whole machine kept busy in the window (every process, the kernel). */
  readonly machineCores: number;
  /** Per worker (the initializer first), the cores its process kept busy in the window. */
  readonly workerCores: readonly number[];
  /** Cores `roo send` kept busy. */
  readonly senderCores: number;
  /** Cores the bench process (the receiver) kept busy. */
  readonly receiverCores: number;
  /** Cores kept busy by everything else: other users of a shared machine. */
  readonly otherLoad: number;
  /** The workers' CPU per word of output, ns; undefined when a worker's CPU could not be read. */
  readonly cpuNsPerWord: number | undefined;
}

/** A cluster that gave no figures, and why. */
export interface ClusterFailure {
  /** Workers in the cluster ('latency' runs too). */
  readonly workers: number;
  /** Which repetition (1-based); 1 for the latency runs. */
  readonly rep: number;
  /** Which table it belonged to. */
  readonly table: 'throughput' | 'latency';
  /** What went wrong, with the failed process's last lines. */
  readonly message: string;
}

/** One cluster size, over its fresh clusters. */
export interface ClusterRow {
  /** Workers in the cluster. */
  readonly workers: number;
  /** Clusters that gave figures. */
  readonly clusters: number;
  /** Clusters that failed. */
  readonly failed: number;
  /** Words/s: median, min (the worst cluster), max. */
  readonly rate: Summary;
  /** Median over 1 worker's median; undefined without a 1-worker row. */
  readonly vsOne: number | undefined;
  /** The worst cluster over 1 worker's median. */
  readonly worstVsOne: number | undefined;
  /** Start-up seconds. */
  readonly start: Summary;
  /** Median messages/s between workers. */
  readonly crossingRate: number;
  /** Median of the outputs' share that crossed: messages between workers per word out. */
  readonly crossingPerWord: number;
  /** Median cores the whole machine kept busy. */
  readonly machineCores: number;
  /** Median cores the workers kept busy, all together. */
  readonly workerCores: number;
  /** Per worker, the median of its cores. */
  readonly perWorkerCores: readonly number[];
  /** Median workers' CPU ns per word. */
  readonly cpuNsPerWord: number | undefined;
  /** Median other load. */
  readonly otherLoad: number;
}

/** "1 worker", "2 workers". */
export function workersText(n: number): string {
  return `${n} worker${n === 1 ? '' : 's'}`;
}

/** Median of the defined values, or undefined if none. */
function medianDefined(values: readonly (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : median(defined);
}

/** The sum of `values`. */
function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * The runs by cluster size, ascending, with the ratios to 1 worker's median.
 * Sizes whose every cluster failed are left out (their failures are listed
 * apart; see {@link failedSizes}).
 */
export function summarizeClusters(
  runs: readonly ClusterRun[],
  failures: readonly ClusterFailure[] = [],
): ClusterRow[] {
  const sizes = [...new Set(runs.map((r) => r.workers))].sort((a, b) => a - b);
  const rows = sizes.map((workers) => {
    const at = runs.filter((r) => r.workers === workers);
    return {
      workers,
      clusters: at.length,
      failed: failures.filter((f) => f.table === 'throughput' && f.workers === workers).length,
      rate: summarize(at.map((r) => r.rate)),
      start: summarize(at.map((r) => r.startSeconds)),
      crossingRate: median(at.map((r) => r.crossingRate)),
      crossingPerWord: median(at.map((r) => (r.rate > 0 ? r.crossingRate / r.rate : 0))),
      machineCores: median(at.map((r) => r.machineCores)),
      workerCores: median(at.map((r) => sum(r.workerCores))),
      perWorkerCores: Array.from({ length: workers }, (_, i) =>
        median(at.map((r) => r.workerCores[i] ?? 0)),
      ),
      cpuNsPerWord: medianDefined(at.map((r) => r.cpuNsPerWord)),
      otherLoad: median(at.map((r) => r.otherLoad)),
    };
  });
  const one = rows.find((r) => r.workers === 1)?.rate.median;
  return rows.map((r) => ({
    ...r,
    vsOne: one === undefined || one === 0 ? undefined : r.rate.median / one,
    worstVsOne: one === undefined || one === 0 ? undefined : r.rate.min / one,
  }));
}

/** Sizes of the throughput table whose every cluster failed, ascending. */
export function failedSizes(
  runs: readonly ClusterRun[],
  failures: readonly ClusterFailure[],
): number[] {
  const measured = new Set(runs.map((r) => r.workers));
  const failed = failures.filter((f) => f.table === 'throughput').map((f) => f.workers);
  return [...new Set(failed)].filter((w) => !measured.has(w)).sort((a, b) => a - b);
}

/** Share of the cores above which the machine, not the cluster, sets the rate. */
export const MACHINE_BOUND_SHARE = 0.9;

/** True when the machine kept nearly every core busy: the rate is the machine's limit. */
export function machineBound(row: Pick<ClusterRow, 'machineCores'>, cores: number): boolean {
  return row.machineCores >= MACHINE_BOUND_SHARE * cores;
}

/** One latency run of the cluster benchmark: a size, and its percentiles or its failure. */
export interface ClusterLatency {
  /** Workers in the cluster. */
  readonly workers: number;
  /** Percentiles in µs; undefined when the run failed (its failure is listed). */
  readonly summary: LatencySummary | undefined;
  /** Messages/s actually sent. */
  readonly sentRate: number | undefined;
}
