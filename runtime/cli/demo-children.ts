/**
 * The child processes of `roo demo`: each a `node bin/roo <command>`, as a
 * user would type it. Every child is registered in one set, so that every
 * way out of a run (success, failure, Ctrl-C, an exception) stops them all;
 * their stderr is watched for the lines that say where they listen, and its
 * last lines are kept to explain a failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a child may take to say what the demo waits for (it listens, it is ready). */
export const START_TIMEOUT_MS = 60_000;
/** How long a stopped child has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Lines of each child's stderr kept to explain a failure. */
const TAIL_LINES = 20;

/** A failure the user should read (a child died, a timeout), not a bug. */
export class DemoFailure extends Error {}

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One `node bin/roo <command>` child process. */
export class Child {
  /** Last lines of its stderr, to explain a failure. */
  readonly tail: string[] = [];
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
  /** How it ended, once it has. */
  exit: ChildExit | undefined;
  private readonly watchers = new Set<(line: string) => void>();

  constructor(
    /** What the demo calls it: 'receive', 'initializer', 'worker2', 'send', ... */
    readonly name: string,
    /** How messages name it: 'roo receive', "roo worker 'worker2'", ... */
    readonly label: string,
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
    if (!(await this.exitsWithin(STOP_GRACE_MS))) this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Resolves true once it has exited, or false after `ms`. */
  async exitsWithin(ms: number): Promise<boolean> {
    if (this.exit !== undefined) return true;
    const timer = new AbortController();
    await Promise.race([this.exited, sleep(ms, undefined, { signal: timer.signal })]).catch(
      () => undefined,
    );
    timer.abort();
    return this.exit !== undefined;
  }

  /** How it ended, in words: 'exited with code 0', 'was killed by SIGKILL', 'is still running'. */
  describeHow(): string {
    if (this.exit === undefined) return 'is still running';
    return this.exit.signal !== null
      ? `was killed by ${this.exit.signal}`
      : `exited with code ${this.exit.code}`;
  }

  /** How it ended, with its last log lines. */
  describeExit(): string {
    return `${this.label} ${this.describeHow()}; its last lines:\n  ${this.tail.join('\n  ')}`;
  }

  private keep(line: string): void {
    if (this.tail.push(line) > TAIL_LINES) this.tail.shift();
  }
}

/** Every child of a run, so that every way out stops them all. */
export class Children {
  private readonly all: Child[] = [];

  constructor(
    private readonly bin: string,
    private readonly verbose: boolean,
  ) {}

  /**
   * Starts `node bin/roo <args>`, named `name` (default: the subcommand,
   * `args[0]`); a named child is labelled `roo <subcommand> '<name>'`.
   */
  start(args: string[], name?: string): Child {
    const proc = spawn(process.execPath, [this.bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const command = args[0] as string;
    const label = name === undefined ? `roo ${command}` : `roo ${command} '${name}'`;
    const child = new Child(name ?? command, label, proc, this.verbose);
    this.all.push(child);
    return child;
  }

  /** Labels of the children still running, in the order they were started. */
  running(): string[] {
    return this.all.filter((c) => c.exit === undefined).map((c) => c.label);
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

/**
 * Starts watching `child`'s stderr for a line matching `pattern`, at once, so
 * that a line logged while the demo waits for something else is not missed.
 * The promise resolves with the match; it rejects if the child exits first,
 * after START_TIMEOUT_MS, or when `signal` aborts. It is marked handled, so
 * it may be awaited later (or never) without an unhandled rejection.
 */
export function watchFor(
  child: Child,
  pattern: RegExp,
  what: string,
  signal: AbortSignal,
): Promise<RegExpExecArray> {
  const found = new Promise<RegExpExecArray>((resolveLine, reject) => {
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(START_TIMEOUT_MS)]);
    let settled = false;
    const finish = (result: RegExpExecArray | Error): void => {
      if (settled) return;
      settled = true;
      stopWatching();
      timeout.removeEventListener('abort', onTimeout);
      if (result instanceof Error) reject(result);
      else resolveLine(result);
    };
    const onTimeout = (): void =>
      finish(
        signal.aborted
          ? (signal.reason as Error)
          : new DemoFailure(`${child.label} never reported ${what}`),
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
  found.catch(() => undefined);
  return found;
}

/**
 * Like watchFor, for a line that says where `child` listens: resolves with
 * the address, the pattern's first group. Marked handled too.
 */
export function watchAddress(
  child: Child,
  pattern: RegExp,
  what: string,
  signal: AbortSignal,
): Promise<string> {
  const address = watchFor(child, pattern, what, signal).then((m) => m[1] as string);
  address.catch(() => undefined);
  return address;
}

/** What a short-lived tool (`roo status`, `roo shutdown`) printed, and how it ended. */
export interface ToolRun {
  readonly stdout: string;
  readonly exit: ChildExit;
}

/**
 * Runs a short-lived `roo` tool to the end, collecting its stdout. Fails
 * with a DemoFailure if it does not end within START_TIMEOUT_MS, and stops
 * it when `signal` aborts.
 */
export async function runTool(
  children: Children,
  args: string[],
  signal: AbortSignal,
): Promise<ToolRun> {
  const tool = children.start(args);
  let stdout = '';
  tool.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const onAbort = (): void => void tool.stop();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (!(await tool.exitsWithin(START_TIMEOUT_MS))) {
      await tool.stop();
      throw new DemoFailure(`roo ${args.join(' ')} did not finish`);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw signal.reason as Error;
  // stdout may still hold its last bytes at 'exit'.
  if (!tool.proc.stdout!.closed) await new Promise((r) => tool.proc.stdout!.once('close', r));
  return { stdout, exit: tool.exit as ChildExit };
}

/**
 * Runs a short-lived `roo` tool as runTool does, and fails with a
 * DemoFailure unless it exits with code 0; resolves with its stdout.
 */
export async function runToolOk(
  children: Children,
  args: string[],
  signal: AbortSignal,
): Promise<string> {
  const run = await runTool(children, args, signal);
  if (run.exit.code !== 0) {
    throw new DemoFailure(`roo ${args.join(' ')} exited with code ${run.exit.code}`);
  }
  return run.stdout;
}
