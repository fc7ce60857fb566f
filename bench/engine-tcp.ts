/**
 * Part (d) of `roo bench`: word count end to end over TCP, as a user runs it.
 *
 *   roo send (child, the corpus file once) → roo worker (child,
 *   examples/word_count/app.ts, --ponythreads 2) → a receiver in this
 *   process counting the newline-terminated `word => count` outputs
 *
 * against the hand-written single-process TCP word count
 * (bench/baseline-tcp.ts, a child process) fed by the same `roo send`. A run
 * is timed from just before `roo send` is spawned until the receiver has
 * counted one output per corpus word, so both sides pay the sender's process
 * start (about 0.1 s) alike. Both word counts are started once and stay up
 * for every repetition (their state carries over, which changes no output
 * count); repetitions alternate between them, so a burst of load from the
 * rest of a shared machine hits both.
 *
 * The receiver counts outputs without decoding them: newline bytes for the
 * roo worker, whose TCP sink writes `word => count\n` unframed, and
 * length-prefixed frames for the hand-written one (its frame headers may
 * contain a 0x0a byte).
 *
 * The child processes are bench-child.ts's BenchChild, the receiver
 * counting-receiver.ts's CountingReceiver.
 */
import { join } from 'node:path';
import { BenchChild, BenchFailure, LOCAL_HOST, rootDir, startWorker } from './bench-child.js';
import { CountingReceiver } from './counting-receiver.js';

/** After the last run, how long to watch for outputs beyond the expected total. */
const SETTLE_MS = 300;

/** What to measure in part (d). */
export interface TcpOptions {
  /** The corpus file, sent once per run. */
  corpusPath: string;
  /** Words in the corpus: the outputs a run waits for. */
  totalWords: number;
  /** Measured runs of each side, after one warm-up run each. */
  reps: number;
  /** Scheduler threads of the roo worker. */
  threads: number;
  /** Also run the hand-written baseline (false: roo only, to find the maximum rate). */
  withBaseline: boolean;
  /** Progress lines. */
  log: (line: string) => void;
}

/** Words/s of each measured run, per side; filled run by run, so a failure keeps what was measured. */
export interface TcpResult {
  /** roo send → roo worker → receiver. */
  roo: number[];
  /** roo send → hand-written TCP word count → receiver (empty without the baseline). */
  baseline: number[];
  /** `roo send`'s own figure: seconds from connect to last byte handed to the OS, per roo run. */
  senderSeconds: number[];
  /** Runs that failed (wrong output, stall, a process died), described. */
  failures: string[];
}

/** A new, empty result. */
export function emptyTcpResult(): TcpResult {
  return { roo: [], baseline: [], senderSeconds: [], failures: [] };
}

/** A word count process and the receiver of its outputs; restarted after a failed run. */
interface Process {
  name: string;
  child: BenchChild;
  receiver: CountingReceiver;
  source: string;
  /** Runs this process has completed: the receiver holds this many corpora of outputs. */
  runs: number;
}

/** One side of the comparison: how to start its process, and its rates. */
interface Side {
  label: string;
  start: () => Promise<Process>;
  current: Process | undefined;
  rates: number[];
  failures: number;
}

/** With control bytes in the output and nothing new for this long, a run has failed. */
const CORRUPT_STALL_MS = 2_000;

/** How a run is named in progress and failure lines. */
function runLabel(run: number): string {
  return run === 0 ? 'warm-up' : `run ${run}`;
}

/** Sends the corpus once to `p` and waits for every output; returns words/s and the sender's seconds. */
async function timeOneRun(
  p: Process,
  options: TcpOptions,
): Promise<{ rate: number; senderSeconds: number }> {
  const target = (p.runs + 1) * options.totalWords;
  const started = performance.now();
  const sender = BenchChild.roo(['send', '--host', p.source, '--file', options.corpusPath]);
  let senderSeconds = NaN;
  sender.onLine((line) => {
    const m = /^sent \d+ messages \(\d+ bytes\) in ([\d.]+) s/.exec(line);
    if (m !== null) senderSeconds = Number(m[1]);
  });
  try {
    const endMs = await p.receiver.waitFor(target, () => {
      if (p.child.exit !== undefined) return p.child.describe();
      if (sender.exit !== undefined && sender.exit.code !== 0) return sender.describe();
      if (
        p.receiver.controlBytes > 0 &&
        performance.now() - p.receiver.lastDataMs > CORRUPT_STALL_MS
      ) {
        return `output stopped short: ${p.receiver.describe()}`;
      }
      return undefined;
    });
    await sender.exited;
    if (p.receiver.controlBytes > 0) {
      throw new BenchFailure(`wrong output: ${p.receiver.describe()}`);
    }
    p.runs++;
    return { rate: options.totalWords / ((endMs - started) / 1000), senderSeconds };
  } catch (err) {
    if (err instanceof BenchFailure) {
      throw new BenchFailure(`${err.message}\n${p.child.describe()}\n${sender.describe()}`);
    }
    throw err;
  } finally {
    await sender.stop();
  }
}

