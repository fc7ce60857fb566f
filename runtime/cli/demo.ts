/**
 * `roo demo`: word count on a bundled text, end to end, on a cluster of two
 * workers on this machine, with no set-up; the cluster grows by a worker
 * and shrinks back while it counts (Wallaroo's autoscale guide), then a
 * worker crashes (its resilience guide). It runs the commands a user would
 * type, each a child process of `node bin/roo` (demo-stages.ts):
 *
 *   roo receive --listen 127.0.0.1:0                       (one per worker, output captured here)
 *   roo worker  --application-module examples/word_count/app.ts --name initializer
 *               --in 127.0.0.1:<free port> --out <receiver> --cluster-initializer --worker-count 2
 *               --control 127.0.0.1:0 --data 127.0.0.1:0 --external 127.0.0.1:0
 *               --run-with-resilience --resilience-dir <temp> --time-between-checkpoints 500000000
 *               ... -- --exactly-once
 *   roo worker  --application-module examples/word_count/app.ts --name worker2
 *               --out <receiver> --control <initializer> --my-data 127.0.0.1:<free port>
 *               --external 127.0.0.1:0 --run-with-resilience ... -- --exactly-once
 *   roo send    --host <source> --file data/gpl-3.0.txt --repeat --messages N/2 --stream-id roo-demo
 *               --batch-size B --interval 50000000         (paced to last about 10 s)
 *   roo receive --listen 127.0.0.1:0                       (for worker3)
 *   roo worker  ... --name worker3 --out <its receiver> --join <initializer's control>
 *               --my-data 127.0.0.1:0 --my-control 127.0.0.1:<free port> --external 127.0.0.1:0
 *               --run-with-resilience ... -- --exactly-once
 *   roo shrink  --external <initializer's external> --workers worker3
 *   kill -9 <worker2>, then the same roo worker command again
 *   roo send    --host <source> --file data/gpl-3.0.txt --repeat --messages N --stream-id roo-demo
 *   roo status  <external> --json                          (each worker)
 *   roo shutdown <initializer's external>
 *
 * It shows progress every second and the reconfigurations' and the
 * recovery's log lines as they come, what moved and how long the input was
 * paused, then prints the top words, the totals, the end-to-end throughput,
 * the grow, the shrink and the crash, how the state is spread over the
 * workers (demo-report.ts), and checks every word's final count against an
 * independent count of the text times its repetitions (demo-count.ts): the
 * exactly-once sinks must deliver every count once, whichever worker owned
 * the word when, crash or not. Every child is stopped on every way out:
 * success, failure, Ctrl-C, or an exception (demo-children.ts).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, RooError } from '../../protocols/index.js';
import { Children, DemoFailure } from './demo-children.js';
import {
  CountWaiters,
  DEMO_CHECKPOINT_NS,
  DEMO_STREAM_ID,
  type DemoContext,
  type DemoOptions,
  type DemoStage,
  firstSendLines,
  ProgressLine,
  WORD_COUNT_APP,
} from './demo-context.js';
import { type ExpectedCounts, expectedCounts, num, textLines, WordTally } from './demo-count.js';
import { report, TOP_WORDS } from './demo-report.js';
import { PACED_SECONDS } from './demo-send.js';
import { wordCountStages } from './demo-stages.js';
import { flagError, parseCount } from './flags.js';

export {
  checkCounts,
  countsOk,
  expectedCounts,
  textLines,
  topWords,
  WordTally,
  type CountMismatch,
  type ExpectedCounts,
} from './demo-count.js';
export {
  DEMO_CHECKPOINT_NS,
  DEMO_STREAM_ID,
  WORD_COUNT_APP,
  WORD_COUNT_SOURCE,
  type DemoContext,
  type DemoOptions,
  type DemoStage,
} from './demo-context.js';
export { RECOVERY_LINES } from './demo-crash.js';
export { wordCountStages } from './demo-stages.js';

/**
 * Lines sent by default: with resilience, the exactly-once sinks, a grow and
 * a shrink while the first half streams in (paced over about 10 s) and a
 * crash and recovery, about 20-25 s on two workers on an idle 2-vCPU machine.
 */
export const DEFAULT_DEMO_MESSAGES = 500_000;
/** Workers of the demo's cluster by default. */
export const DEFAULT_DEMO_WORKERS = 2;
/** Most workers the demo starts. */
export const MAX_DEMO_WORKERS = 16;
/**
 * Scheduler threads of each worker by default: 2 for one worker; 1 each in a
 * cluster, where the workers already share the machine's cores (on 2 vCPUs,
 * 2 workers x 1 thread measured faster than 2 x 2).
 */
