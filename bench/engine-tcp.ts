/**
 * Part (d) of `roo bench`: word count end to end over TCP, as a user runs
 * it, by scheduler thread count, each figure a steady state.
 *
 *   roo send --repeat --no-acks (child, the corpus file round and round)
 *   → roo worker (child, examples/word_count/app.ts, --ponythreads N)
 *   → a receiver in this process counting the `word => count` outputs
 *
 * against the hand-written single-process TCP word count
 * (bench/baseline-tcp.ts, a child) fed the same way. Every (count, rep) gets
 * fresh processes: a worker, its sender and its receiver. After the warm-up
 * (`--warmup-seconds`, from the sender's spawn), the outputs that reach the
 * receiver during the window (`--seconds`) give words/s; the worker's CPU
 * (/proc/PID/stat) gives CPU per word. Repetitions are interleaved: rep 1 of
 * the hand-written one and of every thread count, then rep 2, ...
 *
 * The receiver counts outputs without decoding them: newline bytes for the
 * roo worker, whose TCP sink writes `word => count\n` unframed, and
 * length-prefixed frames for the hand-written one (its frame headers may
 * contain a 0x0a byte). A process fails when it dies, its sender dies, no
 * output arrives in the window, or the roo worker's output holds control
 * bytes (word count's text has none: the stream is corrupted, not just
 * short); the failure is recorded and the other processes go on.
 */
import { join } from 'node:path';
import {
  BenchChild,
  BenchFailure,
  LOCAL_HOST,
  rootDir,
  startWorker,
  watchUntil,
} from './bench-child.js';
import { CountingReceiver } from './counting-receiver.js';
import { listProfiles, profileDir, profileNodeArgs } from './profiles.js';
import { formatRate, LoadProbe, processCpuMs } from './stats.js';
import type { ProcessFailure, ProcessRun } from './sweep.js';

