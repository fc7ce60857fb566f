/**
 * The flags of the scaling benchmark (bench/scaling.ts): their defaults, the
 * usage text, the parser, the one-line description the report prints and
 * the command that measures it again. Pure. A bad command line is a
 * BenchUsageError, which the entry prints as one line (exit 2).
 */
import { parseArgs } from 'node:util';
import { BenchUsageError } from './run-options.js';

/** The parts a run can measure, in the order they run within a rep. */
export const SCALING_PARTS = ['steps', 'baseline'] as const;
/** One part. */
export type ScalingPart = (typeof SCALING_PARTS)[number];

/** The largest cluster a step may ask for. */
export const MAX_STEP_WORKERS = 8;

/** What a run of the scaling benchmark measures. */
export interface ScalingOptions {
  /** Distinct keys (words) of state. */
  readonly keys: number;
  /** Input words/s; undefined: half of the 1-worker maximum measured first. */
  readonly rate: number | undefined;
  /** Cluster sizes one after the other, e.g. 1,2,4,2,1: a step between each pair. */
  readonly steps: readonly number[];
  /** Seconds from one step's request to the next (longer when a step takes longer). */
  readonly stepSeconds: number;
  /** Seconds of steady input after the state is whole and before the first step. */
  readonly settleSeconds: number;
  /** Repetitions, interleaved (steps, then each baseline size, then again). */
  readonly reps: number;
  /** Seconds of the window of the maximum-rate measurement (after as much warm-up). */
  readonly maxSeconds: number;
  /** Checkpoints (and the exactly-once state) on in the grow/shrink run too. */
  readonly resilience: boolean;
  /** Milliseconds between checkpoints, wherever resilience is on (the baseline always). */
  readonly checkpointMs: number;
  /** Words per input line. */
  readonly wordsPerLine: number;
  /** The parts to measure. */
  readonly only: ReadonlySet<ScalingPart>;
  /** Put the report in bench/RESULTS.md, between the scaling markers. */
  readonly writeResults: boolean;
}

/** The default of every flag that takes a value, as it is typed on the command line. */
export const SCALING_DEFAULTS = {
  keys: '1000000',
  steps: '1,2,4,2,1',
  'step-seconds': '6',
  'settle-seconds': '3',
  reps: '3',
  'max-seconds': '3',
  'checkpoint-ms': '1000',
  'words-per-line': '10',
  only: SCALING_PARTS.join(','),
} as const;

