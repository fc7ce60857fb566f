/**
 * The flags of `roo bench` (run.ts): the parts a run can do, the sizes of a
 * full and a `--quick` run, the `--help` text, parsing, the one-line
 * description of the flags the report prints, and the command that
 * reproduces one table.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { flagError } from '../runtime/cli/flags.js';
import { DEFAULT_SEED } from './corpus.js';

/** The parts of a run, in the order they run. */
export const PARTS = ['a', 'b', 'c', 'd', 'latency', 'memory'] as const;
/** One part. */
export type Part = (typeof PARTS)[number];

/** Everything a run needs to know. */
export interface BenchOptions {
  /** Corpus size, MiB. */
  mb: number;
  /** Fresh processes per thread count in (a), (c) and (d); measured runs of (b) after one warm-up. */
  reps: number;
  /** Parts to run. */
  only: ReadonlySet<Part>;
  /** Small sizes, for a smoke test. */
  quick: boolean;
  /** Rewrite bench/RESULTS.md. */
  writeResults: boolean;
  /** Corpus seed. */
  seed: number;
  /** Scheduler thread counts of (c) and (d), ascending, no duplicates. */
  threads: readonly number[];
  /** Seconds each process of (a), (c) and (d) runs before its window. */
  warmupSeconds: number;
  /** Seconds of the measured window of each process of (a), (c) and (d). */
  seconds: number;
  /** Where the processes of (a), (c) and (d) write CPU profiles (absolute); undefined: none. */
  profile: string | undefined;
  /** Messages/s of the latency part; undefined: half of (d)'s maximum. */
  latencyRate: number | undefined;
  /** Seconds each run of the latency part records at half the rate (after its warm-up); half that at a tenth. */
  latencySeconds: number;
  /** Scheduler thread counts roo runs at in the latency part, ascending, no duplicates. */
  latencyThreads: readonly number[];
  /** Fresh processes per (subject, rate) of the latency part, interleaved. */
  latencyReps: number;
  /** The latency part's roo runs record traces, and the report says what delayed the slowest messages. */
  trace: boolean;
  /** Seconds the memory part runs. */
  memorySeconds: number;
}

/** Sizes of a full run. */
export const FULL_DEFAULTS = {
  mb: 20,
  reps: 3,
  warmupSeconds: 3,
  seconds: 6,
  latencySeconds: 6,
  latencyReps: 3,
  memorySeconds: 20,
} as const;
/** Sizes of `--quick`. */
export const QUICK_DEFAULTS = {
  mb: 2,
  reps: 1,
  warmupSeconds: 1,
  seconds: 1,
  latencySeconds: 2,
  latencyReps: 1,
  memorySeconds: 4,
} as const;
/** The default thread counts of the latency part. */
export const DEFAULT_LATENCY_THREADS = [1, 2] as const;

/** The default thread counts: 1, 2 and every core, without duplicates, ascending. */
export function defaultThreads(cores: number): number[] {
  return [...new Set([1, 2, cores])].sort((a, b) => a - b);
}

