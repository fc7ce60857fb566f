/**
 * The flags of the resilience benchmark (bench/resilience.ts): their
 * defaults, the usage text and the parser. A bad command line is a
 * ResilienceUsageError, which the entry prints as one line (exit 2).
 */
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';

/** The parts, in the order they run. */
export const RESILIENCE_PARTS = ['throughput', 'state', 'idle', 'recovery'] as const;
/** One part of the benchmark. */
export type ResiliencePart = (typeof RESILIENCE_PARTS)[number];

/** What a run measures. */
export interface ResilienceOptions {
  readonly mb: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly reps: number;
  readonly keys: readonly number[];
  readonly recoveryKeys: number;
  readonly recoveryReps: number;
  readonly threads: number;
  readonly intervalMs: number;
  readonly only: ReadonlySet<ResiliencePart>;
  readonly dir: string;
  readonly writeResults: boolean;
}

/** The default of every flag that takes a value, as it is typed on the command line. */
export const RESILIENCE_DEFAULTS = {
  mb: '20',
  seconds: '10',
  'warmup-seconds': '3',
  reps: '3',
  keys: '10000,100000,1000000',
  'recovery-keys': '1000000',
  'recovery-reps': '3',
  threads: '2',
  'interval-ms': '1000',
  only: RESILIENCE_PARTS.join(','),
} as const;

/** The usage text of `node dist/bench/resilience.js`. */
export function resilienceUsage(): string {
  const d = RESILIENCE_DEFAULTS;
  return `usage: node dist/bench/resilience.js [flags]

Measures what checkpoints and recovery cost a worker that runs alone, each
figure against a baseline taken in the same run, and prints a markdown
report. Run from the compiled tree (npm run build). A full run takes about
6 minutes.

  --only LIST            parts to run, comma separated (default ${d.only})
                           throughput  word count, resilience off against on
                           state       a state of N keys, pipeline busy, off against on
                           idle        N keys then idle: checkpoint times, in-process restore
                           recovery    roo worker: SIGKILL, restart, time to ready
  --mb N                 corpus size in MiB for throughput (default ${d.mb})
  --seconds N            measured window of each run, s (default ${d.seconds})
  --warmup-seconds N     warm-up before each window, s (default ${d['warmup-seconds']})
  --reps N               interleaved off/on rounds, and idle restore rounds (default ${d.reps})
  --keys LIST            state sizes for state and idle, comma separated (default ${d.keys})
  --recovery-keys N      keys of the recovered worker's state (default ${d['recovery-keys']})
  --recovery-reps N      kill-and-restart runs (default ${d['recovery-reps']})
  --threads N            scheduler threads, --ponythreads (default ${d.threads})
  --interval-ms N        time between checkpoints, ms (default ${d['interval-ms']})
  --dir DIR              parent of the checkpoint directories and the corpus (default ${tmpdir()})
  --write-results        put the report in bench/RESULTS.md, between its resilience markers
  -h, --help             this text

Exit code: 0 when every part ran (whatever the targets), 1 when a part
failed, 2 for a bad command line.
`;
}

/** A bad command line. */
export class ResilienceUsageError extends Error {}

function positive(flag: string, text: string): number {
  const n = Number(text.replaceAll('_', ''));
  if (!(n > 0) || !Number.isFinite(n))
    throw new ResilienceUsageError(`--${flag}: expected a positive number`);
  return n;
}

/** Parses the flags, or 'help'. Throws ResilienceUsageError. */
export function parseResilienceArgs(argv: readonly string[]): ResilienceOptions | 'help' {
  const d = RESILIENCE_DEFAULTS;
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        mb: { type: 'string', default: d.mb },
        seconds: { type: 'string', default: d.seconds },
        'warmup-seconds': { type: 'string', default: d['warmup-seconds'] },
        reps: { type: 'string', default: d.reps },
        keys: { type: 'string', default: d.keys },
        'recovery-keys': { type: 'string', default: d['recovery-keys'] },
        'recovery-reps': { type: 'string', default: d['recovery-reps'] },
        threads: { type: 'string', default: d.threads },
        'interval-ms': { type: 'string', default: d['interval-ms'] },
        only: { type: 'string', default: d.only },
        dir: { type: 'string', default: tmpdir() },
        'write-results': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    // parseArgs adds a second sentence on how to pass positionals: keep the first.
    throw new ResilienceUsageError((err as Error).message.split(/\.\s/)[0] ?? 'bad flags');
  }
  if (v.help) return 'help';
  const only = new Set<ResiliencePart>();
  for (const p of v.only.split(',')) {
    if (!(RESILIENCE_PARTS as readonly string[]).includes(p))
      throw new ResilienceUsageError(
        `--only: unknown part '${p}' (parts: ${RESILIENCE_PARTS.join(', ')})`,
      );
    only.add(p as ResiliencePart);
  }
  return {
    mb: positive('mb', v.mb),
    seconds: positive('seconds', v.seconds),
    warmupSeconds: positive('warmup-seconds', v['warmup-seconds']),
    reps: Math.round(positive('reps', v.reps)),
    keys: v.keys.split(',').map((k) => Math.round(positive('keys', k))),
    recoveryKeys: Math.round(positive('recovery-keys', v['recovery-keys'])),
    recoveryReps: Math.round(positive('recovery-reps', v['recovery-reps'])),
    threads: Math.round(positive('threads', v.threads)),
    intervalMs: positive('interval-ms', v['interval-ms']),
    only,
    dir: v.dir,
    writeResults: v['write-results'],
  };
}
