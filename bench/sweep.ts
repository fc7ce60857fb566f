/**
 * The figures of the throughput parts' processes, and their summary by
 * thread count: what a user reads to choose `--ponythreads`. Parts (a) and
 * (c) (steady-series.ts) and (d) (engine-tcp.ts) produce one ProcessRun per
 * fresh process; the report and the targets read the summaries. Pure.
 */
import type { ProfileInfo } from './profiles.js';
import { median, summarize, type Summary } from './stats.js';

/**
 * Which series a process belongs to: the hand-written loop of (a), the
 * engine in process of (c), or in (d) the roo worker or the hand-written TCP
 * word count.
 */
export type Series = 'loop' | 'engine' | 'tcp-roo' | 'tcp-hand';

/** What one fresh process measured over its window. */
export interface ProcessRun {
  /** Its series. */
  series: Series;
  /** Scheduler threads (1 for the hand-written ones). */
  threads: number;
  /** Which repetition (1-based). */
  rep: number;
  /** Seconds from start until ready (engine started, or the worker's source listening). */
  startSeconds: number;
  /** Words/s over the warm-up. */
  warmupRate: number;
  /** Words/s over the window: the figure. */
  rate: number;
  /** CPU per word in the window, ns: the whole engine process ((c)) or the worker process ((d)). */
  cpuNsPerWord: number | undefined;
  /** Per scheduler thread, the share of the window it was busy ((c) only). */
  utilization: number[] | undefined;
  /** Cores kept busy in the window by processes other than the bench's. */
  otherLoad: number;
  /** Its CPU profiles, under `--profile`. */
  profile: ProfileInfo | undefined;
}

/** A process that gave no figures, and why. */
export interface ProcessFailure {
  series: Series;
  threads: number;
  rep: number;
  message: string;
}

/** One thread count of a series, over its processes. */
export interface ThreadRow {
  /** Scheduler threads. */
  threads: number;
  /** Processes that gave figures. */
  processes: number;
  /** Processes that failed. */
  failed: number;
  /** Words/s: median, min (the worst process), max. */
  rate: Summary;
  /** Start-up seconds. */
  start: Summary;
  /** Median over 1 thread's median; undefined without a 1-thread row. */
  vsOne: number | undefined;
  /** The worst process over 1 thread's median. */
  worstVsOne: number | undefined;
  /** Median over the best count's median. */
  vsBest: number;
  /** Median CPU ns per word. */
  cpuNsPerWord: number | undefined;
  /** Per thread index, the median utilization. */
  utilization: number[] | undefined;
  /** Median other load. */
  otherLoad: number;
}

/** Median of the defined values, or undefined if none. */
function medianDefined(values: readonly (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : median(defined);
}

/** The runs of `series`. */
export function runsOf(runs: readonly ProcessRun[], series: Series): ProcessRun[] {
  return runs.filter((r) => r.series === series);
}

/** Words/s of `series`' processes (any thread count): median, min, max; undefined if none. */
export function rateSummary(runs: readonly ProcessRun[], series: Series): Summary | undefined {
  const rates = runsOf(runs, series).map((r) => r.rate);
  return rates.length === 0 ? undefined : summarize(rates);
}

/**
 * `series` by thread count, ascending: per count the processes' rates and
 * start-up times, and the ratios to 1 thread and to the best count (the
 * count with the highest median). Counts where every process failed are
 * left out (their failures are reported apart).
 */
export function summarizeSweep(
  runs: readonly ProcessRun[],
  series: Series,
  failures: readonly ProcessFailure[] = [],
): ThreadRow[] {
  const mine = runsOf(runs, series);
  const counts = [...new Set(mine.map((r) => r.threads))].sort((a, b) => a - b);
  const base = counts.map((threads) => {
    const at = mine.filter((r) => r.threads === threads);
    const width = Math.max(0, ...at.map((r) => r.utilization?.length ?? 0));
    return {
      threads,
      processes: at.length,
      failed: failures.filter((f) => f.series === series && f.threads === threads).length,
      rate: summarize(at.map((r) => r.rate)),
      start: summarize(at.map((r) => r.startSeconds)),
      cpuNsPerWord: medianDefined(at.map((r) => r.cpuNsPerWord)),
      utilization:
        width === 0
          ? undefined
          : Array.from({ length: width }, (_, i) =>
              medianDefined(at.map((r) => r.utilization?.[i])),
            ).map((u) => u ?? 0),
      otherLoad: median(at.map((r) => r.otherLoad)),
    };
  });
  const one = base.find((r) => r.threads === 1)?.rate.median;
  const best = Math.max(...base.map((r) => r.rate.median));
  return base.map((r) => ({
    ...r,
    vsOne: one === undefined || one === 0 ? undefined : r.rate.median / one,
    worstVsOne: one === undefined || one === 0 ? undefined : r.rate.min / one,
    vsBest: best > 0 ? r.rate.median / best : 0,
  }));
}

/** The row with the highest median rate, or undefined for none. */
export function bestRow(rows: readonly ThreadRow[]): ThreadRow | undefined {
  let best: ThreadRow | undefined;
  for (const r of rows) if (best === undefined || r.rate.median > best.rate.median) best = r;
  return best;
}
