/**
 * The runs of the latency part and their summary: per rate (half of (d)'s
 * 2-thread rate, and a tenth of it) and per subject (the hand-written
 * one-thread server, the floor; roo at each thread count), the median and
 * min..max of each percentile over fresh processes, and each of roo's
 * medians as a ratio to the floor's. Pure: latency-series.ts gathers the
 * runs, report-latency.ts and targets.ts read the summary.
 */
import type { LatencyResult } from './latency.js';
import type { TailBreakdown } from './latency-trace.js';
import { summarize, type Summary } from './stats.js';

/** The two rates of the latency part. */
export const LATENCY_LEVELS = ['half', 'tenth'] as const;
/** Half of (d)'s 2-thread rate (or --latency-rate), or a tenth of that. */
export type LatencyLevel = (typeof LATENCY_LEVELS)[number];

/** What a latency run measures: the hand-written floor, or roo at a thread count. */
export type LatencySubject = { kind: 'floor' } | { kind: 'roo'; threads: number };

/** One fresh process (or set of them) measured at one rate. */
export interface LatencyRun {
  level: LatencyLevel;
  subject: LatencySubject;
  /** 1, 2, ... in the order the runs of this subject and rate ran. */
  rep: number;
  result: LatencyResult;
  /** Cores that processes other than the bench and its children kept busy during the run. */
  otherLoad: number;
}

/** A run that gave no figures, and why. */
export interface LatencyFailure {
  level: LatencyLevel;
  subject: LatencySubject;
  rep: number;
  message: string;
}

/** The figures of a subject at one rate, over its runs. */
export interface LatencyFigures {
  /** Percentiles over the runs, µs. */
  p50: Summary;
  p99: Summary;
  p9999: Summary;
  max: Summary;
  /** Messages/s asked for, sent, and received while sending. */
  targetRate: number;
  sentRate: Summary;
  receivedRate: Summary;
  /** Times the sender found its socket full, per run in run order. */
  senderWaits: number[];
  /** Other load per run. */
  otherLoad: Summary;
}

/** A subject's row at one rate. */
export interface LatencyRow {
  subject: LatencySubject;
  /** Runs that gave figures, and runs that failed. */
  runs: number;
  failed: number;
  /** Undefined when every run failed. */
  figures: LatencyFigures | undefined;
  /** roo's medians / the floor's medians (p50, p99, p99.99); undefined for the floor, or without one. */
  vsFloor: { p50: number; p99: number; p9999: number } | undefined;
  /** Trace mode: the breakdown of the first run that has one, and that run's rep. */
  tail: { rep: number; breakdown: TailBreakdown } | undefined;
}

/** How a subject is named in tables, targets and progress lines. */
export function subjectName(s: LatencySubject): string {
  return s.kind === 'floor'
    ? 'hand-written floor'
    : `roo, ${s.threads} thread${s.threads === 1 ? '' : 's'}`;
}

/** Whether two subjects are the same. */
export function sameSubject(a: LatencySubject, b: LatencySubject): boolean {
  return a.kind === 'floor' ? b.kind === 'floor' : b.kind === 'roo' && a.threads === b.threads;
}

/** The floor first, then roo by thread count. */
function order(s: LatencySubject): number {
  return s.kind === 'floor' ? 0 : s.threads;
}

/** The figures of `runs` (at least one). */
function figuresOf(runs: readonly LatencyRun[]): LatencyFigures {
  const of = (f: (r: LatencyRun) => number): Summary => summarize(runs.map(f));
  return {
    p50: of((r) => r.result.summary.p50),
    p99: of((r) => r.result.summary.p99),
    p9999: of((r) => r.result.summary.p9999),
    max: of((r) => r.result.summary.max),
    targetRate: (runs[0] as LatencyRun).result.targetRate,
    sentRate: of((r) => r.result.sentRate),
    receivedRate: of((r) => r.result.receivedRate),
    senderWaits: runs.map((r) => r.result.senderWaits),
    otherLoad: of((r) => r.otherLoad),
  };
}

/**
 * One row per subject that ran at `level` (the floor first, then roo by
 * thread count), including subjects whose every run failed.
 */
export function latencyRows(
  runs: readonly LatencyRun[],
  failures: readonly LatencyFailure[],
  level: LatencyLevel,
): LatencyRow[] {
  const subjects: LatencySubject[] = [];
  for (const x of [...runs, ...failures]) {
    if (x.level === level && !subjects.some((s) => sameSubject(s, x.subject))) {
      subjects.push(x.subject);
    }
  }
  subjects.sort((a, b) => order(a) - order(b));
  const rows = subjects.map((subject): LatencyRow => {
    const mine = runs
      .filter((r) => r.level === level && sameSubject(r.subject, subject))
      .sort((a, b) => a.rep - b.rep);
    const traced = mine.find((r) => r.result.tail !== undefined);
    return {
      subject,
      runs: mine.length,
      failed: failures.filter((f) => f.level === level && sameSubject(f.subject, subject)).length,
      figures: mine.length === 0 ? undefined : figuresOf(mine),
      vsFloor: undefined,
      tail:
        traced?.result.tail === undefined
          ? undefined
          : { rep: traced.rep, breakdown: traced.result.tail },
    };
  });
  const floor = rows.find((r) => r.subject.kind === 'floor')?.figures;
  if (floor !== undefined) {
    for (const row of rows) {
      const f = row.figures;
      if (row.subject.kind === 'roo' && f !== undefined) {
        row.vsFloor = {
          p50: f.p50.median / floor.p50.median,
          p99: f.p99.median / floor.p99.median,
          p9999: f.p9999.median / floor.p9999.median,
        };
      }
    }
  }
  return rows;
}
