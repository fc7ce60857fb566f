/**
 * Real `roo` processes for integration tests: spawn `node bin/roo ...`, wait
 * for a line on stderr or a number of lines on stdout (with a timeout, never
 * a fixed sleep), collect output, and stop (SIGTERM, then SIGKILL).
 *
 * Every process spawned here is tracked until it exits; call
 * {@link stopAll} from afterEach/afterAll so that a failing test leaves
 * nothing running. Waits reject at once if the process exits first, and every
 * failure message carries the tail of the process's stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The `roo` command (runs the compiled CLI in dist/). */
export const BIN = join(ROOT, 'bin', 'roo');
/** Loopback, the only interface tests listen on. */
export const LOCAL = '127.0.0.1';
/** Default time a wait may take before it fails. */
export const DEFAULT_WAIT_MS = 20_000;
/** Time a stopped process gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5_000;
/** The log line a worker writes once its sources are open (Wallaroo's). */
export const WORKER_READY = '|~~ INIT PHASE III: Application is ready to work! ~~|';

/** How to run a process. */
export interface SpawnOptions {
  /**
   * A command the process runs under, e.g. `['ip', 'netns', 'exec', 'ns1']`.
   * It must exec the process (not fork it) so that signals reach it.
   */
  readonly prefix?: readonly string[];
  /** Adds to (or overrides) the environment the process inherits. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The environment of a worker whose every `checkpoint N committed` line a
 * test waits for: the coordinator logs each commit at debug level (and only
 * a periodic summary at info).
 */
export const EACH_CHECKPOINT: SpawnOptions = { env: { ROO_LOG_LEVEL: 'debug' } };

/** How a process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Waiter {
  /** Returns true when satisfied (and has resolved its promise). */
  check(): boolean;
  fail(err: Error): void;
}

const live = new Set<RooProcess>();

/** Throws a clear error if the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'runtime', 'cli', 'main.js'))) {
    throw new Error("dist/runtime/cli/main.js is missing: run 'npm run build' first");
  }
}

/** One `node bin/roo ...` child process and what it has written. */
export class RooProcess {
  /** The child. */
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private newlines = 0;
  private err = '';
  private exit: Exit | undefined;
  private waiters: Waiter[] = [];