/** The usage text of `roo bench`. */
export const BENCH_USAGE = `usage: roo bench [flags]

Runs roo's benchmarks on one generated corpus, each against a baseline
measured in the same run, and prints markdown tables with MET / MISSED
against the targets. Throughput is measured in fresh processes, each in a
window after a warm-up. Run from the compiled tree (npx tsc -p tsconfig.build.json).

  --mb N               corpus size in MiB (default ${FULL_DEFAULTS.mb}; --quick: ${QUICK_DEFAULTS.mb})
  --reps N             fresh processes per thread count in (a), (c), (d); measured runs of (b)
                       (default ${FULL_DEFAULTS.reps}; --quick: ${QUICK_DEFAULTS.reps})
  --threads LIST       scheduler thread counts of (c) and (d), comma separated
                       (default: 1, 2 and the available cores)
  --warmup-seconds N   seconds each process runs before its window (default ${FULL_DEFAULTS.warmupSeconds}; --quick: ${QUICK_DEFAULTS.warmupSeconds})
  --seconds N          seconds of each process's measured window (default ${FULL_DEFAULTS.seconds}; --quick: ${QUICK_DEFAULTS.seconds})
  --profile DIR        the processes of (a), (c), (d) write .cpuprofile files (one per thread)
                       under DIR/<part>-<threads>t-<rep>
  --only LIST          parts to run, comma separated: ${PARTS.join(',')} (default: all)
                         a        hand-written loop, steady state in fresh processes
                         b        RxJS, against the loop in this process
                         c        roo engine in process, by thread count (runs (a) too, as its baseline)
                         d        roo send → roo worker → receiver by thread count, against a
                                  hand-written TCP word count
                         latency  p50/p99/p99.99 at half and a tenth of (d)'s 2-thread rate, roo
                                  by thread count against a hand-written one-thread server
                         memory   worker RSS with a sink 10× slower than the sender
  --quick              small sizes for a smoke test (a few seconds per part)
  --write-results      rewrite bench/RESULTS.md with the figures and the command
  --seed N             corpus seed (default ${DEFAULT_SEED})
  --latency-rate N     messages/s for the latency part (default: half of (d)'s 2-thread frame rate;
                       a second rate, a tenth of it, is measured too)
  --latency-seconds N  seconds each latency run records at that rate, half as long at the tenth
                       (default ${FULL_DEFAULTS.latencySeconds}; --quick: ${QUICK_DEFAULTS.latencySeconds})
  --latency-threads LIST
                       roo's scheduler thread counts in the latency part, comma separated
                       (default ${DEFAULT_LATENCY_THREADS.join(',')})
  --latency-reps N     fresh processes per subject (the hand-written floor, roo at each count)
                       and rate, interleaved; medians reported (default ${FULL_DEFAULTS.latencyReps}; --quick: ${QUICK_DEFAULTS.latencyReps})
  --trace              the latency part's roo runs record traces, and the report says what
                       delayed the messages above p99 at the higher rate (costs a little)
  --memory-seconds N   seconds the memory part runs (default ${FULL_DEFAULTS.memorySeconds}; --quick: ${QUICK_DEFAULTS.memorySeconds})
  -h, --help           this text

Exit code: 0 when every part ran (whatever the targets), 1 when a part
failed, 2 for a bad command line.
`;

/** A bad command line. */
export class BenchUsageError extends Error {}

/** `text` as a positive number (an integer if `integer`); throws BenchUsageError. */
function positive(flag: string, text: string, integer: boolean): number {
  const value = Number(text.replaceAll('_', ''));
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new BenchUsageError(
      `--${flag}: expected a positive ${integer ? 'integer' : 'number'}, got '${text}'`,
    );
  }
  return value;
}

/** The most threads a count may ask for (the engine's own bound). */
const MAX_THREADS = 256;

