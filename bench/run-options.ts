/**
 * The flags of `roo bench` (run.ts): the parts a run can do, the sizes of a
 * full and a `--quick` run, the `--help` text, parsing, and the one-line
 * description of the flags the report prints.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SEED } from './corpus.js';

/** The parts of a run, in the order they run. */
export const PARTS = ['a', 'b', 'c', 'd', 'latency', 'memory'] as const;
/** One part. */
export type Part = (typeof PARTS)[number];

/** Everything a run needs to know. */
export interface BenchOptions {
  /** Corpus size, MiB. */
  mb: number;
  /** Measured repetitions of (a)..(d), each after one warm-up. */
  reps: number;
  /** Parts to run. */
  only: ReadonlySet<Part>;
  /** Small sizes, for a smoke test. */
  quick: boolean;
  /** Rewrite bench/RESULTS.md. */
  writeResults: boolean;
  /** Corpus seed. */
  seed: number;
  /** Messages/s of the latency part; undefined: half of (d)'s maximum. */
  latencyRate: number | undefined;
  /** Seconds the latency part records (after its warm-up). */
  latencySeconds: number;
  /** Seconds the memory part runs. */
  memorySeconds: number;
}

/** Sizes of a full run. */
export const FULL_DEFAULTS = { mb: 20, reps: 3, latencySeconds: 10, memorySeconds: 20 } as const;
/** Sizes of `--quick`. */
export const QUICK_DEFAULTS = { mb: 2, reps: 1, latencySeconds: 2, memorySeconds: 4 } as const;

/** The usage text of `roo bench`. */
export const BENCH_USAGE = `usage: roo bench [flags]

Runs roo's benchmarks on one generated corpus, each against a baseline
measured in the same run, and prints markdown tables with MET / MISSED
against the targets. Run from the compiled tree (npx tsc -p tsconfig.build.json).

  --mb N               corpus size in MiB (default ${FULL_DEFAULTS.mb}; --quick: ${QUICK_DEFAULTS.mb})
  --reps N             measured repetitions of (a)-(d) after one warm-up (default ${FULL_DEFAULTS.reps}; --quick: ${QUICK_DEFAULTS.reps})
  --only LIST          parts to run, comma separated: ${PARTS.join(',')} (default: all)
                         a        hand-written loop        b  RxJS
                         c        roo engine in process, 1 and 2 threads (runs (a) too, as its baseline)
                         d        roo send → roo worker → receiver, against a hand-written TCP word count
                         latency  p50/p99/p99.99 at half of (d)'s maximum rate
                         memory   worker RSS with a sink 10× slower than the sender
  --quick              small sizes for a smoke test (a few seconds per part)
  --write-results      rewrite bench/RESULTS.md with the figures and the command
  --seed N             corpus seed (default ${DEFAULT_SEED})
  --latency-rate N     messages/s for the latency part (default: half of (d)'s roo rate)
  --latency-seconds N  seconds the latency part records (default ${FULL_DEFAULTS.latencySeconds}; --quick: ${QUICK_DEFAULTS.latencySeconds})
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

/** Parses `roo bench` flags, or 'help'. Throws BenchUsageError. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        mb: { type: 'string' },
        reps: { type: 'string' },
        only: { type: 'string' },
        quick: { type: 'boolean' },
        'write-results': { type: 'boolean' },
        seed: { type: 'string' },
        'latency-rate': { type: 'string' },
        'latency-seconds': { type: 'string' },
        'memory-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new BenchUsageError((err as Error).message.split(/\.\s/)[0] ?? 'bad flags');
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
  return {
    mb: v.mb === undefined ? sizes.mb : positive('mb', v.mb, false),
    reps: v.reps === undefined ? sizes.reps : positive('reps', v.reps, true),
    only,
    quick,
    writeResults: v['write-results'] === true,
    seed,
    latencyRate:
      v['latency-rate'] === undefined
        ? undefined
        : positive('latency-rate', v['latency-rate'], false),
    latencySeconds:
      v['latency-seconds'] === undefined
        ? sizes.latencySeconds
        : positive('latency-seconds', v['latency-seconds'], false),
    memorySeconds:
      v['memory-seconds'] === undefined
        ? sizes.memorySeconds
        : positive('memory-seconds', v['memory-seconds'], false),
  };
}

/** The flags as one line, for the report. */
export function describeOptions(o: BenchOptions): string {
  const parts = PARTS.filter((p) => o.only.has(p)).join(',');
  return (
    `--mb ${o.mb} --reps ${o.reps} --only ${parts}${o.quick ? ' --quick' : ''} --seed ${o.seed} ` +
    `--latency-rate ${o.latencyRate ?? 'auto'} --latency-seconds ${o.latencySeconds} ` +
    `--memory-seconds ${o.memorySeconds}`
  );
}
