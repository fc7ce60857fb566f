/**
 * The flags of the cluster benchmark (bench/cluster.ts): their defaults, the
 * usage text, the parser, the one-line description the report prints and
 * the command that measures a table again. Pure. A bad command line is a
 * BenchUsageError, which the entry prints as one line (exit 2).
 */
import { parseArgs } from 'node:util';
import { BenchUsageError } from './run-options.js';

/** The tables a run can measure, in the order they run. */
export const CLUSTER_PARTS = ['throughput', 'latency'] as const;
/** One table. */
export type ClusterPart = (typeof CLUSTER_PARTS)[number];

/** What a run of the cluster benchmark measures. */
export interface ClusterOptions {
  /** Corpus size, MiB. */
  readonly mb: number;
  /** Cluster sizes (workers), ascending, no duplicates. */
  readonly workers: readonly number[];
  /** Fresh clusters per size, interleaved (1w, 2w, 1w, 2w, ...). */
  readonly reps: number;
  /** Seconds from the sender's start to each window. */
  readonly warmupSeconds: number;
  /** Seconds of each measured window. */
  readonly seconds: number;
  /** Messages/s of the latency table. */
  readonly latencyRate: number;
  /** Seconds each latency run records (after its warm-up of LATENCY_WARMUP_SECONDS). */
  readonly latencySeconds: number;
  /** The tables to measure. */
  readonly only: ReadonlySet<ClusterPart>;
  /** Put the report in bench/RESULTS.md, between the cluster markers. */
  readonly writeResults: boolean;
}

/** Seconds each latency run sends before it records. */
export const LATENCY_WARMUP_SECONDS = 2;
/** The largest cluster a run may ask for: every worker is three processes' worth of threads. */
export const MAX_WORKERS = 16;

/** The default of every flag that takes a value, as it is typed on the command line. */
export const CLUSTER_DEFAULTS = {
  mb: '10',
  workers: '1,2',
  reps: '3',
  'warmup-seconds': '3',
  seconds: '6',
  'latency-rate': '20000',
  'latency-seconds': '8',
  only: CLUSTER_PARTS.join(','),
} as const;

/** The usage text of `node dist/bench/cluster.js`. */
export function clusterUsage(): string {
  const d = CLUSTER_DEFAULTS;
  return `usage: node dist/bench/cluster.js [flags]

Word count end to end (roo send --repeat --no-acks → a cluster of roo
workers, --ponythreads 1 each → a counting receiver in this process) on
clusters of each size in --workers, every figure a steady state of a fresh
cluster: start-up, warm-up, then the outputs of a window. Then the latency
at a fixed rate on each size. Prints a markdown report; progress goes to
stderr. Run from the compiled tree (npx tsc -p tsconfig.build.json). The
default run takes about 2 minutes.

  --mb N                corpus size in MiB, sent round and round (default ${d.mb})
  --workers LIST        cluster sizes, comma separated (default ${d.workers})
  --reps N              fresh clusters per size, interleaved (default ${d.reps})
  --warmup-seconds N    seconds from the sender's start to the window (default ${d['warmup-seconds']})
  --seconds N           seconds of each measured window (default ${d.seconds})
  --latency-rate N      messages/s of the latency table (default ${d['latency-rate']})
  --latency-seconds N   seconds each latency run records, after ${LATENCY_WARMUP_SECONDS} s sent
                        unrecorded (default ${d['latency-seconds']})
  --only LIST           tables to measure, comma separated (default ${d.only})
                          throughput  words/s of fresh clusters, by size
                          latency     p50/p99/p99.99 at --latency-rate, by size
  --write-results       put the report in bench/RESULTS.md, between its cluster markers
  -h, --help            this text

Exit code: 0 when every cluster ran, 1 when one failed (the others are
still measured), 2 for a bad command line.
`;
}

/** `text` as a positive number (an integer if `integer`); throws BenchUsageError. */
function positive(flag: string, text: string, integer = false): number {
  const value = Number(text.trim().replaceAll('_', ''));
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new BenchUsageError(
      `--${flag}: expected a positive ${integer ? 'integer' : 'number'}, got '${text}'`,
    );
  }
  return value;
}

/** `--workers LIST` as ascending distinct sizes; throws BenchUsageError. */
export function parseWorkers(text: string): number[] {
  const sizes = text.split(',').map((s) => {
    const n = positive('workers', s, true);
    if (n > MAX_WORKERS) {
      throw new BenchUsageError(`--workers: at most ${MAX_WORKERS} workers, got '${s.trim()}'`);
    }
    return n;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Parses the flags, or 'help'. Throws BenchUsageError. */
export function parseClusterArgs(argv: readonly string[]): ClusterOptions | 'help' {
  const d = CLUSTER_DEFAULTS;
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        mb: { type: 'string', default: d.mb },
        workers: { type: 'string', default: d.workers },
        reps: { type: 'string', default: d.reps },
        'warmup-seconds': { type: 'string', default: d['warmup-seconds'] },
        seconds: { type: 'string', default: d.seconds },
        'latency-rate': { type: 'string', default: d['latency-rate'] },
        'latency-seconds': { type: 'string', default: d['latency-seconds'] },
        only: { type: 'string', default: d.only },
        'write-results': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    // parseArgs adds a second sentence on how to pass positionals: keep the first.
    throw new BenchUsageError((err as Error).message.split(/\.\s/)[0] ?? 'bad flags');
  }
  if (v.help) return 'help';
  const only = new Set<ClusterPart>();
  for (const name of v.only.split(',').map((s) => s.trim())) {
    if (!(CLUSTER_PARTS as readonly string[]).includes(name)) {
      throw new BenchUsageError(
        `--only: unknown table '${name}' (tables: ${CLUSTER_PARTS.join(', ')})`,
      );
    }
    only.add(name as ClusterPart);
  }
  return {
    mb: positive('mb', v.mb),
    workers: parseWorkers(v.workers),
    reps: positive('reps', v.reps, true),
    warmupSeconds: positive('warmup-seconds', v['warmup-seconds']),
    seconds: positive('seconds', v.seconds),
    latencyRate: positive('latency-rate', v['latency-rate']),
    latencySeconds: positive('latency-seconds', v['latency-seconds']),
    only,
    writeResults: v['write-results'],
  };
}

/** The flags as one line, for the report. */
export function describeClusterOptions(o: ClusterOptions): string {
  return (
    `--mb ${o.mb} --workers ${o.workers.join(',')} --reps ${o.reps} ` +
    `--warmup-seconds ${o.warmupSeconds} --seconds ${o.seconds} ` +
    `--latency-rate ${o.latencyRate} --latency-seconds ${o.latencySeconds} ` +
    `--only ${CLUSTER_PARTS.filter((p) => o.only.has(p)).join(',')}` +
    `${o.writeResults ? ' --write-results' : ''}`
  );
}

/** The command that measures the throughput table again with this run's sizes. */
export function clusterReproduceCommand(o: ClusterOptions): string {
  return (
    `node dist/bench/cluster.js --only throughput --mb ${o.mb} --workers ${o.workers.join(',')} ` +
    `--reps ${o.reps} --warmup-seconds ${o.warmupSeconds} --seconds ${o.seconds}`
  );
}

/** The command that measures the latency table again with this run's sizes. */
export function clusterLatencyCommand(o: ClusterOptions): string {
  return (
    `node dist/bench/cluster.js --only latency --mb ${o.mb} --workers ${o.workers.join(',')} ` +
    `--latency-rate ${o.latencyRate} --latency-seconds ${o.latencySeconds}`
  );
}
