/** Made-up results of `roo bench` for the report and target tests: no processes, no timing. */
import type { VariantResult } from '../../../bench/baselines.js';
import type { LatencyResult } from '../../../bench/latency.js';
import type { LatencyLevel, LatencyRun, LatencySubject } from '../../../bench/latency-summary.js';
import { parseBenchArgs, type BenchOptions } from '../../../bench/run-options.js';
import type { BenchResults } from '../../../bench/run.js';
import type { ProcessRun, Series } from '../../../bench/sweep.js';

/** Options parsed from `argv` on a 2-core machine. */
export function options(argv: string[]): BenchOptions {
  const parsed = parseBenchArgs(argv, 2);
  if (parsed === 'help') throw new Error('unexpected help');
  return parsed;
}

/** A VariantResult of `rates` (median of an odd count). */
export function variant(name: string, rates: number[]): VariantResult {
  const sorted = [...rates].sort((a, b) => a - b);
  return {
    name,
    rates,
    summary: {
      median: sorted[sorted.length >> 1]!,
      min: sorted[0]!,
      max: sorted[sorted.length - 1]!,
    },
    otherLoad: 0,
  };
}

/** One process of `series` at `threads` with window rate `rate`. */
export function run(series: Series, threads: number, rep: number, rate: number): ProcessRun {
  return {
    series,
    threads,
    rep,
    startSeconds: 0.25 * threads,
    warmupRate: rate * 0.8,
    rate,
    cpuNsPerWord: 150 * threads,
    utilization: series === 'engine' ? Array.from({ length: threads }, () => 0.95) : undefined,
    otherLoad: 0.01,
    profile: undefined,
  };
}

/** Processes of `series` at `threads`, one per rate, reps 1, 2, ... */
export function runs(series: Series, threads: number, rates: number[]): ProcessRun[] {
  return rates.map((rate, i) => run(series, threads, i + 1, rate));
}

const MB = 1024 * 1024;

/** A latency result with the given percentiles (µs). */
export function latency(
  targetRate: number,
  p: { p50: number; p99: number; p9999: number },
): LatencyResult {
  return {
    targetRate,
    sentRate: targetRate,
    receivedRate: targetRate,
    sent: 1000,
    received: 1000,
    senderWaits: 0,
    summary: { count: 900, ...p, max: p.p9999 * 2, mean: p.p50 },
  };
}

/** Runs of `subject` at `level`, one per percentile triple (µs), reps 1, 2, ... */
export function latencyRuns(
  level: LatencyLevel,
  subject: LatencySubject,
  rate: number,
  p50: number[],
  p99: number[],
  p9999: number[],
): LatencyRun[] {
  return p50.map((v, i) => ({
    level,
    subject,
    rep: i + 1,
    result: latency(rate, { p50: v, p99: p99[i]!, p9999: p9999[i]! }),
    otherLoad: 0.02 * (i + 1),
  }));
}

const FLOOR: LatencySubject = { kind: 'floor' };
const ROO1: LatencySubject = { kind: 'roo', threads: 1 };
const ROO2: LatencySubject = { kind: 'roo', threads: 2 };

/**
 * The latency part of fakeResults, 3 runs each. At 150 k msgs/s, medians:
 * floor p50 190 µs, p99 2 ms, p99.99 7 ms; roo 1 thread 240 µs, 1.9 ms,
 * 9 ms; roo 2 threads 450 µs, 5 ms, 12 ms. At 15 k msgs/s: floor p99
 * 900 µs, p99.99 4 ms; 1 thread 990 µs, 4.8 ms; 2 threads 1.3 ms, 6 ms.
 */
export function fakeLatencyRuns(): LatencyRun[] {
  const half = 1.5e5;
  const tenth = 1.5e4;
  return [
    ...latencyRuns('half', FLOOR, half, [200, 180, 190], [1900, 2100, 2000], [6000, 8000, 7000]),
    ...latencyRuns('half', ROO1, half, [250, 220, 240], [1800, 2400, 1900], [9000, 12e3, 8000]),
    ...latencyRuns('half', ROO2, half, [450, 400, 500], [4000, 5000, 5500], [12e3, 15e3, 11e3]),
    ...latencyRuns('tenth', FLOOR, tenth, [150, 150, 150], [800, 900, 1100], [3000, 6000, 4000]),
    ...latencyRuns('tenth', ROO1, tenth, [160, 170, 180], [950, 1000, 990], [4500, 5500, 4800]),
    ...latencyRuns('tenth', ROO2, tenth, [300, 310, 320], [1500, 1200, 1300], [6000, 7000, 5000]),
  ];
}

/**
 * A complete, made-up result: every part ran. (a) 10 M; (c) 1 thread 6 M
 * (one slow process at 4 M), 2 threads 9 M (worst 8.5 M), 4 threads 8.5 M;
 * (d) hand-written 5 M, roo 2 M at 1 thread and 3 M at 2 threads.
 */
export function fakeResults(): BenchResults {
  return {
    options: options(['--threads', '1,2,4']),
    command: 'node bin/roo bench --threads 1,2,4',
    startedAt: '2026-01-01T00:00:00Z',
    machine: '**Machine:** test',
    machineLine: 'Test CPU, 2 cores, Node v20',
    cores: 2,
    code: 'commit abc1234',
    corpus: { bytes: 21e6, lines: 426_571, words: 4_264_002, distinct: 10_000 },
    idleOtherLoad: 0.1,
    loadAverageStart: '0.1 0.1 0.1',
    loadAverageEnd: '0.2 0.2 0.2',
    loads: [
      { part: 'a,c', seconds: 100, ownCpu: 0.01, childCpu: 1.5, otherLoad: 0.05 },
      { part: 'd', seconds: 120, ownCpu: 0.2, childCpu: 1.6, otherLoad: 0.03 },
    ],
    rxLoop: variant('(a) hand-written loop, in this process like (b)', [8e6, 8e6, 8e6]),
    rx: [variant('(b) RxJS one scan', [3e6, 3e6, 3e6])],
    runs: [
      ...runs('loop', 1, [10e6, 9.5e6, 10.5e6]),
      ...runs('engine', 1, [6e6, 4e6, 6.2e6]),
      ...runs('engine', 2, [9e6, 8.5e6, 9.2e6]),
      ...runs('engine', 4, [8.5e6, 8.6e6, 8.4e6]),
      ...runs('tcp-hand', 1, [5e6, 5e6, 5e6]),
      ...runs('tcp-roo', 1, [2e6, 2e6, 2e6]),
      ...runs('tcp-roo', 2, [3e6, 3.1e6, 2.9e6]),
    ],
    processFailures: [],
    rateSource: "half of (d)'s 2-thread 3 M words/s",
    latencyRateSource: undefined,
    latencyRuns: fakeLatencyRuns(),
    latencyFailures: [],
    memory: {
      senderRate: 1.5e6,
      receiverRate: 1.5e5,
      seconds: 20,
      idleBytes: 150 * MB,
      samples: [0, 500, 1000, 1500, 19_900].map((ms) => ({ ms, bytes: 200 * MB })),
      peakBytes: 200 * MB,
      firstQuarter: { mean: 200 * MB, peak: 200 * MB },
      lastQuarter: { mean: 200 * MB, peak: 200 * MB },
      flat: true,
      linesSent: 100,
      linesPlanned: 1000,
      outputsRead: 1000,
    },
    failures: [],
    seconds: 300,
  };
}
