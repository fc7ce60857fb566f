/**
 * The child processes of `roo bench`'s parts: {@link BenchChild} runs
 * `node <script>` (or `bin/roo`, with Node flags if asked) with its output
 * piped, keeps the last lines of it to explain a failure, waits for a line,
 * and stops the child with SIGTERM then SIGKILL; {@link startWorker} starts
 * a one-worker `roo worker`. Parts (a), (c) (steady-series.ts) and (d)
 * (engine-tcp.ts), latency.ts, memory.ts, cluster.ts and the resilience
 * benchmark use them; a receiver counting their outputs is in
 * counting-receiver.ts.
 */
import { createWriteStream } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../runtime/cli/demo.js';

/** Loopback host every part listens on. */
export const LOCAL_HOST = '127.0.0.1';
/** How long a child may take to say where it listens. */
export const START_TIMEOUT_MS = 60_000;
/** How long a stopped child has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Lines of a child's stderr kept to explain a failure. */
const TAIL_LINES = 15;

/** The package root (holds bin/roo, dist/, examples/). */
export function rootDir(): string {
  return packageRoot();
}

/** A failure of a benchmark part (a child died, a stall, a wrong count), not a bug in the bench. */
export class BenchFailure extends Error {}

/**
 * The environment of a worker whose every `checkpoint N committed` line a
 * bench waits for: the coordinator logs each commit at debug level (and
 * only a summary at info).
 */
export const EACH_CHECKPOINT: Readonly<Record<string, string>> = { ROO_LOG_LEVEL: 'debug' };

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
    // ROO_BENCH_LOG_DIR: every child's output also goes to a file there, to read afterwards.
    const dir = process.env['ROO_BENCH_LOG_DIR'];
    const file =
      dir === undefined || dir === ''
        ? undefined
        : createWriteStream(
            join(dir, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}-${proc.pid ?? 0}.log`),
          );
    const watch = (line: string): void => {
      this.keep(line);
      file?.write(line + '\n');
      for (const w of this.watchers) w(line);
    };
    createInterface({ input: proc.stderr!, crlfDelay: Infinity }).on('line', watch);
    createInterface({ input: proc.stdout!, crlfDelay: Infinity }).on('line', watch);
  }

  /**
   * Starts `node <nodeArgs> <script> <args>` with info-level logs (the lines
   * waited for are info lines), whatever this process's ROO_LOG_LEVEL is;
   * `env` adds to or overrides its environment (EACH_CHECKPOINT: debug logs).
   * `nodeArgs` are Node's own flags, e.g. `--cpu-prof`.
   */
  static start(
    name: string,
    script: string,
    args: readonly string[],
    nodeArgs: readonly string[] = [],
    env: Readonly<Record<string, string>> = {},
  ): BenchChild {
    const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ROO_LOG_LEVEL: 'info', ...env },
    });
    return new BenchChild(name, proc);
  }

  /** Starts `node <nodeArgs> bin/roo <args>`; the subcommand names it. */
  static roo(
    args: readonly string[],
    nodeArgs: readonly string[] = [],
    env: Readonly<Record<string, string>> = {},
  ): BenchChild {
    return BenchChild.start(
      `roo ${args[0] ?? ''}`,
      join(rootDir(), 'bin', 'roo'),
      args,
      nodeArgs,
      env,
    );
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

/**
 * Starts `roo worker` for `app` with `--ponythreads threads` (and Node flags
 * `nodeArgs`); resolves with it and its source address.
 */
export async function startWorker(
  app: string,
  out: string,
  threads: number,
  appArgs: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<{ worker: BenchChild; source: string }> {
  const worker = BenchChild.roo(
    [
      ...['worker', '--application-module', app, '--in', `${LOCAL_HOST}:0`, '--out', out],
      ...['--ponythreads', String(threads), '--cluster-initializer', '--worker-count', '1'],
      ...(appArgs.length > 0 ? ['--', ...appArgs] : []),
    ],
    nodeArgs,
  );
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

/** How often watchUntil asks whether something went wrong. */
const WATCH_EVERY_MS = 100;

/**
 * Waits until `untilMs` (performance.now()), throwing BenchFailure as soon
 * as `problem()` names one (checked every WATCH_EVERY_MS): a child that
 * died, output that went wrong.
 */
export async function watchUntil(
  untilMs: number,
  problem: () => string | undefined,
  /** How often to ask (default WATCH_EVERY_MS). */
  everyMs = WATCH_EVERY_MS,
): Promise<void> {
  for (;;) {
    const why = problem();
    if (why !== undefined) throw new BenchFailure(why);
    const left = untilMs - performance.now();
    if (left <= 0) return;
    await new Promise((r) => setTimeout(r, Math.min(left, everyMs)));
  }
}