/** The usage text of `node dist/bench/scaling.js`. */
export function scalingUsage(): string {
  const d = SCALING_DEFAULTS;
  return `usage: node dist/bench/scaling.js [flags]

Grows and shrinks a running word count cluster (--ponythreads 1 per worker)
holding --keys distinct words of state, under a constant input rate, and
measures per step what moved, how long the input paused, how long the step
took and the longest gap between two outputs at the receiver. Against it,
in the same run, the way a system without live rescaling does it: a
checkpoint, every worker killed, the cluster restarted from the checkpoint
and the lost window sent again. Prints a markdown report; progress goes to
stderr. Run from the compiled tree (npx tsc -p tsconfig.build.json). The
default run takes about 8 minutes on 2 cores.

  --keys N              distinct words of state (default ${d.keys})
  --rate N              input words/s (default: half of the maximum of 1 worker,
                        measured first in the same run)
  --steps LIST          cluster sizes one after the other (default ${d.steps}); a grow
                        by more than one worker is that many joins in a row
  --step-seconds N      seconds from one step's request to the next (default ${d['step-seconds']})
  --settle-seconds N    steady input before the first step, once every key exists
                        (default ${d['settle-seconds']})
  --reps N              repetitions, interleaved (default ${d.reps})
  --max-seconds N       window of the maximum-rate measurement (default ${d['max-seconds']})
  --resilience          checkpoints on in the grow/shrink run too (the baseline always)
  --checkpoint-ms N     ms between checkpoints (default ${d['checkpoint-ms']})
  --words-per-line N    words per input line (default ${d['words-per-line']})
  --only LIST           parts, comma separated (default ${d.only})
                          steps     grow and shrink the running cluster
                          baseline  checkpoint, kill, restart, resend, per size
  --write-results       put the report in bench/RESULTS.md, between its scaling markers
  -h, --help            this text

Exit code: 0 when every run ran (whatever the targets), 1 when one failed
(the others are still measured), 2 for a bad command line.
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

/** `--steps LIST`: at least two sizes, each from 1 to MAX_STEP_WORKERS, starting at 1, no repeats in a row. */
export function parseSteps(text: string): number[] {
  const sizes = text.split(',').map((s) => {
    const n = positive('steps', s, true);
    if (n > MAX_STEP_WORKERS) {
      throw new BenchUsageError(`--steps: at most ${MAX_STEP_WORKERS} workers, got '${s.trim()}'`);
    }
    return n;
  });
  if (sizes.length < 2) throw new BenchUsageError('--steps: at least two sizes, e.g. 1,2');
  if (sizes[0] !== 1) {
    throw new BenchUsageError('--steps: the first size must be 1 (the initializer alone)');
  }
  for (let i = 1; i < sizes.length; i++) {
    if (sizes[i] === sizes[i - 1]) {
      throw new BenchUsageError(`--steps: size ${sizes[i]} twice in a row`);
    }
  }
  return sizes;
}

/** Parses the flags, or 'help'. Throws BenchUsageError. */
export function parseScalingArgs(argv: readonly string[]): ScalingOptions | 'help' {
  const d = SCALING_DEFAULTS;
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        keys: { type: 'string', default: d.keys },
        rate: { type: 'string' },
        steps: { type: 'string', default: d.steps },
        'step-seconds': { type: 'string', default: d['step-seconds'] },
        'settle-seconds': { type: 'string', default: d['settle-seconds'] },
        reps: { type: 'string', default: d.reps },
        'max-seconds': { type: 'string', default: d['max-seconds'] },
        resilience: { type: 'boolean', default: false },
        'checkpoint-ms': { type: 'string', default: d['checkpoint-ms'] },
        'words-per-line': { type: 'string', default: d['words-per-line'] },
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
  const only = new Set<ScalingPart>();
  for (const name of v.only.split(',').map((s) => s.trim())) {
    if (!(SCALING_PARTS as readonly string[]).includes(name)) {
      throw new BenchUsageError(
        `--only: unknown part '${name}' (parts: ${SCALING_PARTS.join(', ')})`,
      );
    }
    only.add(name as ScalingPart);
  }
  return {
    keys: positive('keys', v.keys, true),
    rate: v.rate === undefined ? undefined : positive('rate', v.rate),
    steps: parseSteps(v.steps),
    stepSeconds: positive('step-seconds', v['step-seconds']),
    settleSeconds: positive('settle-seconds', v['settle-seconds']),
    reps: positive('reps', v.reps, true),
    maxSeconds: positive('max-seconds', v['max-seconds']),
    resilience: v.resilience,
    checkpointMs: positive('checkpoint-ms', v['checkpoint-ms'], true),
    wordsPerLine: positive('words-per-line', v['words-per-line'], true),
    only,
    writeResults: v['write-results'],
  };
}

/** The flags that shape the measurement, as typed (without --only and --write-results). */
function measureFlags(o: ScalingOptions, rate: number | undefined): string {
  return (
    `--keys ${o.keys}${rate === undefined ? '' : ` --rate ${Math.round(rate)}`} ` +
    `--steps ${o.steps.join(',')} --step-seconds ${o.stepSeconds} ` +
    `--settle-seconds ${o.settleSeconds} --reps ${o.reps} --max-seconds ${o.maxSeconds}` +
    `${o.resilience ? ' --resilience' : ''} --checkpoint-ms ${o.checkpointMs} ` +
    `--words-per-line ${o.wordsPerLine}`
  );
}

/** The flags as one line, for the report. */
export function describeScalingOptions(o: ScalingOptions): string {
  return (
    `${measureFlags(o, o.rate)} --only ${SCALING_PARTS.filter((p) => o.only.has(p)).join(',')}` +
    `${o.writeResults ? ' --write-results' : ''}`
  );
}

/**
 * The command that measures `parts` again; with `rate`, at that rate (the
 * one this run used), so that the figures compare.
 */
export function scalingReproduceCommand(
  o: ScalingOptions,
  parts: readonly ScalingPart[],
  rate?: number,
): string {
  return `node dist/bench/scaling.js ${measureFlags(o, rate ?? o.rate)} --only ${parts.join(',')}`;
}

/** The steps of a size sequence: each pair of neighbours. */
export function stepsOf(sizes: readonly number[]): { from: number; to: number }[] {
  return sizes.slice(1).map((to, i) => ({ from: sizes[i] as number, to }));
}

/** The cluster sizes the baseline restarts: every step's new size, once each, ascending. */
export function baselineSizes(sizes: readonly number[]): number[] {
  return [...new Set(stepsOf(sizes).map((s) => s.to))].sort((a, b) => a - b);
}
