/**
 * The targets `roo bench` reports against (never enforces): each judged on a
 * run's results as MET, MISSED or NOT RUN, with what was measured. Every
 * throughput target is judged on steady-state windows of fresh processes
 * (sweep.ts), never on a single process's start-up. The latency targets are
 * judged for roo at each thread count on the medians over its runs, with
 * the hand-written floor's median of the same run beside each figure: a
 * bound below the floor is one no Node server meets on this machine.
 */
import {
  latencyRows,
  subjectName,
  type LatencyFailure,
  type LatencyFigures,
  type LatencyLevel,
  type LatencyRun,
} from './latency-summary.js';
import type { MemoryResult } from './memory.js';
import { formatMicros, formatRate, summarize } from './stats.js';
import { bestRow, rateSummary, summarizeSweep, type ProcessRun, type ThreadRow } from './sweep.js';

/** A target and how the run did against it. */
export interface TargetCheck {
  /** What is aimed for. */
  target: string;
  /** What was measured. */
  measured: string;
  /** MET, MISSED, or NOT RUN. */
  status: 'MET' | 'MISSED' | 'NOT RUN';
}

/** What the targets are judged on: a run's results (run.ts BenchResults) or a part of them. */
export interface TargetInputs {
  /** Every measured process of (a), (c) and (d). */
  runs: readonly ProcessRun[];
  /** Cores of the machine (os.availableParallelism()): the thread sweep judges counts above it. */
  cores: number;
  /** The latency part's runs (at half of (d)'s 2-thread rate and a tenth of it) and failures. */
  latencyRuns: readonly LatencyRun[];
  latencyFailures: readonly LatencyFailure[];
  /** The memory part. */
  memory: MemoryResult | undefined;
}

/** Median of a series of rates; undefined for none. */
export function medianOf(rates: readonly number[] | undefined): number | undefined {
  return rates === undefined || rates.length === 0 ? undefined : summarize(rates).median;
}

/** MB with one decimal. */
export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The memory target's bound on the worker's peak RSS. */
export const MEMORY_PEAK_BYTES = 250 * 1024 * 1024;

const ratio = (v: number): string => `${v.toFixed(3)}x`;
const plural = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;

/** A latency bound: a percentile (its key in LatencyFigures) and its limit, µs. */
interface LatencyBound {
  name: string;
  key: keyof Pick<LatencyFigures, 'p50' | 'p99' | 'p9999'>;
  micros: number;
}

/**
 * The latency targets per rate, judged for roo at each thread count on the
 * medians over runs, next to the hand-written floor's median.
 */
export const LATENCY_BOUNDS: readonly { level: LatencyLevel; percentiles: LatencyBound[] }[] = [
  {
    level: 'half',
    percentiles: [
      { name: 'p50', key: 'p50', micros: 300 },
      { name: 'p99', key: 'p99', micros: 2000 },
      { name: 'p99.99', key: 'p9999', micros: 10_000 },
    ],
  },
  {
    level: 'tenth',
    percentiles: [
      { name: 'p99', key: 'p99', micros: 1000 },
      { name: 'p99.99', key: 'p9999', micros: 5000 },
    ],
  },
];