export function defaultDemoThreads(workers: number): number {
  return workers === 1 ? 2 : 1;
}
/** The bundled text, relative to the package root (see data/README.md). */
export const BUNDLED_TEXT = 'data/gpl-3.0.txt';

// ---------------------------------------------------------------------------
// Flags.

/** The usage text of `roo demo`. */
export const DEMO_USAGE = `usage: roo demo [flags]

Runs word count on a bundled text (${BUNDLED_TEXT}) on a cluster of
${DEFAULT_DEMO_WORKERS} workers on this machine, with resilience on, every worker reporting to a
'roo metrics' whose web UI's address it prints; grows the cluster by a
worker and shrinks it back while it counts (Wallaroo's autoscale guide), then
crashes a worker (its resilience guide): starts a 'roo receive' for each
worker's sink, an initializer 'roo worker' running ${WORD_COUNT_APP} with
the source, the other workers (which join it over its control channel), all
with --run-with-resilience and the exactly-once sink, and 'roo send' (with
acks, --stream-id ${DEMO_STREAM_ID}) with the first half of the lines, paced to
last about ${PACED_SECONDS} s. Once the first checkpoint's counts are out, starts one
more worker (worker3, with its own 'roo receive') with --join, and shows the
key groups it takes over and how long the moving groups paused; once its sink has
written counts, removes it with 'roo shrink --workers worker3' and shows
what moved back. Then kills worker2 with SIGKILL (the initializer with
--workers 1, which neither grows nor shrinks), restarts it with the same
command and shows the recovery's log lines, and sends the rest with 'roo
send' again. It shows progress, then what each worker holds ('roo status
--json'), stops the cluster with 'roo shutdown', and prints the top
${TOP_WORDS} words, the totals, the throughput, and checks every count against an
independent count (OK or MISMATCH): every count must arrive exactly once.
A checkpoint every ${DEMO_CHECKPOINT_NS / 1_000_000} ms; ports are picked by the OS but for the source's,
the members' data ports and the joiner's control port, free ones picked up
front. Ctrl-C stops it and every process it started.

  --messages N      lines to send, the text repeated (default ${DEFAULT_DEMO_MESSAGES})
  --workers N       workers in the cluster, 1 to ${MAX_DEMO_WORKERS} (default ${DEFAULT_DEMO_WORKERS})
  --ponythreads N   scheduler threads of each worker (default 1, or 2 with --workers 1)
  --file PATH       count this UTF-8 text instead of the bundled one
  --ui              at the end, keep the cluster and the metrics UI running until Ctrl-C
  --verbose         show the logs of the workers, sender and receiver on stderr
  -h, --help        this text

Numbers may use _ between digits (2_000_000). Exit code: 0 when every count
is right and every worker stopped cleanly, 1 on MISMATCH or failure, 2 for
a bad command line, 130 when interrupted.
`;

/** Parses `roo demo` flags, or 'help'. Throws ROO_ERR_BAD_FLAG. */
export function parseDemoArgs(argv: string[]): DemoOptions | 'help' {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        messages: { type: 'string' },
        workers: { type: 'string' },
        ponythreads: { type: 'string' },
        file: { type: 'string' },
        verbose: { type: 'boolean' },
        ui: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw flagError(err);
  }
  if (v.help === true) return 'help';
  const workers = parseCount('workers', v.workers ?? String(DEFAULT_DEMO_WORKERS), 1);
  if (workers > MAX_DEMO_WORKERS) {
    throw new RooError(ErrorCode.BadFlag, `--workers: at most ${MAX_DEMO_WORKERS}`);
  }
  const threads = parseCount(
    'ponythreads',
    v.ponythreads ?? String(defaultDemoThreads(workers)),
    1,
  );
  if (threads > 256) throw new RooError(ErrorCode.BadFlag, '--ponythreads: at most 256');
  if (v.file === '') throw new RooError(ErrorCode.BadFlag, '--file must not be empty');
  return {
    messages: parseCount('messages', v.messages ?? String(DEFAULT_DEMO_MESSAGES), 1),
    workers,
    threads,
    file: v.file,
    verbose: v.verbose === true,
    ui: v.ui === true,
  };
}

// ---------------------------------------------------------------------------
// Command.