/** `--threads LIST` (or the list of `flag`) as ascending distinct counts; throws BenchUsageError. */
export function parseThreads(text: string, flag = 'threads'): number[] {
  const counts = text.split(',').map((s) => {
    const n = positive(flag, s.trim(), true);
    if (n > MAX_THREADS) {
      throw new BenchUsageError(`--${flag}: at most ${MAX_THREADS} threads, got '${s.trim()}'`);
    }
    return n;
  });
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** The flags of `roo bench`, for parsing and for the nearest-name hint. */
const BENCH_FLAGS = {
  mb: { type: 'string' },
  reps: { type: 'string' },
  only: { type: 'string' },
  quick: { type: 'boolean' },
  'write-results': { type: 'boolean' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  'warmup-seconds': { type: 'string' },
  seconds: { type: 'string' },
  profile: { type: 'string' },
  'latency-rate': { type: 'string' },
  'latency-seconds': { type: 'string' },
  'latency-threads': { type: 'string' },
  'latency-reps': { type: 'string' },
  trace: { type: 'boolean' },
  'memory-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Parses `roo bench` flags, or 'help'. `cores` gives the default thread
 * counts (a parameter so that tests do not depend on the machine). Throws
 * BenchUsageError.
 */
export function parseBenchArgs(
  argv: readonly string[],
  cores: number = availableParallelism(),
): BenchOptions | 'help' {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: BENCH_FLAGS,
    }));
  } catch (err) {
    throw new BenchUsageError(flagError(err, BENCH_FLAGS).message);
  }
  if (v.help === true) return 'help';
  const quick = v.quick === true;
  const sizes = quick ? QUICK_DEFAULTS : FULL_DEFAULTS;
  let only: Set<Part> = new Set(PARTS);
  if (v.only !== undefined) {
    only = new Set();
    for (const name of v.only.split(',').map((s) => s.trim())) {
      if (!(PARTS as readonly string[]).includes(name)) {
        throw new BenchUsageError(`--only: unknown part '${name}' (parts: ${PARTS.join(', ')})`);
      }
      only.add(name as Part);
    }
  }
  let seed = DEFAULT_SEED;
  if (v.seed !== undefined) {
    seed = Number(v.seed);
    if (!Number.isSafeInteger(seed)) throw new BenchUsageError(`--seed: expected an integer`);
  }
  if (v.profile === '') throw new BenchUsageError('--profile: expected a directory');
  const number = (flag: keyof typeof v & string, fallback: number, integer = false): number => {
    const text = v[flag];
    return typeof text === 'string' ? positive(flag, text, integer) : fallback;
  };
  return {
    mb: number('mb', sizes.mb),
    reps: number('reps', sizes.reps, true),
    only,
    quick,
    writeResults: v['write-results'] === true,
    seed,
    threads: v.threads === undefined ? defaultThreads(cores) : parseThreads(v.threads),
    warmupSeconds: number('warmup-seconds', sizes.warmupSeconds),
    seconds: number('seconds', sizes.seconds),
    profile: v.profile === undefined ? undefined : resolve(v.profile),
    latencyRate: v['latency-rate'] === undefined ? undefined : number('latency-rate', 0),
    latencySeconds: number('latency-seconds', sizes.latencySeconds),
    latencyThreads:
      v['latency-threads'] === undefined
        ? [...DEFAULT_LATENCY_THREADS]
        : parseThreads(v['latency-threads'], 'latency-threads'),
    latencyReps: number('latency-reps', sizes.latencyReps, true),
    trace: v.trace === true,
    memorySeconds: number('memory-seconds', sizes.memorySeconds),
  };
}

/** The flags as one line, for the report. */
export function describeOptions(o: BenchOptions): string {
  const parts = PARTS.filter((p) => o.only.has(p)).join(',');
  return (
    `--mb ${o.mb} --reps ${o.reps} --only ${parts}${o.quick ? ' --quick' : ''} --seed ${o.seed} ` +
    `--threads ${o.threads.join(',')} --warmup-seconds ${o.warmupSeconds} --seconds ${o.seconds} ` +
    `${o.profile === undefined ? '' : `--profile ${o.profile} `}` +
    `--latency-rate ${o.latencyRate ?? 'auto'} --latency-seconds ${o.latencySeconds} ` +
    `--latency-threads ${o.latencyThreads.join(',')} --latency-reps ${o.latencyReps}` +
    `${o.trace ? ' --trace' : ''} --memory-seconds ${o.memorySeconds}`
  );
}

/**
 * The command that measures `parts` again with this run's sizes: printed
 * under each throughput table, so one table can be re-run alone.
 */
export function reproduceCommand(o: BenchOptions, parts: readonly Part[]): string {
  return [
    'node bin/roo bench',
    `--only ${parts.join(',')}`,
    `--mb ${o.mb} --seed ${o.seed}`,
    `--threads ${o.threads.join(',')} --reps ${o.reps}`,
    `--warmup-seconds ${o.warmupSeconds} --seconds ${o.seconds}`,
  ].join(' ');
}

/**
 * The command that measures the latency part again at `rate` (messages/s,
 * the higher of its two rates) with this run's sizes.
 */
export function latencyReproduceCommand(o: BenchOptions, rate: number): string {
  return [
    'node bin/roo bench --only latency',
    `--mb ${o.mb} --seed ${o.seed}`,
    `--latency-rate ${Math.round(rate)} --latency-seconds ${o.latencySeconds}`,
    `--latency-threads ${o.latencyThreads.join(',')} --latency-reps ${o.latencyReps}`,
    ...(o.trace ? ['--trace'] : []),
    ...(o.quick ? ['--quick'] : []),
  ].join(' ');
}