  private constructor(
    /** A short name for messages (`worker`, `receive`, ...). */
    readonly label: string,
    readonly args: readonly string[],
    /** The command that `args` follow (default `node bin/roo`). */
    command: readonly string[] = [process.execPath, BIN],
    env: Readonly<Record<string, string>> = {},
  ) {
    this.child = spawn(command[0]!, [...command.slice(1), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.out.push(chunk);
      this.outBytes += chunk.length;
      for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) this.newlines++;
      this.poke();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.err += chunk;
      this.poke();
    });
    this.exited = new Promise<Exit>((resolve) => {
      // 'close' comes after the output streams have ended: nothing more will arrive.
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        this.poke();
        for (const w of this.waiters.splice(0)) {
          w.fail(this.failure(`exited (code ${code}, signal ${signal}) before the wait was met`));
        }
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  /** Spawns `node bin/roo <args>` (under `options.prefix`, if given). */
  static spawn(label: string, args: readonly string[], options: SpawnOptions = {}): RooProcess {
    assertBuilt();
    return new RooProcess(
      label,
      args,
      [...(options.prefix ?? []), process.execPath, BIN],
      options.env,
    );
  }

  /** Spawns `node <args>` (a script, `-e CODE`, ...), tracked like a roo process. */
  static spawnNode(label: string, args: readonly string[], options: SpawnOptions = {}): RooProcess {
    return new RooProcess(label, args, [...(options.prefix ?? []), process.execPath], options.env);
  }

  /** Everything written to stdout so far. */
  get stdout(): Buffer {
    return Buffer.concat(this.out, this.outBytes);
  }

  /** Everything written to stdout so far, as UTF-8. */
  get stdoutText(): string {
    return this.stdout.toString('utf8');
  }

  /** Newlines written to stdout so far. */
  get stdoutLines(): number {
    return this.newlines;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.err;
  }

  /** How it ended, or undefined while it runs. */
  get exitStatus(): Exit | undefined {
    return this.exit;
  }

  /** Resolves with the first match of `pattern` on stderr (already written or to come). */
  waitForStderr(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpExecArray> {
    return this.wait(
      `stderr to match ${pattern}`,
      timeoutMs,
      () => pattern.exec(this.err) ?? undefined,
    );
  }

  /** Resolves once stdout holds at least `lines` newlines. */
  waitForStdoutLines(lines: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.wait(`${lines} lines on stdout (have ${this.newlines})`, timeoutMs, () =>
      this.newlines >= lines ? true : undefined,
    ).then(() => undefined);
  }

  /** Resolves when the process exits; fails (and kills it) after `timeoutMs`. */
  async waitForExit(timeoutMs = DEFAULT_WAIT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(this.failure(`did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * SIGKILLs it (it must still run) and waits until it is gone; throws if
   * it had exited, or ended some other way.
   */
  async sigkill(): Promise<void> {
    if (this.exitStatus !== undefined) throw this.failure('had exited before it was to be killed');
    this.child.kill('SIGKILL');
    const exit = await this.waitForExit();
    if (exit.signal !== 'SIGKILL')
      throw this.failure(`ended by ${exit.signal ?? exit.code}, not SIGKILL`);
  }

  /** Sends SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves on exit. */
  async stop(graceMs = STOP_GRACE_MS): Promise<Exit> {
    if (this.exit !== undefined) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** An error naming this process, with the tail of its stderr. */
  failure(what: string): Error {
    const tail = this.err.split('\n').slice(-25).join('\n');
    return new Error(
      `roo ${this.label} (${this.args.join(' ')}) ${what}\n--- stderr (tail) ---\n${tail}`,
    );
  }

  private wait<T>(what: string, timeoutMs: number, test: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const now = test();
      if (now !== undefined) {
        resolve(now);
        return;
      }
      if (this.exit !== undefined) {
        reject(this.failure(`had exited (code ${this.exit.code}) before ${what}`));
        return;
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(this.failure(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const found = test();
          if (found === undefined) return false;
          clearTimeout(timer);
          resolve(found);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private poke(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => !w.check());
  }
}

/** Stops every process still running (SIGTERM, then SIGKILL). For afterEach/afterAll. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

/** A running `roo receive`. */
export interface ReceiveProcess {
  readonly proc: RooProcess;
  /** The address it listens on, `127.0.0.1:<port>`. */
  readonly address: string;
}

/** Starts `roo receive --listen 127.0.0.1:0 [extra]` and waits until it listens. */
export async function startReceive(extra: readonly string[] = []): Promise<ReceiveProcess> {
  const proc = RooProcess.spawn('receive', ['receive', '--listen', `${LOCAL}:0`, ...extra]);
  const match = await proc.waitForStderr(/^Listening on (\S+:\d+)$/m);
  return { proc, address: match[1]! };
}

/** What {@link startWorker} needs. */
export interface WorkerSpec {
  /** Application module, relative to the repository root. */
  readonly module: string;
  /** `--ponythreads`. */
  readonly threads: number;
  /** `--out` address. */
  readonly out: string;
  /** `--in` value (default `127.0.0.1:0`). */
  readonly in?: string;
  /** More flags. */
  readonly extra?: readonly string[];
  /** More environment (e.g. ROO_LOG_FORMAT). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running `roo worker`. */
export interface WorkerProcess {
  readonly proc: RooProcess;
  /** Bound source addresses by source name, from `source '<name>' listening on <addr>`. */
  readonly sources: Readonly<Record<string, string>>;
  /** The only source's address (throws if there is not exactly one). */
  readonly source: string;
}

/** Starts a single-worker cluster and waits until it is ready to work. */
export async function startWorker(spec: WorkerSpec): Promise<WorkerProcess> {
  const proc = RooProcess.spawn(
    'worker',
    [
      'worker',
      '--application-module',
      spec.module,
      '--in',
      spec.in ?? `${LOCAL}:0`,
      '--out',
      spec.out,
      '--cluster-initializer',
      '--worker-count',
      '1',
      '--ponythreads',
      String(spec.threads),
      ...(spec.extra ?? []),
    ],
    spec.env === undefined ? {} : { env: spec.env },
  );
  await proc.waitForStderr(new RegExp(escapeRegExp(WORKER_READY)));
  const sources: Record<string, string> = {};
  for (const m of proc.stderr.matchAll(/source '(.+?)' listening on (\S+:\d+)$/gm)) {
    sources[m[1]!] = m[2]!;
  }
  const addresses = Object.values(sources);
  return {
    proc,
    sources,
    get source(): string {
      if (addresses.length !== 1) {
        throw proc.failure(`has ${addresses.length} listening sources, expected exactly one`);
      }
      return addresses[0]!;
    },
  };
}

/** What a finished `roo send` wrote. */
export interface SendOutcome {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `roo send --host <host> --file <file> [extra]` to completion; rejects unless it exits 0. */
export async function rooSend(
  host: string,
  file: string,
  extra: readonly string[] = [],
  options: SpawnOptions = {},
): Promise<SendOutcome> {
  const proc = RooProcess.spawn(
    'send',
    ['send', '--host', host, '--file', file, ...extra],
    options,
  );
  const exit = await proc.waitForExit();
  if (exit.code !== 0) throw proc.failure(`exited with code ${exit.code}`);
  return { stdout: proc.stdoutText, stderr: proc.stderr };
}

/** Runs `roo <args>` to completion and returns its exit and output. */
export async function runRoo(
  args: readonly string[],
  timeoutMs = DEFAULT_WAIT_MS,
  options: SpawnOptions = {},
): Promise<Exit & SendOutcome> {
  const proc = RooProcess.spawn(args[0] ?? 'roo', args, options);
  const exit = await proc.waitForExit(timeoutMs);
  return { ...exit, stdout: proc.stdoutText, stderr: proc.stderr };
}

/** Escapes `text` for use inside a RegExp. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
