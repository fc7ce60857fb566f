/**
 * Parts (a) and (c) of `roo bench`: the hand-written loop and the engine in
 * process, each measured in fresh child processes (engine-steady.ts) after a
 * warm-up, over a window. Repetitions are interleaved — rep 1 of the loop and
 * of every thread count, then rep 2, ... — so that a burst of load from the
 * rest of a shared machine falls on all of them alike, and a process that
 * falls into a slow state shows as the worst of its count instead of being
 * averaged away. A process that fails (no figures, a dead thread, a hang) is
 * recorded and the others go on.
 */
import { join } from 'node:path';
import { BenchChild, BenchFailure, START_TIMEOUT_MS, rootDir } from './bench-child.js';
import { listProfiles, profileDir, profileNodeArgs } from './profiles.js';
import { formatRate } from './stats.js';
import {
  parseSteadyLine,
  steadyChildArgv,
  type SteadyLine,
  type SteadySubject,
  type WindowLine,
} from './steady-protocol.js';
import type { ProcessFailure, ProcessRun } from './sweep.js';

/** Beyond start-up, warm-up and window, how long a child may take to stop before it is killed. */
const STOP_MARGIN_MS = 30_000;

/** What to measure in parts (a) and (c). */
export interface SteadyOptions {
  /** The corpus file, read round and round by every child. */
  corpusPath: string;
  /** Thread counts of the engine. */
  threads: readonly number[];
  /** Fresh processes per thread count (and of the loop). */
  reps: number;
  /** Seconds each child runs before its window. */
  warmupSeconds: number;
  /** Seconds of each child's window. */
  seconds: number;
  /** Measure the hand-written loop (a). */
  loop: boolean;
  /** Measure the engine (c). */
  engine: boolean;
  /** `--profile DIR`, or undefined. */
  profileDir: string | undefined;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The processes of (a) and (c), filled as they end so a failure keeps what was measured. */
export interface SteadyResult {
  runs: ProcessRun[];
  failures: ProcessFailure[];
}

function sleep(ms: number): { done: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return { done, cancel: () => clearTimeout(timer) };
}

/** How a child is named in progress and failure lines. */
function label(subject: SteadySubject, rep: number): string {
  return subject.kind === 'loop'
    ? `(a) hand-written loop, process ${rep}`
    : `(c) engine, ${subject.threads} thread${subject.threads === 1 ? '' : 's'}, process ${rep}`;
}

/** Runs one child to the end; resolves with its figures, rejects with BenchFailure. */
async function runChild(
  o: SteadyOptions,
  subject: SteadySubject,
  rep: number,
): Promise<ProcessRun> {
  const threads = subject.kind === 'loop' ? 1 : subject.threads;
  const dir =
    o.profileDir === undefined
      ? undefined
      : profileDir(o.profileDir, subject.kind === 'loop' ? 'a' : 'c', threads, rep);
  const name = label(subject, rep);
  const spawnedAt = Date.now();
  const child = BenchChild.start(
    name,
    join(rootDir(), 'dist', 'bench', 'engine-steady.js'),
    steadyChildArgv({
      corpusPath: o.corpusPath,
      subject,
      warmupSeconds: o.warmupSeconds,
      seconds: o.seconds,
    }),
    profileNodeArgs(dir),
  );
  const lines: SteadyLine[] = [];
  child.onLine((text) => {
    const line = parseSteadyLine(text);
    if (line === undefined) return;
    lines.push(line);
    if (line.kind === 'start') o.log(`  ${name}: ready in ${line.startSeconds.toFixed(2)} s`);
    if (line.kind === 'warmup') o.log(`  ${name}: warm-up ${formatRate(line.rate)} words/s`);
  });
  const limitMs = START_TIMEOUT_MS + (o.warmupSeconds + o.seconds) * 1000 + STOP_MARGIN_MS;
  const limit = sleep(limitMs);
  await Promise.race([child.exited, limit.done]);
  limit.cancel();
  const hung = child.exit === undefined;
  if (hung) await child.stop();
  const error = lines.find((l) => l.kind === 'error');
  const window = lines.find((l): l is WindowLine => l.kind === 'window');
  if (window === undefined || error !== undefined) {
    const why =
      error?.message ?? (hung ? `no figures after ${(limitMs / 1000).toFixed(0)} s` : 'no figures');
    throw new BenchFailure(`${why}\n${child.describe()}`);
  }
  if (hung) o.log(`  ${name}: gave its figures but did not exit; killed`);
  o.log(
    `  ${name}: window ${formatRate(window.rate)} words/s, ${window.cpuNsPerWord.toFixed(0)} ns CPU/word`,
  );
  return {
    series: subject.kind === 'loop' ? 'loop' : 'engine',
    threads,
    rep,
    startSeconds: window.startSeconds,
    warmupRate: window.warmupRate,
    rate: window.rate,
    cpuNsPerWord: window.cpuNsPerWord,
    utilization: window.utilization,
    otherLoad: window.otherLoad,
    // One profile per thread: the main thread, and each scheduler thread of the engine.
    profile:
      dir === undefined
        ? undefined
        : listProfiles(dir, subject.kind === 'loop' ? 0 : threads, spawnedAt),
  };
}

/** Runs parts (a) and/or (c); see the module comment. Fills `result` as processes end. */
export async function runSteadySeries(
  o: SteadyOptions,
  result: SteadyResult = { runs: [], failures: [] },
): Promise<SteadyResult> {
  const subjects: SteadySubject[] = [
    ...(o.loop ? [{ kind: 'loop' } as const] : []),
    ...(o.engine ? o.threads.map((threads) => ({ kind: 'engine', threads }) as const) : []),
  ];
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const subject of subjects) {
      try {
        result.runs.push(await runChild(o, subject, rep));
      } catch (err) {
        if (!(err instanceof BenchFailure)) throw err;
        const message = `${label(subject, rep)} failed: ${err.message}`;
        o.log(`  ${message.split('\n')[0]}`);
        result.failures.push({
          series: subject.kind === 'loop' ? 'loop' : 'engine',
          threads: subject.kind === 'loop' ? 1 : subject.threads,
          rep,
          message,
        });
      }
    }
  }
  return result;
}