/** The package root: the nearest directory above this module with bin/roo and package.json. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'roo')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new RooError(ErrorCode.Internal, `cannot find the roo package (bin/roo) above ${from}`);
}

/** Labels, a repeated one counted once: 'roo receive (2), roo send'. */
function countedLabels(labels: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => (n === 1 ? l : `${l} (${n})`)).join(', ');
}

/** In words: 'a cluster of 2 workers', 'one worker'. */
function clusterWords(workers: number): string {
  return workers === 1 ? 'one worker' : `a cluster of ${workers} workers`;
}

/**
 * Runs `stages` in order over a fresh context, stops every child however the
 * run ends, removes the run's resilience directory, and reports. Resolves to
 * the exit code.
 */
export async function runStages(
  options: DemoOptions,
  stages: readonly DemoStage[],
): Promise<number> {
  const root = packageRoot();
  const textPath = resolve(options.file ?? join(root, BUNDLED_TEXT));
  let expected: ExpectedCounts;
  let firstSend: DemoContext['firstSend'];
  try {
    const lines = textLines(await readFile(textPath, 'utf8'));
    expected = expectedCounts(lines, options.messages);
    const first = firstSendLines(options.messages);
    firstSend = { lines: first, words: expectedCounts(lines, first).totalWords };
  } catch (err) {
    process.stderr.write(`roo demo: cannot read ${textPath}: ${(err as Error).message}\n`);
    return 2;
  }
  if (expected.totalWords === 0) {
    process.stderr.write(`roo demo: ${textPath} has no words to count\n`);
    return 2;
  }

  const abort = new AbortController();
  const children = new Children(join(root, 'bin', 'roo'), options.verbose);
  const progress = new ProgressLine();
  const resilienceDir = mkdtempSync(join(tmpdir(), 'roo-demo-'));
  const ctx: DemoContext = {
    options,
    root,
    textPath,
    resilienceDir,
    expected,
    firstSend,
    tally: new WordTally(),
    signal: abort.signal,
    children,
    progress,
    counts: new CountWaiters(),
    say: (line) => {
      progress.end();
      process.stdout.write(`${line}\n`);
    },
    receivers: [],
    receiverAddresses: [],
    outputsBy: [],
    workers: [],
    senders: [],
    sentBy: [],
    sendersAcked: [],
    linesSent: 0,
    echoes: [],
  };
  const onSignal = (): void => {
    // With --ui, the Ctrl-C awaited at the end stops the cluster as the demo would.
    if (ctx.release !== undefined) {
      ctx.release();
      return;
    }
    // A second Ctrl-C does not wait for a graceful stop.
    if (abort.signal.aborted) children.killAllNow();
    abort.abort(new DemoFailure('interrupted'));
  };
  const onExit = (): void => children.killAllNow();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal).on('exit', onExit);

  let failure: unknown;
  ctx.say(
    `roo demo: word count on ${textPath} (${num(expected.linesPerPass)} lines), ` +
      `on ${clusterWords(options.workers)}`,
  );
  ctx.say(
    `resilience on: a checkpoint every ${DEMO_CHECKPOINT_NS / 1_000_000} ms in ${resilienceDir}, ` +
      'exactly-once sinks, roo send with acks',
  );
  try {
    for (const [i, stage] of stages.entries()) {
      ctx.say(`[${i + 1}/${stages.length}] ${stage.title}`);
      await stage.run(ctx);
    }
  } catch (err) {
    failure = err;
  }
  const running = children.running();
  if (abort.signal.aborted) ctx.say('interrupted: stopping the processes it started');
  else if (running.length > 0) ctx.say(`stopping ${countedLabels(running)}`);
  try {
    await children.stopAll();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal).off('exit', onExit);
    rmSync(resilienceDir, { recursive: true, force: true });
  }
  if (abort.signal.aborted) return 130;
  if (failure !== undefined) {
    // A DemoFailure is for the user; anything else is a bug: show where.
    const text = failure instanceof DemoFailure ? failure.message : (failure as Error).stack;
    process.stderr.write(`roo demo: failed: ${text ?? String(failure)}\n`);
    return 1;
  }
  return report(ctx) ? 0 : 1;
}

/** `roo demo [flags]`: resolves to the exit code (0 OK, 1 mismatch or failure, 2 bad flags, 130 interrupted). */
export async function runDemo(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseDemoArgs(argv);
  } catch (err) {
    process.stderr.write(`roo demo: ${(err as Error).message} (see 'roo demo --help')\n`);
    return 2;
  }
  if (options !== 'help') return runStages(options, wordCountStages(options.workers, options.ui));
  process.stdout.write(DEMO_USAGE);
  return 0;
}
