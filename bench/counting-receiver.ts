/**
 * A TCP receiver in the bench process that counts a part's outputs as they
 * arrive, without decoding them: one per newline (the roo worker's TCP sink
 * writes `word => count\n` unframed) or one per length-prefixed frame (the
 * hand-written word count, whose frame headers may contain a 0x0a byte).
 * Used by part (d) (engine-tcp.ts) and cluster.ts.
 */
import net from 'node:net';
import { BenchFailure, LOCAL_HOST } from './bench-child.js';

/** With no new output for this long, a run is declared stuck. */
export const STALL_TIMEOUT_MS = 30_000;
/** How often a wait checks for a dead child or a stall. */
const WATCH_INTERVAL_MS = 100;

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
