/**
 * `roo demo`: word count on a bundled text, end to end, on this machine, with
 * no set-up. It runs the commands a user would type, each a child process of
 * `node bin/roo`:
 *
 *   roo receive --listen 127.0.0.1:0                      (output captured here)
 *   roo worker  --application-module examples/word_count/app.ts
 *               --in 127.0.0.1:0 --out <receiver> --ponythreads 2 ...
 *   roo send    --host <source> --file data/gpl-3.0.txt --repeat --messages N
 *
 * It shows progress every second (words counted so far, read from the
 * receiver's output; words/s and lines/s), then prints the top words, the
 * totals, the end-to-end throughput, and checks every word's final count
 * against an independent count of the text times its repetitions.
 *
 * A run is a list of stages over one context, so later demos (a cluster, a
 * crash, a recovery) add stages instead of rewriting the flow. Every child is
 * registered in one set and stopped on every way out: success, failure,
 * Ctrl-C, or an exception.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, RooError } from '../../protocols/index.js';
import { flagError, parseCount } from './send.js';

/** Lines sent by default: about 10-20 s of word count on a 2-vCPU machine. */
export const DEFAULT_DEMO_MESSAGES = 1_500_000;
/** Scheduler threads of the demo's worker by default. */
export const DEFAULT_DEMO_THREADS = 2;
/** The bundled text, relative to the package root (see data/README.md). */
export const BUNDLED_TEXT = 'data/gpl-3.0.txt';
/** The application the demo runs, relative to the package root. */
export const WORD_COUNT_APP = 'examples/word_count/app.ts';
/** Name of word count's TCP source, as the worker logs it. */
export const WORD_COUNT_SOURCE = 'Split and Count';

/** How long a child may take to say it is listening. */
const START_TIMEOUT_MS = 60_000;
/** With no new count for this long, the run is declared stuck and checked as it is. */
const STALL_TIMEOUT_MS = 20_000;
/** After the last expected count, how long to watch for extra (duplicate) counts. */
const SETTLE_MS = 500;
/** How long a stopped child has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5_000;
const PROGRESS_INTERVAL_MS = 1_000;
/** Lines of each child's stderr kept to explain a failure. */
const TAIL_LINES = 20;
const TOP_WORDS = 10;
/** Wrong words (and other problems) listed in a MISMATCH report. */
const SHOWN_PROBLEMS = 10;
const LOCAL = '127.0.0.1';
const NEWLINE = 0x0a;

// ---------------------------------------------------------------------------
// Flags.

/** What a demo run does. */
export interface DemoOptions {
  /** Lines to send (the text repeated). */
  readonly messages: number;
  /** Scheduler threads of the worker (`--ponythreads`). */
  readonly threads: number;
  /** The text to count (default: the bundled text). */
  readonly file: string | undefined;
  /** Pass the children's logs through to stderr. */
  readonly verbose: boolean;
}