/** Stops a side's process and its receiver, checking first that no extra output arrived. */
async function retire(
  p: Process,
  options: TcpOptions,
  check: boolean,
): Promise<string | undefined> {
  let problem: string | undefined;
  if (check) {
    // Every output was waited for; one more would be a duplicate.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const expected = p.runs * options.totalWords;
    if (p.receiver.count !== expected) {
      problem = `${p.name} sent ${p.receiver.count} outputs for ${expected} words (${p.receiver.describe()})`;
    }
  }
  await p.child.stop();
  await p.receiver.close();
  return problem;
}

/**
 * Runs part (d); see the module comment. Fills `result` as runs complete and
 * returns it; stops every child it started. A failed run (wrong or missing
 * output, a stall, a dead process) is recorded in `result.failures`, the
 * failing process is replaced by a fresh one, and the runs go on; after
 * `reps + 1` failures of one side it gives up on that side.
 */
export async function runTcpComparison(
  options: TcpOptions,
  result: TcpResult = emptyTcpResult(),
): Promise<TcpResult> {
  const root = rootDir();
  const rooSide: Side = {
    label: 'roo worker',
    current: undefined,
    rates: result.roo,
    failures: 0,
    start: async () => {
      const receiver = await CountingReceiver.listen('lines');
      try {
        const { worker, source } = await startWorker(
          join(root, 'examples', 'word_count', 'app.ts'),
          receiver.address,
          options.threads,
        );
        return { name: `roo worker (pid ${worker.pid})`, child: worker, receiver, source, runs: 0 };
      } catch (err) {
        await receiver.close();
        throw err;
      }
    },
  };
  const handSide: Side = {
    label: 'hand-written TCP word count',
    current: undefined,
    rates: result.baseline,
    failures: 0,
    start: async () => {
      const receiver = await CountingReceiver.listen('frames');
      const hand = BenchChild.start(
        'baseline-tcp',
        join(root, 'dist', 'bench', 'baseline-tcp.js'),
        [...['--listen', `${LOCAL_HOST}:0`, '--out', receiver.address]],
      );
      try {
        const [, source] = await hand.waitForLine(/^Listening on (\S+)/, 'where it listens');
        return {
          name: `hand-written TCP word count (pid ${hand.pid})`,
          child: hand,
          receiver,
          source: source as string,
          runs: 0,
        };
      } catch (err) {
        await hand.stop();
        await receiver.close();
        throw err;
      }
    },
  };
  const sides = options.withBaseline ? [rooSide, handSide] : [rooSide];
  try {
    for (let run = 0; run <= options.reps; run++) {
      for (const side of sides) {
        if (side.failures > options.reps) continue;
        side.current ??= await side.start();
        const p = side.current;
        try {
          const r = await timeOneRun(p, options);
          options.log(`  ${p.name}, ${runLabel(run)}: ${(r.rate / 1e6).toFixed(2)} M words/s`);
          if (run > 0) {
            side.rates.push(r.rate);
            if (side === rooSide) result.senderSeconds.push(r.senderSeconds);
          }
        } catch (err) {
          if (!(err instanceof BenchFailure)) throw err;
          side.failures++;
          const message = `${p.name}, ${runLabel(run)} failed: ${err.message}`;
          options.log(`  ${message.split('\n')[0]}; starting a fresh process`);
          result.failures.push(message);
          side.current = undefined;
          await retire(p, options, false);
        }
      }
    }
  } finally {
    for (const side of sides) {
      const p = side.current;
      side.current = undefined;
      if (p === undefined) continue;
      const problem = await retire(p, options, true).catch((err: Error) => err.message);
      if (problem !== undefined) result.failures.push(problem);
    }
  }
  return result;
}
