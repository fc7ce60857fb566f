/**
 * The runs of the latency part at one rate: the hand-written one-thread
 * server (bench/baseline-latency.ts, the floor this machine puts under any
 * Node server) and roo at each thread count, each in fresh processes behind
 * the same sender and receiver (latency.ts), `reps` times, interleaved
 * (floor, roo 1 thread, roo 2 threads, floor, ...) so that a burst of load
 * from the rest of a shared machine falls on every subject alike.
 *
 * A run that fails (a process dies, outputs go missing) is recorded and the
 * others go on. In trace mode each roo run records traces in its own
 * directory under `traceDir` (the caller removes it); the floor is never
 * traced.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BenchChild, BenchFailure, LOCAL_HOST, rootDir } from './bench-child.js';
import { runLatency } from './latency.js';
import {
  subjectName,
  type LatencyFailure,
  type LatencyLevel,
  type LatencyRun,
  type LatencySubject,
} from './latency-summary.js';
import { PartProbe } from './run-load.js';
import { formatMicros } from './stats.js';

/** What to measure at one rate. */
export interface LatencySeriesOptions {
  /** Corpus lines the words are drawn from. */
  lines: readonly string[];
  /** Which of the two rates this is. */
  level: LatencyLevel;
  /** Messages per second. */
  rate: number;
  /** Seconds sent but not recorded first, and seconds recorded, per run. */
  warmupSeconds: number;
  seconds: number;
  /** roo's scheduler thread counts. */
  threads: readonly number[];
  /** Runs per subject. */
  reps: number;
  /** Trace mode: where the roo runs record their traces; undefined: no tracing. */
  traceDir: string | undefined;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The runs of the latency part, filled as they end so that a failure keeps what was measured. */
export interface LatencySeriesResult {
  runs: LatencyRun[];
  failures: LatencyFailure[];
}

/**
 * Starts the hand-written floor writing to `out`; resolves with it and the
 * address it listens on.
 */
export async function startFloor(out: string): Promise<{ children: BenchChild[]; source: string }> {
  const floor = BenchChild.start(
    'hand-written latency server',
    join(rootDir(), 'dist', 'bench', 'baseline-latency.js'),
    ['--listen', `${LOCAL_HOST}:0`, '--out', out],
  );
  try {
    const [, source] = await floor.waitForLine(/^Listening on (\S+)/, 'where it listens');
    return { children: [floor], source: source as string };
  } catch (err) {
    await floor.stop();
    throw err;
  }
}

/** The subjects of a series, in the order each rep runs them. */
export function latencySubjects(threads: readonly number[]): LatencySubject[] {
  return [{ kind: 'floor' }, ...threads.map((n): LatencySubject => ({ kind: 'roo', threads: n }))];
}

/** Runs the series; see the module comment. Appends to `into` and returns it. */
export async function runLatencySeries(
  o: LatencySeriesOptions,
  into: LatencySeriesResult = { runs: [], failures: [] },
): Promise<LatencySeriesResult> {
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const subject of latencySubjects(o.threads)) {
      const label = `${o.level} rate, ${subjectName(subject)}, run ${rep}`;
      let traceDir: string | undefined;
      if (o.traceDir !== undefined && subject.kind === 'roo') {
        traceDir = join(o.traceDir, `${o.level}-${subject.threads}t-${rep}`);
        mkdirSync(traceDir, { recursive: true });
      }
      o.log(`  ${label}`);
      // Every child has exited (and is counted as this bench's) by the time runLatency returns.
      const probe = new PartProbe(label);
      try {
        const result = await runLatency({
          lines: o.lines,
          rate: o.rate,
          warmupSeconds: o.warmupSeconds,
          seconds: o.seconds,
          threads: subject.kind === 'roo' ? subject.threads : 1,
          log: o.log,
          ...(subject.kind === 'floor' ? { start: startFloor } : {}),
          ...(traceDir === undefined ? {} : { traceDir }),
        });
        const otherLoad = probe.stop().otherLoad;
        const s = result.summary;
        o.log(
          `  ${label}: p50 ${formatMicros(s.p50)}, p99 ${formatMicros(s.p99)}, ` +
            `p99.99 ${formatMicros(s.p9999)}, max ${formatMicros(s.max)}`,
        );
        into.runs.push({ level: o.level, subject, rep, result, otherLoad });
      } catch (err) {
        probe.stop();
        if (!(err instanceof BenchFailure)) throw err;
        o.log(`  ${label} failed: ${err.message.split('\n')[0] ?? ''}`);
        into.failures.push({
          level: o.level,
          subject,
          rep,
          message: `${label} failed: ${err.message}`,
        });
      }
    }
  }
  return into;
}