/** The targets of the brief, judged on `r`. */
export function evaluateTargets(r: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const notRun = (target: string, measured = 'n/a'): void => {
    checks.push({ target, measured, status: 'NOT RUN' });
  };
  const check = (
    target: string,
    value: number | undefined,
    ok: boolean,
    measured: string,
  ): void => {
    if (value === undefined || !Number.isFinite(value)) notRun(target);
    else checks.push({ target, measured, status: ok ? 'MET' : 'MISSED' });
  };
  const c = summarizeSweep(r.runs, 'engine');
  const at = (rows: readonly ThreadRow[], threads: number): ThreadRow | undefined =>
    rows.find((x) => x.threads === threads);
  const c1 = at(c, 1);
  const c2 = at(c, 2);
  const loop = rateSummary(r.runs, 'loop');

  const vsLoop = c1 !== undefined && loop !== undefined ? c1.rate.median / loop.median : undefined;
  check(
    '(c) engine, 1 thread, steady state ≥ 0.6 × (a) hand-written loop',
    vsLoop,
    vsLoop !== undefined && vsLoop >= 0.6,
    vsLoop === undefined
      ? ''
      : `${ratio(vsLoop)} (${formatRate(c1!.rate.median)} / ${formatRate(loop!.median)} words/s, medians)`,
  );
  const twoOne = c2?.vsOne;
  check(
    '(c) engine, 2 threads / 1 thread, median of fresh processes ≥ 1.5x',
    twoOne,
    twoOne !== undefined && twoOne >= 1.5,
    twoOne === undefined
      ? ''
      : `${ratio(twoOne)} (${c2!.processes} and ${c1!.processes} processes)`,
  );
  const worst = c2?.worstVsOne;
  check(
    '(c) engine, 2 threads / 1 thread, worst process ≥ 1.3x',
    worst,
    worst !== undefined && worst >= 1.3,
    worst === undefined
      ? ''
      : `${ratio(worst)} (slowest 2-thread process ${formatRate(c2!.rate.min)} words/s)`,
  );

  const sweepTarget = `(c) thread sweep: every count above the ${r.cores} cores ≥ 0.9 × the best count`;
  const above = c.filter((x) => x.threads > r.cores);
  const best = bestRow(c);
  if (above.length === 0 || best === undefined) {
    notRun(sweepTarget, `no count above ${r.cores} cores ran`);
  } else {
    const low = above.reduce((a, b) => (b.vsBest < a.vsBest ? b : a));
    checks.push({
      target: sweepTarget,
      measured:
        above.map((x) => `${plural(x.threads)} ${ratio(x.vsBest)}`).join(', ') +
        ` of ${plural(best.threads)}`,
      status: low.vsBest >= 0.9 ? 'MET' : 'MISSED',
    });
  }

  const d2 = at(summarizeSweep(r.runs, 'tcp-roo'), 2);
  const hand = rateSummary(r.runs, 'tcp-hand');
  const dRatio = d2 !== undefined && hand !== undefined ? d2.rate.median / hand.median : undefined;
  check(
    '(d) end to end, 2 threads ≥ 0.8 × hand-written TCP word count',
    dRatio,
    dRatio !== undefined && dRatio >= 0.8,
    dRatio === undefined
      ? ''
      : `${ratio(dRatio)} (${formatRate(d2!.rate.median)} / ${formatRate(hand!.median)} words/s, medians)`,
  );

  for (const bound of LATENCY_BOUNDS) {
    const where = bound.level === 'half' ? "half of (d)'s rate" : 'a tenth of the rate';
    const rows = latencyRows(r.latencyRuns, r.latencyFailures, bound.level);
    const floor = rows.find((x) => x.subject.kind === 'floor')?.figures;
    const roo = rows.filter((x) => x.subject.kind === 'roo');
    const target = (who: string, p: LatencyBound): string =>
      `latency at ${where}${who}: ${p.name} ≤ ${p.micros / 1000} ms`;
    if (roo.length === 0) for (const p of bound.percentiles) notRun(target('', p));
    for (const row of roo) {
      for (const p of bound.percentiles) {
        const name = target(`, ${subjectName(row.subject)}`, p);
        if (row.figures === undefined) {
          notRun(name, 'every run failed');
          continue;
        }
        const v = row.figures[p.key].median;
        let floorText = 'floor n/a';
        if (floor !== undefined) {
          const f = floor[p.key].median;
          floorText = `floor ${formatMicros(f)}${f > p.micros ? ', itself above the bound' : ''}`;
        }
        checks.push({
          target: name,
          measured: `${formatMicros(v)} (${floorText})`,
          status: v <= p.micros ? 'MET' : 'MISSED',
        });
      }
    }
  }

  const memoryTarget = `memory with a 10× slower sink: flat, peak < ${MEMORY_PEAK_BYTES / (1024 * 1024)} MB`;
  if (r.memory === undefined) notRun(memoryTarget);
  else {
    const m = r.memory;
    checks.push({
      target: memoryTarget,
      measured: `peak ${mb(m.peakBytes)}; ${m.flat ? 'flat' : 'growing'} (first quarter peak ${mb(m.firstQuarter.peak)}, last ${mb(m.lastQuarter.peak)})`,
      status: m.flat && m.peakBytes < MEMORY_PEAK_BYTES ? 'MET' : 'MISSED',
    });
  }
  return checks;
}
