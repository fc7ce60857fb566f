/**
 * A `roo receive --output FILE --ledger FILE` that a test can SIGKILL and
 * restart with the same command on the same port, and a follower of its
 * output file: waits for a number of lines or for every word's final count,
 * woken by the file's change events (fs.watch), never by a fixed sleep.
 */
import { existsSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_WAIT_MS, LOCAL, RooProcess } from './processes.js';
import { restartablePort } from './resilience.js';

/** A receiver writing to `dir/received.txt` with its ledger beside it. */
export class DurableReceiver {
  /** Every process started, in order (for the logs of a failed test). */
  readonly history: RooProcess[] = [];
  readonly output: string;
  readonly ledger: string;
  private current: RooProcess | undefined;

  private constructor(
    /** `127.0.0.1:PORT`: fixed, so that a restart listens where the sinks reconnect. */
    readonly address: string,
    dir: string,
  ) {
    this.output = join(dir, 'received.txt');
    this.ledger = join(dir, 'received.ledger');
  }

  /** Picks a port below the ephemeral range; starts nothing. */
  static async create(dir: string): Promise<DurableReceiver> {
    return new DurableReceiver(`${LOCAL}:${await restartablePort()}`, dir);
  }

  /** The command, the same at every start. */
  get args(): string[] {
    return ['receive', '--listen', this.address, '--output', this.output, '--ledger', this.ledger];
  }

  /** The latest process. */
  get proc(): RooProcess {
    if (this.current === undefined) throw new Error('the receiver was never started');
    return this.current;
  }

  /** Starts (or restarts) it with its command and waits until it listens. */
  async start(): Promise<RooProcess> {
    const label = `receive (start ${this.history.length + 1})`;
    this.current = RooProcess.spawn(label, this.args);
    this.history.push(this.current);
    await this.current.waitForStderr(/^Listening on /m);
    return this.current;
  }

  /** SIGKILLs it and waits until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    p.child.kill('SIGKILL');
    const exit = await p.waitForExit();
    if (exit.signal !== 'SIGKILL')
      throw p.failure(`ended by ${exit.signal ?? exit.code}, not SIGKILL`);
  }
}

/** The highest count output so far of each word of `text` (`word => n` lines). */
function highest(text: string): Map<string, number> {
  const top = new Map<string, number>();
  for (const line of text.split('\n')) {
    const at = line.lastIndexOf(' => ');
    if (at < 0) continue;
    const word = line.slice(0, at);
    const n = Number(line.slice(at + 4));
    if (n > (top.get(word) ?? 0)) top.set(word, n);
  }
  return top;
}

/** Follows a file another process appends to (and may cut back after a crash). */
export class FileFollower {
  private watcher: FSWatcher | undefined;
  private waiters: { check: () => boolean }[] = [];

  /** Creates the file empty if it does not exist, so that it can be watched at once. */
  constructor(readonly path: string) {
    if (!existsSync(path)) writeFileSync(path, '');
  }

  /** The file's text now. */
  text(): string {
    return readFileSync(this.path, 'utf8');
  }

  /** Resolves once the file holds at least `n` lines. */
  lines(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.until(
      () => {
        const text = this.text();
        let count = 0;
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
        return count >= n;
      },
      `${n} lines in ${this.path}`,
      timeoutMs,
    );
  }

  /** Resolves once every word of `expected` has had its final count output. */
  finalCounts(expected: ReadonlyMap<string, number>, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.until(
      () => {
        const top = highest(this.text());
        for (const [word, n] of expected) if ((top.get(word) ?? 0) < n) return false;
        return true;
      },
      `every word's final count in ${this.path}`,
      timeoutMs,
    );
  }

  /** Stops watching. */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.waiters = [];
  }

  private until(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (test()) return Promise.resolve();
    this.watch();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        check: (): boolean => {
          if (!test()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Re-checks the waiters on change events, at most once per 50 ms (the file may change often). */
  private watch(): void {
    if (this.watcher !== undefined) return;
    let pending: NodeJS.Timeout | undefined;
    this.watcher = watch(this.path, () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        this.waiters = this.waiters.filter((w) => !w.check());
      }, 50);
    });
  }
}