/** What to measure in part (d). */
export interface TcpOptions {
  /** The corpus file, sent round and round. */
  corpusPath: string;
  /** Scheduler thread counts of the roo worker. */
  threads: readonly number[];
  /** Fresh processes per thread count (and of the hand-written one). */
  reps: number;
  /** Seconds from the sender's start to the window. */
  warmupSeconds: number;
  /** Seconds of the window. */
  seconds: number;
  /** Also run the hand-written baseline (false: roo only, to find the maximum rate). */
  withBaseline: boolean;
  /** `--profile DIR`, or undefined. */
  profileDir: string | undefined;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The processes of (d), filled as they end so a failure keeps what was measured. */
export interface TcpResult {
  runs: ProcessRun[];
  failures: ProcessFailure[];
}

/** A new, empty result. */
export function emptyTcpResult(): TcpResult {
  return { runs: [], failures: [] };
}

/** What one process of (d) runs. */
type Subject = { series: 'tcp-roo'; threads: number } | { series: 'tcp-hand' };

/** How a process is named in progress and failure lines. */
function label(subject: Subject, rep: number): string {
  return subject.series === 'tcp-hand'
    ? `(d) hand-written TCP word count, process ${rep}`
    : `(d) roo worker, ${subject.threads} thread${subject.threads === 1 ? '' : 's'}, process ${rep}`;
}

/** Where a process writes its profiles under `--profile`, and how many scheduler threads it runs. */
function profilePlace(
  o: TcpOptions,
  subject: Subject,
  rep: number,
): { dir: string; schedulers: number } | undefined {
  if (o.profileDir === undefined) return undefined;
  return subject.series === 'tcp-roo'
    ? { dir: profileDir(o.profileDir, 'd', subject.threads, rep), schedulers: subject.threads }
    : { dir: profileDir(o.profileDir, 'd-hand', 1, rep), schedulers: 0 };
}

/** The process under test, started and listening. */
async function startSubject(
  subject: Subject,
  out: string,
  nodeArgs: readonly string[],
  started: (child: BenchChild) => void,
): Promise<string> {
  const root = rootDir();
  if (subject.series === 'tcp-roo') {
    const { worker, source } = await startWorker(
      join(root, 'examples', 'word_count', 'app.ts'),
      out,
      subject.threads,
      [],
      nodeArgs,
    );
    started(worker);
    return source;
  }
  const hand = BenchChild.start(
    'hand-written TCP word count',
    join(root, 'dist', 'bench', 'baseline-tcp.js'),
    ['--listen', `${LOCAL_HOST}:0`, '--out', out],
    nodeArgs,
  );
  started(hand);
  const [, source] = await hand.waitForLine(/^Listening on (\S+)/, 'where it listens');
  return source as string;
}

/** One fresh process of (d): start, feed, warm up, measure, stop. */
async function measureOne(o: TcpOptions, subject: Subject, rep: number): Promise<ProcessRun> {
  const roo = subject.series === 'tcp-roo';
  const threads = roo ? subject.threads : 1;
  const dir = profilePlace(o, subject, rep)?.dir;
  const receiver = await CountingReceiver.listen(roo ? 'lines' : 'frames');
  let proc: BenchChild | undefined;
  let sender: BenchChild | undefined;
  try {
    const t0 = performance.now();
    const source = await startSubject(subject, receiver.address, profileNodeArgs(dir), (c) => {
      proc = c;
    });
    const p = proc as BenchChild;
    const startSeconds = (performance.now() - t0) / 1000;
    const s = BenchChild.roo([
      ...['send', '--host', source, '--file', o.corpusPath, '--repeat', '--no-acks'],
    ]);
    sender = s;
    const sent = performance.now();
    const problem = (): string | undefined => {
      if (p.exit !== undefined) return p.describe();
      if (s.exit !== undefined) return `the sender stopped: ${s.describe()}`;
      if (receiver.controlBytes > 0) return `wrong output: ${receiver.describe()}`;
      return undefined;
    };
    await watchUntil(sent + o.warmupSeconds * 1000, problem);
    const probe = new LoadProbe([p.pid, s.pid]);
    const c0 = receiver.count;
    const cpu0 = processCpuMs(p.pid);
    const w0 = performance.now();
    probe.start();
    const warmupRate = c0 / ((w0 - sent) / 1000);
    o.log(`  ${label(subject, rep)}: warm-up ${formatRate(warmupRate)} words/s`);
    await watchUntil(w0 + o.seconds * 1000, problem);
    const c1 = receiver.count;
    const cpu1 = processCpuMs(p.pid);
    const w1 = performance.now();
    const load = probe.stop();
    const words = c1 - c0;
    if (words === 0) {
      throw new BenchFailure(
        `no output in the ${o.seconds} s window (${receiver.describe()})\n${p.describe()}`,
      );
    }
    const rate = words / ((w1 - w0) / 1000);
    o.log(`  ${label(subject, rep)}: window ${formatRate(rate)} words/s`);
    return {
      series: subject.series,
      threads,
      rep,
      startSeconds,
      warmupRate,
      rate,
      cpuNsPerWord:
        cpu0 === undefined || cpu1 === undefined ? undefined : ((cpu1 - cpu0) * 1e6) / words,
      utilization: undefined,
      otherLoad: load.otherLoad,
      profile: undefined,
    };
  } finally {
    // The sender first, so that the process under test stops idle (and, with
    // --cpu-prof, has the time to write its profiles on its way out).
    await sender?.stop();
    await proc?.stop();
    await receiver.close();
  }
}

/**
 * Runs part (d); see the module comment. Fills `result` as processes end and
 * returns it; stops every child it started.
 */
export async function runTcpSweep(
  o: TcpOptions,
  result: TcpResult = emptyTcpResult(),
): Promise<TcpResult> {
  const subjects: Subject[] = [
    ...(o.withBaseline ? [{ series: 'tcp-hand' } as const] : []),
    ...o.threads.map((threads) => ({ series: 'tcp-roo', threads }) as const),
  ];
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const subject of subjects) {
      const threads = subject.series === 'tcp-roo' ? subject.threads : 1;
      const spawnedAt = Date.now();
      try {
        const run = await measureOne(o, subject, rep);
        // Listed once the process has exited: each thread writes its profile on its way out.
        const place = profilePlace(o, subject, rep);
        if (place !== undefined) run.profile = listProfiles(place.dir, place.schedulers, spawnedAt);
        result.runs.push(run);
      } catch (err) {
        if (!(err instanceof BenchFailure)) throw err;
        const message = `${label(subject, rep)} failed: ${err.message}`;
        o.log(`  ${message.split('\n')[0]}`);
        result.failures.push({ series: subject.series, threads, rep, message });
      }
    }
  }
  return result;
}
