/**
 * A `roo receive --output FILE --ledger FILE` that a test can SIGKILL and
 * restart with the same command on the same port, and a follower of its
 * output file: waits for a number of lines or for every word's final count,
 * woken by the file's change events (fs.watch), never by a fixed sleep.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_WAIT_MS, LOCAL, RooProcess } from './processes.js';
import { restartablePort } from './restartable-cluster.js';

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
    await this.proc.sigkill();
  }
}

/**
 * Follows a file another process appends to (and may cut back after a
 * crash): reads only what was appended since the last look, and starts over
 * when the file got shorter. Keeps the number of lines and the highest count
 * output so far of each word (`word => n` lines).
 */
export class FileFollower {
  private watcher: FSWatcher | undefined;
  private waiters: { check: () => boolean }[] = [];
  /** Bytes read so far: up to the last whole line seen. */
  private offset = 0;
  private count = 0;
  private readonly top = new Map<string, number>();

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
        this.catchUp();
        return this.count >= n;
      },
      `${n} lines in ${this.path}`,
      timeoutMs,
    );
  }

  /** Resolves once every word of `expected` has had its final count output. */
  finalCounts(expected: ReadonlyMap<string, number>, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.until(
      () => {
        this.catchUp();
        for (const [word, n] of expected) if ((this.top.get(word) ?? 0) < n) return false;
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

  /** Reads what was appended since the last look (all of it again if the file got shorter). */
  private catchUp(): void {
    const size = statSync(this.path).size;
    if (size < this.offset) {
      this.offset = 0;
      this.count = 0;
      this.top.clear();
    }
    if (size === this.offset) return;
    const fd = openSync(this.path, 'r');
    let bytes: Buffer;
    try {
      bytes = Buffer.alloc(size - this.offset);
      let at = 0;
      while (at < bytes.length) {
        const n = readSync(fd, bytes, at, bytes.length - at, this.offset + at);
        if (n === 0) break;
        at += n;
      }
      bytes = bytes.subarray(0, at);
    } finally {
      closeSync(fd);
    }
    // Up to the last newline only: a line still being written is read again next time.
    const last = bytes.lastIndexOf(0x0a);
    this.offset += last + 1;
    const whole = bytes.subarray(0, last + 1).toString('utf8');
    for (const line of whole.split('\n')) {
      if (line === '') continue;
      this.count++;
      const at = line.lastIndexOf(' => ');
      if (at < 0) continue;
      const word = line.slice(0, at);
      const n = Number(line.slice(at + 4));
      if (n > (this.top.get(word) ?? 0)) this.top.set(word, n);
    }
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
