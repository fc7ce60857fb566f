/**
 * Where a sink writer's bytes go: a TCP connection (reconnecting), a file, or
 * standard output. All share one small interface so the writer actor does not
 * care which.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Socket } from 'node:net';
import { formatAddress, type Address } from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';

/** A byte output with backpressure. */
export interface Output {
  /** Writes bytes; returns false when the caller should wait for `onWritable`. */
  write(bytes: Uint8Array): boolean;
  /** Called whenever the output becomes writable again (drained or reconnected). */
  onWritable: () => void;
  /** True when writes can be accepted now. */
  readonly writable: boolean;
  /** Flushes and closes. */
  close(): Promise<void>;
}

const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A TCP connection to a sink address. Connects at once and reconnects with
 * backoff whenever the connection fails or closes; while it is down it is
 * not writable, so the writer pauses, its mailbox grows, and the sources mute
 * (no output is dropped).
 */
export class TcpOutput implements Output {
  onWritable: () => void = () => undefined;
  /**
   * Called when a connection is up, after the greeting and before
   * `onWritable`; `again` when an earlier one broke (bytes written to it may
   * be lost).
   */
  onConnect: ((again: boolean) => void) | undefined;
  /** Called when the connection is down (closed or failed), before a retry is scheduled. */
  onDisconnect: (() => void) | undefined;
  /** Called with bytes the peer sends back; without it they are never read. */
  onData: ((chunk: Buffer) => void) | undefined;
  private everConnected = false;
  private socket: Socket | undefined;
  private connected = false;
  private congested = false;
  private closed = false;
  private delay = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | undefined;
  private warnedDown = false;

  constructor(
    private readonly address: Address,
    private readonly log: Logger,
    /** Bytes written first on every connection (an exactly-once sink's hello). */
    private readonly greeting?: Uint8Array,
  ) {
    this.connect();
  }

  get writable(): boolean {
    return this.connected && !this.congested;
  }

  write(bytes: Uint8Array): boolean {
    const s = this.socket;
    if (s === undefined || !this.connected) return false;
    // The chunks written in one turn of the event loop (a loop iteration of
    // the thread) go out in one system call (writev) rather than one each.
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    const ok = s.write(bytes);
    if (!ok) this.congested = true;
    return ok;
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };

  close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const s = this.socket;
    if (s === undefined || !this.connected) {
      s?.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      s.end(() => resolve());
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 2_000).unref();
    });
  }

  private connect(): void {
    const s = new Socket();
    this.socket = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      if (this.greeting !== undefined) s.write(this.greeting);
      this.connected = true;
      this.congested = false;
      this.delay = RECONNECT_MIN_MS;
      this.onConnect?.(this.everConnected);
      this.everConnected = true;
      if (this.warnedDown)
        this.log.info(`sink connection to ${formatAddress(this.address)} is up again`);
      this.warnedDown = false;
      this.onWritable();
    });
    s.on('drain', () => {
      this.congested = false;
      this.onWritable();
    });
    s.on('error', (err) => {
      if (!this.warnedDown && !this.closed) {
        this.log.warn(
          `sink connection to ${formatAddress(this.address)} failed (${err.message}); retrying`,
        );
        this.warnedDown = true;
      }
    });
    s.on('data', (chunk: Buffer) => {
      // Only this connection's: a reply from a broken one must not count.
      if (this.socket === s) this.onData?.(chunk);
    });
    s.on('close', () => {
      const was = this.connected && this.socket === s;
      this.connected = false;
      if (was) this.onDisconnect?.();
      if (this.closed) return;
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    });
    // A connection attempt that gets no answer at all (a dropped SYN) would
    // otherwise hang for minutes without a word: give up and retry, saying so.
    s.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (this.connected) return;
      if (!this.warnedDown && !this.closed) {
        this.log.warn(
          `sink connection to ${formatAddress(this.address)} got no answer in ${CONNECT_TIMEOUT_MS} ms; retrying`,
        );
        this.warnedDown = true;
      }
      s.destroy();
    });
    s.once('connect', () => s.setTimeout(0));
    s.connect(this.address.port, this.address.host);
  }
}

/** A file (appended to) or standard output (fd 1). */
export class StreamOutput implements Output {
  onWritable: () => void = () => undefined;
  private congested = false;
  private readonly stream: Writable;
  private readonly owned: boolean;

  /**
   * A file (appended to), or this process's standard output. Standard output
   * goes through `process.stdout`: on a scheduler thread that is Node's
   * stream to the main thread, which writes fd 1 with flow control (writing
   * fd 1 straight from a thread fails with EAGAIN once a slow reader fills a
   * non-blocking pipe, and kills the thread).
   */
  constructor(target: { path: string } | { stdout: true }) {
    this.owned = 'path' in target;
    this.stream =
      'path' in target ? createWriteStream(target.path, { flags: 'a' }) : process.stdout;
    this.stream.on('drain', () => {
      this.congested = false;
      this.onWritable();
    });
  }

  get writable(): boolean {
    return !this.congested;
  }

  write(bytes: Uint8Array): boolean {
    const ok = this.stream.write(bytes);
    if (!ok) this.congested = true;
    return ok;
  }

  close(): Promise<void> {
    if (this.owned) return new Promise((resolve) => this.stream.end(() => resolve()));
    // Standard output stays open: wait until what was written has gone out.
    return new Promise((resolve) => this.stream.write('', () => resolve()));
  }
}
