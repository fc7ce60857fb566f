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
 * The child-process and receiver helpers here are shared with latency.ts
 * and memory.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import net from 'node:net';
import { packageRoot } from '../runtime/cli/demo.js';

/** Loopback host every part listens on. */
export const LOCAL_HOST = '127.0.0.1';
/** How long a child may take to say where it listens. */
export const START_TIMEOUT_MS = 60_000;
/** With no new output for this long, a run is declared stuck. */
export const STALL_TIMEOUT_MS = 30_000;
/** After the last run, how long to watch for outputs beyond the expected total. */
const SETTLE_MS = 300;
/** How long a stopped child has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Lines of a child's stderr kept to explain a failure. */
const TAIL_LINES = 15;
/** How often a wait checks for a dead child or a stall. */
const WATCH_INTERVAL_MS = 100;

/** The package root (holds bin/roo, dist/, examples/). */
export function rootDir(): string {
  return packageRoot();
}

/** A failure of a benchmark part (a child died, a stall, a wrong count), not a bug in the bench. */
export class BenchFailure extends Error {}

/** One child process of a benchmark part: `node <script> <args>`. */
export class BenchChild {
  /** Last lines of its stderr. */
  readonly tail: string[] = [];
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
  /** How it ended, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly watchers = new Set<(line: string) => void>();

  private constructor(
    /** Name used in messages. */
    readonly name: string,
    /** The process. */
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((done) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        done();
      }),
    );
    proc.once('error', (err) => this.keep(err.message));
    const watch = (line: string): void => {
      this.keep(line);
      for (const w of this.watchers) w(line);
    };
    createInterface({ input: proc.stderr!, crlfDelay: Infinity }).on('line', watch);
    createInterface({ input: proc.stdout!, crlfDelay: Infinity }).on('line', watch);
  }

  /**
   * Starts `node <script> <args>` with info-level logs (the lines waited
   * for are info lines), whatever this process's ROO_LOG_LEVEL is.
   */
  static start(name: string, script: string, args: readonly string[]): BenchChild {
    const proc = spawn(process.execPath, [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ROO_LOG_LEVEL: 'info' },
    });
    return new BenchChild(name, proc);
  }

  /** Starts `node bin/roo <args>`; the subcommand names it. */
  static roo(args: readonly string[]): BenchChild {
    return BenchChild.start(`roo ${args[0] ?? ''}`, join(rootDir(), 'bin', 'roo'), args);
  }

  /** Its process id. */
  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Calls `watch` with every further line of its stdout and stderr; returns the unsubscribe. */
  onLine(watch: (line: string) => void): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }

  /**
   * Resolves with the first output line matching `pattern`; rejects if the
   * child exits first or START_TIMEOUT_MS passes.
   */
  waitForLine(pattern: RegExp, what: string): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new BenchFailure(`${this.name} never reported ${what}`)),
        START_TIMEOUT_MS,
      );
      const finish = (result: RegExpExecArray | Error): void => {
        clearTimeout(timer);
        stop();
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const stop = this.onLine((line) => {
        const m = pattern.exec(line);
        if (m !== null) finish(m);
      });
      void this.exited.then(() =>
        setImmediate(() => finish(new BenchFailure(`${this.describe()} (before ${what})`))),
      );
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace time. */
  async stop(): Promise<void> {
    if (this.exit !== undefined) return;
    this.proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((r) => (timer = setTimeout(r, STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (this.exit === undefined) this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** How it ended (or that it runs), with its last lines. */
  describe(): string {
    const how =
      this.exit === undefined
        ? 'is still running'
        : this.exit.signal !== null
          ? `was killed by ${this.exit.signal}`
          : `exited with code ${this.exit.code}`;
    return `${this.name} (pid ${this.pid}) ${how}; its last lines:\n  ${this.tail.join('\n  ')}`;
  }

  private keep(line: string): void {
    if (this.tail.push(line) > TAIL_LINES) this.tail.shift();
  }
}

/** Stops every child, the last started first; never throws. */
export async function stopAll(children: readonly (BenchChild | undefined)[]): Promise<void> {
  for (const child of [...children].reverse()) {
    if (child !== undefined) await child.stop().catch(() => undefined);
  }
}

/** How a receiver delimits outputs. */
export type OutputFraming = 'lines' | 'frames';

/**
 * Counts one output per newline (`lines`) or per length-prefixed frame
 * (`frames`) across chunk boundaries, without decoding anything.
 */
export class OutputTally {
  /** Outputs counted. */
  count = 0;
  /**
   * `lines` only: control bytes other than \n, \r and \t. Text outputs have
   * none, so any means the byte stream is corrupted (binary data where text
   * should be), not merely short.
   */
  controlBytes = 0;
  private header = 0;
  private headerBytes = 0;
  private skip = 0;

  constructor(private readonly framing: OutputFraming) {}

  /** Counts the outputs completed by `chunk`. */
  push(chunk: Buffer): void {
    if (this.framing === 'lines') {
      let n = 0;
      let control = 0;
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i] as number;
        if (c < 0x20) {
          if (c === 0x0a) n++;
          else if (c !== 0x0d && c !== 0x09) control++;
        }
      }
      this.count += n;
      this.controlBytes += control;
      return;
    }
    const len = chunk.length;
    let i = 0;
    while (i < len) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, len - i);
        this.skip -= k;
        i += k;
        if (this.skip === 0) this.count++;
        continue;
      }
      this.header = this.header * 256 + (chunk[i] as number);
      this.headerBytes++;
      i++;
      if (this.headerBytes === 4) {
        this.skip = this.header;
        this.header = 0;
        this.headerBytes = 0;
        if (this.skip === 0) this.count++;
      }
    }
  }
}