/** The usage text of `roo demo`. */
export const DEMO_USAGE = `usage: roo demo [flags]

Runs word count on a bundled text (${BUNDLED_TEXT}) on this machine: starts
'roo receive', a 'roo worker' running ${WORD_COUNT_APP}, and 'roo send'
with the text repeated, shows progress, then prints the top ${TOP_WORDS} words, the
totals, the throughput, and checks every count against an independent count
(OK or MISMATCH). Ctrl-C stops it and every process it started.

  --messages N      lines to send, the text repeated (default ${DEFAULT_DEMO_MESSAGES})
  --ponythreads N   scheduler threads of the worker (default ${DEFAULT_DEMO_THREADS})
  --file PATH       count this UTF-8 text instead of the bundled one
  --verbose         show the logs of the worker, sender and receiver on stderr
  -h, --help        this text

Numbers may use _ between digits (2_000_000). Exit code: 0 when every count
is right, 1 on MISMATCH or failure, 2 for a bad command line, 130 when
interrupted.
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
        ponythreads: { type: 'string' },
        file: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw flagError(err);
  }
  if (v.help === true) return 'help';
  const threads = parseCount('ponythreads', v.ponythreads ?? String(DEFAULT_DEMO_THREADS), 1);
  if (threads > 256) throw new RooError(ErrorCode.BadFlag, '--ponythreads: at most 256');
  if (v.file === '') throw new RooError(ErrorCode.BadFlag, '--file must not be empty');
  return {
    messages: parseCount('messages', v.messages ?? String(DEFAULT_DEMO_MESSAGES), 1),
    threads,
    file: v.file,
    verbose: v.verbose === true,
  };
}

// ---------------------------------------------------------------------------
// The independent count, and reading word count's output (pure).

/** A word, as word count defines it: a maximal run of Unicode letters and digits. */
const WORD = /[\p{L}\p{N}]+/gu;

/**
 * The lines `roo send` makes of a text: split at \n, one trailing \r
 * dropped, and a last line without a newline still a line.
 */
export function textLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** What word count must report after `messages` lines of a text, repeated. */
export interface ExpectedCounts {
  /** Lines in one copy of the text. */
  readonly linesPerPass: number;
  /** Final count of every word. */
  readonly counts: Map<string, number>;
  /** Sum of the counts: the number of outputs word count makes. */
  readonly totalWords: number;
}

/**
 * Counts the words of `messages` lines of `lines` repeated from the top: each
 * line is sent `floor(messages / L)` times, plus once more for the first
 * `messages mod L`. Written apart from the application's splitter (a regex,
 * not its hand-written scanner), so the check tests the splitter too.
 */
export function expectedCounts(lines: readonly string[], messages: number): ExpectedCounts {
  const counts = new Map<string, number>();
  const passes = Math.floor(messages / Math.max(lines.length, 1));
  let totalWords = 0;
  lines.forEach((line, i) => {
    const times = passes + (i < messages - passes * lines.length ? 1 : 0);
    if (times === 0) return;
    for (const [match] of line.matchAll(WORD)) {
      const word = match.toLowerCase();
      counts.set(word, (counts.get(word) ?? 0) + times);
      totalWords += times;
    }
  });
  return { linesPerPass: lines.length, counts, totalWords };
}

/**
 * Reads the sink's `word => count` lines chunk by chunk: keeps each word's
 * latest count and checks that a word's counts step by one. A key's outputs
 * are made on one thread and travel one FIFO path, so they arrive in order; a
 * skip or a repeat means a lost or duplicated message.
 */
export class WordTally {
  /** Latest count of each word. */
  readonly counts = new Map<string, number>();
  /** Output lines read. */
  outputs = 0;
  /** Lines that were not `word => count`, or did not follow the word's last count by one. */
  bad = 0;
  /** The first few bad lines, described. */
  readonly problems: string[] = [];
  private carry: Buffer | undefined;

  /** Takes the next chunk of output. */
  push(chunk: Buffer): void {
    const buf = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    const last = buf.lastIndexOf(NEWLINE);
    this.carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : undefined;
    // Whole lines only, so that no UTF-8 character is cut in two.
    if (last >= 0) this.lines(buf.toString('utf8', 0, last + 1));
  }

  /** Bytes of a last line still missing its newline. */
  get pendingBytes(): number {
    return this.carry?.length ?? 0;
  }

  private lines(text: string): void {
    for (
      let start = 0, nl = text.indexOf('\n');
      nl >= 0;
      start = nl + 1, nl = text.indexOf('\n', start)
    ) {
      this.outputs++;
      const sep = text.indexOf(' => ', start);
      const digits = sep >= 0 && sep < nl ? text.slice(sep + 4, nl) : '';
      if (!/^[0-9]+$/.test(digits)) {
        this.problem(`malformed output line '${text.slice(start, nl)}'`);
        continue;
      }
      const word = text.slice(start, sep);
      const count = Number(digits);
      const previous = this.counts.get(word) ?? 0;
      if (count !== previous + 1) this.problem(`'${word}' went from ${previous} to ${count}`);
      this.counts.set(word, count);
    }
  }

  private problem(text: string): void {
    this.bad++;
    if (this.problems.length < SHOWN_PROBLEMS) this.problems.push(text);
  }
}

/** A word whose final count is wrong (0: absent from one side). */
export interface CountMismatch {
  readonly word: string;
  readonly expected: number;
  readonly actual: number;
}

/** Compares every word's final count with the expected one, both ways; OK needs no mismatch. */
export function checkCounts(expected: ExpectedCounts, tally: WordTally): CountMismatch[] {
  const mismatches: CountMismatch[] = [];
  for (const [word, count] of expected.counts) {
    const actual = tally.counts.get(word) ?? 0;
    if (actual !== count) mismatches.push({ word, expected: count, actual });
  }
  for (const [word, actual] of tally.counts) {
    if (!expected.counts.has(word)) mismatches.push({ word, expected: 0, actual });
  }
  return mismatches;
}

/** True when the output is exactly what word count must produce. */
export function countsOk(expected: ExpectedCounts, tally: WordTally): boolean {
  return (
    tally.outputs === expected.totalWords &&
    tally.bad === 0 &&
    tally.pendingBytes === 0 &&
    checkCounts(expected, tally).length === 0
  );
}

/** The `n` most frequent words, most frequent first (ties alphabetical). */
export function topWords(counts: ReadonlyMap<string, number>, n: number): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}

// ---------------------------------------------------------------------------
// Children.

/** One `node bin/roo <command>` child process. */
class Child {
  /** Last lines of its stderr, to explain a failure. */
  readonly tail: string[] = [];
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
  /** How it ended, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly watchers = new Set<(line: string) => void>();

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    verbose: boolean,
  ) {
    this.exited = new Promise((done) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        done();
      }),
    );
    proc.once('error', (err) => this.keep(err.message));
    createInterface({ input: proc.stderr!, crlfDelay: Infinity }).on('line', (line) => {
      this.keep(line);
      if (verbose) process.stderr.write(`[${name}] ${line}\n`);
      for (const watch of this.watchers) watch(line);
    });
  }

  /** Calls `watch` with every further stderr line; returns the function that stops it. */
  onLine(watch: (line: string) => void): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace time. */
  async stop(): Promise<void> {
    if (this.exit !== undefined) return;
    this.proc.kill('SIGTERM');
    const grace = new AbortController();
    await Promise.race([this.exited, sleep(STOP_GRACE_MS, undefined, { signal: grace.signal })]);
    grace.abort();
    if (this.exit === undefined) this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** How it ended, with its last log lines. */
  describeExit(): string {
    const how =
      this.exit === undefined
        ? 'is still running'
        : this.exit.signal !== null
          ? `was killed by ${this.exit.signal}`
          : `exited with code ${this.exit.code}`;
    return `roo ${this.name} ${how}; its last lines:\n  ${this.tail.join('\n  ')}`;
  }

  private keep(line: string): void {
    if (this.tail.push(line) > TAIL_LINES) this.tail.shift();
  }
}

/** Every child of a run, so that every way out stops them all. */
class Children {
  private readonly all: Child[] = [];

  constructor(
    private readonly bin: string,
    private readonly verbose: boolean,
  ) {}

  /** Starts `node bin/roo <args>`; `args[0]` (the subcommand) names it. */
  start(args: string[]): Child {
    const proc = spawn(process.execPath, [this.bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = new Child(args[0] as string, proc, this.verbose);
    this.all.push(child);
    return child;
  }

  /** Stops every child still running, the last started first. */
  async stopAll(): Promise<void> {
    for (const child of [...this.all].reverse()) await child.stop();
  }

  /** Kills every child at once (a second Ctrl-C, or the process is exiting). */
  killAllNow(): void {
    for (const c of this.all) if (c.exit === undefined) c.proc.kill('SIGKILL');
  }
}

/** A failure the user should read (a child died, a timeout), not a bug. */
class DemoFailure extends Error {}

/**
 * Resolves with the first stderr line of `child` matching `pattern`; rejects
 * if the child exits first, after START_TIMEOUT_MS, or when `signal` aborts.
 */
function waitForLine(child: Child, pattern: RegExp, what: string, signal: AbortSignal) {
  return new Promise<RegExpExecArray>((resolveLine, reject) => {
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(START_TIMEOUT_MS)]);
    const finish = (result: RegExpExecArray | Error): void => {
      stopWatching();
      timeout.removeEventListener('abort', onTimeout);
      if (result instanceof Error) reject(result);
      else resolveLine(result);
    };
    const onTimeout = (): void =>
      finish(
        signal.aborted
          ? signal.reason
          : new DemoFailure(`roo ${child.name} never reported ${what}`),
      );
    const stopWatching = child.onLine((line) => {
      const m = pattern.exec(line);
      if (m !== null) finish(m);
    });
    timeout.addEventListener('abort', onTimeout, { once: true });
    // Its last lines may still be in the pipe at 'exit': give them a turn first.
    void child.exited.then(() =>
      setImmediate(() =>
        finish(new DemoFailure(`${child.describeExit()}\n(before it reported ${what})`)),
      ),
    );
  });
}

// ---------------------------------------------------------------------------
// Output.

/** Formats an integer with thousands separators. */
function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Progress: one line rewritten in place on a terminal, plain lines otherwise. */
class ProgressLine {
  private open = false;

  show(text: string): void {
    if (process.stdout.isTTY !== true) {
      process.stdout.write(`${text}\n`);
      return;
    }
    // A line wider than the terminal would wrap, and \r would not reach its start.
    const width = Math.max((process.stdout.columns || 80) - 1, 20);
    process.stdout.write(`\r\x1b[K${text.slice(0, width)}`);
    this.open = true;
  }

  /** Ends a rewritten line before other output. */
  end(): void {
    if (this.open) process.stdout.write('\n');
    this.open = false;
  }
}

// ---------------------------------------------------------------------------
// Stages.

/** Everything the stages of a run share. */
export interface DemoContext {
  readonly options: DemoOptions;
  /** The package root (holds bin/roo, data/, examples/). */
  readonly root: string;
  /** The text file sent. */
  readonly textPath: string;
  /** What word count must report. */
  readonly expected: ExpectedCounts;
  /** Word count's output as it arrives. */
  readonly tally: WordTally;
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** Every child process of the run. */
  readonly children: Children;
  readonly progress: ProgressLine;
  /** Resolves when the last expected count has arrived; `markCounted` resolves it. */
  readonly counted: Promise<void>;
  readonly markCounted: () => void;
  /** Prints a line of the run's narrative. */
  say(line: string): void;
  /** Addresses, once each has said where it listens. */
  receiverAddress?: string;
  sourceAddress?: string;
  receiver?: Child;
  worker?: Child;
  sender?: Child;
  /** performance.now() when the sender started, and when the last count arrived. */
  sendStartedMs?: number;
  lastOutputMs?: number;
  /** Lines the sender reports sent. */
  linesSent: number;
}

/** One step of a demo: start a process, send, wait, (later) crash one, recover... */
export interface DemoStage {
  /** What the step does, as shown to the user. */
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}

/** Starts `roo receive`; its stdout, word count's output, feeds the tally. */
const startReceiver: DemoStage = {
  title: 'starting roo receive (captures word count output)',
  async run(ctx) {
    const receiver = (ctx.receiver = ctx.children.start(['receive', '--listen', `${LOCAL}:0`]));
    receiver.proc.stdout!.on('data', (chunk: Buffer) => {
      ctx.tally.push(chunk);
      ctx.lastOutputMs = performance.now();
      if (ctx.tally.outputs >= ctx.expected.totalWords) ctx.markCounted();
    });
    const [, address] = await waitForLine(
      receiver,
      /^Listening on (\S+)/,
      'where it listens',
      ctx.signal,
    );
    ctx.receiverAddress = address;
    ctx.say(`receiver listening on ${address} (pid ${receiver.proc.pid})`);
  },
};

/** Starts a one-worker cluster running word count, its sink pointed at the receiver. */
const startWorker: DemoStage = {
  title: 'starting roo worker (word count)',
  async run(ctx) {
    const worker = (ctx.worker = ctx.children.start([
      ...['worker', '--application-module', join(ctx.root, WORD_COUNT_APP)],
      ...[
        '--in',
        `${LOCAL}:0`,
        '--out',
        ctx.receiverAddress!,
        '--ponythreads',
        `${ctx.options.threads}`,
      ],
      ...['--cluster-initializer', '--worker-count', '1'],
    ]));
    const listening = new RegExp(`source '${WORD_COUNT_SOURCE}' listening on (\\S+)`);
    const [, address] = await waitForLine(worker, listening, 'that its source listens', ctx.signal);
    ctx.sourceAddress = address;
    ctx.say(
      `worker ready: ${ctx.options.threads} scheduler threads, source listening on ${address} (pid ${worker.proc.pid})`,
    );
  },
};

/** Starts `roo send` with the text repeated to `--messages` lines. */
const startSender: DemoStage = {
  title: 'starting roo send (the text, repeated)',
  async run(ctx) {
    const { messages } = ctx.options;
    const { linesPerPass, totalWords } = ctx.expected;
    ctx.sendStartedMs = performance.now();
    const sender = (ctx.sender = ctx.children.start([
      ...['send', '--host', ctx.sourceAddress!, '--file', ctx.textPath],
      ...['--repeat', '--messages', `${messages}`],
    ]));
    // 'sent N messages ...': progress on stderr every 2 s, the final line on stdout.
    const sent = (text: string): void => {
      const m = /sent (\d+) messages/.exec(text);
      if (m !== null) ctx.linesSent = Number(m[1]);
    };
    sender.onLine(sent);
    sender.proc.stdout!.setEncoding('utf8').on('data', sent);
    const rest = messages % linesPerPass;
    ctx.say(
      `sending ${num(messages)} lines (the text ${num(Math.floor(messages / linesPerPass))} times` +
        `${rest > 0 ? ` and its first ${num(rest)} lines` : ''}): ${num(totalWords)} words (pid ${sender.proc.pid})`,
    );
  },
};

/**
 * Shows progress until every expected count has arrived, then watches a
 * moment longer for extra ones. Fails if a child dies or the sender fails;
 * stops waiting if no count arrives for STALL_TIMEOUT_MS.
 */
const awaitCounts: DemoStage = {
  title: 'counting',
  async run(ctx) {
    const total = ctx.expected.totalWords;
    const linesPerWord = ctx.options.messages / total;
    const startedMs = ctx.sendStartedMs ?? performance.now();
    let last = { ms: performance.now(), outputs: ctx.tally.outputs, changedMs: performance.now() };
    for (;;) {
      const tick = new AbortController();
      const done = await Promise.race([
        ctx.counted.then(() => true),
        sleep(PROGRESS_INTERVAL_MS, false, { signal: AbortSignal.any([ctx.signal, tick.signal]) }),
      ]).finally(() => tick.abort());
      const now = performance.now();
      const { outputs } = ctx.tally;
      const rate = ((outputs - last.outputs) * 1000) / Math.max(now - last.ms, 1);
      last = { ms: now, outputs, changedMs: outputs !== last.outputs ? now : last.changedMs };
      ctx.progress.show(
        `${((now - startedMs) / 1000).toFixed(0).padStart(4)} s  words ${num(outputs).padStart(11)} ` +
          `of ${num(total)} (${String(Math.floor((outputs * 100) / total)).padStart(2)}%)  ` +
          `${num(rate).padStart(9)} words/s  ${num(rate * linesPerWord).padStart(7)} lines/s`,
      );
      if (done) {
        // Everything expected is in; anything more would be a duplicate.
        await sleep(SETTLE_MS, undefined, { signal: ctx.signal });
        return;
      }
      const failed = [ctx.receiver, ctx.worker, ctx.sender].find(
        (c) => c?.exit !== undefined && (c !== ctx.sender || c.exit.code !== 0),
      );
      if (failed !== undefined) throw new DemoFailure(failed.describeExit());
      if (now - last.changedMs > STALL_TIMEOUT_MS) {
        ctx.progress.end();
        ctx.say(`no new count for ${STALL_TIMEOUT_MS / 1000} s; checking what arrived`);
        return;
      }
    }
  },
};

/** The stages of the single-worker word count demo, in order. */
export const WORD_COUNT_STAGES: readonly DemoStage[] = [
  startReceiver,
  startWorker,
  startSender,
  awaitCounts,
];

// ---------------------------------------------------------------------------
// Report and command.

/** Prints the top words, the totals, the throughput and the check; returns true for OK. */
function report(ctx: DemoContext): boolean {
  const { tally, expected } = ctx;
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`\nTop ${TOP_WORDS} words:`);
  topWords(tally.counts, TOP_WORDS).forEach(([word, count], i) => {
    out(`  ${String(i + 1).padStart(2)}. ${word.padEnd(16)} ${num(count).padStart(12)}`);
  });
  out(`\nLines sent:       ${num(ctx.linesSent)}`);
  out(`Words counted:    ${num(tally.outputs)} (expected ${num(expected.totalWords)})`);
  out(`Distinct words:   ${num(tally.counts.size)} (expected ${num(expected.counts.size)})`);
  // From starting roo send to the last count at the receiver.
  const seconds = ((ctx.lastOutputMs ?? 0) - (ctx.sendStartedMs ?? 0)) / 1000;
  if (ctx.lastOutputMs !== undefined && seconds > 0) {
    out(
      `Throughput:       ${num(tally.outputs / seconds)} words/s end to end ` +
        `(${num(ctx.linesSent / seconds)} lines/s over ${seconds.toFixed(1)} s)`,
    );
  }
  if (countsOk(expected, tally)) {
    out('Check:            OK (every final count equals an independent count of the text)');
    return true;
  }
  out('Check:            MISMATCH (against an independent count of the text)');
  const mismatches = checkCounts(expected, tally);
  for (const m of mismatches.slice(0, SHOWN_PROBLEMS)) {
    out(`  '${m.word}': expected ${num(m.expected)}, counted ${num(m.actual)}`);
  }
  if (mismatches.length > SHOWN_PROBLEMS)
    out(`  ... and ${num(mismatches.length - SHOWN_PROBLEMS)} more`);
  for (const p of tally.problems) out(`  ${p}`);
  if (tally.bad > tally.problems.length) out(`  ... ${num(tally.bad)} bad output lines in all`);
  return false;
}

/** The package root: the nearest directory above this module with bin/roo and package.json. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'roo')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new RooError(ErrorCode.Internal, `cannot find the roo package (bin/roo) above ${from}`);
}

/**
 * Runs `stages` in order over a fresh context, stops every child however the
 * run ends, and reports. Resolves to the exit code.
 */
export async function runStages(
  options: DemoOptions,
  stages: readonly DemoStage[],
): Promise<number> {
  const root = packageRoot();
  const textPath = resolve(options.file ?? join(root, BUNDLED_TEXT));
  let expected: ExpectedCounts;
  try {
    expected = expectedCounts(textLines(await readFile(textPath, 'utf8')), options.messages);
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
  let markCounted = (): void => undefined;
  const counted = new Promise<void>((r) => (markCounted = r));
  const ctx: DemoContext = {
    options,
    root,
    textPath,
    expected,
    tally: new WordTally(),
    signal: abort.signal,
    children,
    progress: new ProgressLine(),
    counted,
    markCounted,
    say: (line) => process.stdout.write(`${line}\n`),
    linesSent: 0,
  };
  const onSignal = (): void => {
    // A second Ctrl-C does not wait for a graceful stop.
    if (abort.signal.aborted) children.killAllNow();
    abort.abort();
  };
  const onExit = (): void => children.killAllNow();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal).on('exit', onExit);

  let failure: unknown;
  ctx.say(`roo demo: word count on ${textPath} (${num(expected.linesPerPass)} lines)`);
  try {
    for (const [i, stage] of stages.entries()) {
      ctx.say(`[${i + 1}/${stages.length}] ${stage.title}`);
      await stage.run(ctx);
    }
  } catch (err) {
    failure = err;
  }
  ctx.progress.end();
  ctx.say(
    abort.signal.aborted
      ? 'interrupted: stopping the processes it started'
      : 'stopping the sender, worker and receiver',
  );
  try {
    await children.stopAll();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal).off('exit', onExit);
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
  if (options !== 'help') return runStages(options, WORD_COUNT_STAGES);
  process.stdout.write(DEMO_USAGE);
  return 0;
}