/**
 * A TCP receiver in this process that counts outputs as they arrive and
 * tells when a total was reached.
 */
export class CountingReceiver {
  private readonly tally: OutputTally;
  private readonly sockets = new Set<net.Socket>();
  private target = Infinity;
  private reached: ((atMs: number) => void) | undefined;
  /** performance.now() of the last data received. */
  lastDataMs = 0;
  /** Bytes received. */
  bytes = 0;

  private readonly server: net.Server;
  /** `host:port` it listens on, once listening. */
  address = '';

  private constructor(framing: OutputFraming) {
    this.tally = new OutputTally(framing);
    this.server = net.createServer({ noDelay: true }, (socket) => this.serve(socket));
  }

  /** Listens on a free loopback port. */
  static async listen(framing: OutputFraming): Promise<CountingReceiver> {
    const self = new CountingReceiver(framing);
    const server = self.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, LOCAL_HOST, () => resolve());
    });
    self.address = `${LOCAL_HOST}:${(server.address() as net.AddressInfo).port}`;
    return self;
  }

  /** Outputs counted so far. */
  get count(): number {
    return this.tally.count;
  }

  /** Control bytes seen (OutputTally.controlBytes). */
  get controlBytes(): number {
    return this.tally.controlBytes;
  }

  /** What arrived, for failure messages. */
  describe(): string {
    const corrupt =
      this.tally.controlBytes > 0
        ? `; ${this.tally.controlBytes} control bytes: the output is corrupted, not just short`
        : '';
    return `${this.tally.count} outputs, ${this.bytes} bytes received${corrupt}`;
  }

  /**
   * Resolves with performance.now() of the data that brought the count to
   * `target`. Rejects with BenchFailure when `failed()` returns a reason
   * (checked every 100 ms) or nothing arrives for STALL_TIMEOUT_MS.
   */
  waitFor(target: number, failed: () => string | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.tally.count >= target) {
        resolve(this.lastDataMs);
        return;
      }
      let lastCount = this.tally.count;
      let lastChange = performance.now();
      const watch = setInterval(() => {
        const now = performance.now();
        if (this.tally.count !== lastCount) {
          lastCount = this.tally.count;
          lastChange = now;
        }
        const reason =
          failed() ??
          (now - lastChange > STALL_TIMEOUT_MS
            ? `no output for ${STALL_TIMEOUT_MS / 1000} s, ${target - this.tally.count} short of ` +
              `${target} (${this.describe()})`
            : undefined);
        if (reason !== undefined) {
          done();
          reject(new BenchFailure(reason));
        }
      }, WATCH_INTERVAL_MS);
      const done = (): void => {
        clearInterval(watch);
        this.reached = undefined;
        this.target = Infinity;
      };
      this.target = target;
      this.reached = (atMs) => {
        done();
        resolve(atMs);
      };
    });
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      this.lastDataMs = performance.now();
      this.bytes += chunk.length;
      this.tally.push(chunk);
      if (this.tally.count >= this.target) this.reached?.(this.lastDataMs);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

/** Starts `roo worker` for `app` with `--ponythreads threads`; resolves with it and its source address. */
export async function startWorker(
  app: string,
  out: string,
  threads: number,
  appArgs: readonly string[] = [],
): Promise<{ worker: BenchChild; source: string }> {
  const worker = BenchChild.roo([
    ...['worker', '--application-module', app, '--in', `${LOCAL_HOST}:0`, '--out', out],
    ...['--ponythreads', String(threads), '--cluster-initializer', '--worker-count', '1'],
    ...(appArgs.length > 0 ? ['--', ...appArgs] : []),
  ]);
  try {
    const [, source] = await worker.waitForLine(
      /source '.*' listening on (\S+)/,
      'that its source listens',
    );
    return { worker, source: source as string };
  } catch (err) {
    await worker.stop();
    throw err;
  }
}

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
