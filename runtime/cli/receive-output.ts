/**
 * The output path of `roo receive`: every connection's bytes go through one
 * {@link ReceiverOutput}. To stdout (or any stream) that is an
 * {@link OutputBuffer}, batched into 64 KB buffers written at most once per
 * event-loop turn; when the stream pushes back the receiver pauses every
 * connection until it drains. With `--output FILE --ledger FILE` it is a
 * DurableOutput (receive-durable.ts). In raw mode each plain connection's
 * bytes pass a {@link WholeLines} first, so connections interleave only at
 * line ends.
 */
import type { Writable } from 'node:stream';

/**
 * Where a receiver's bytes go, and when the exactly-once transactions among
 * them count as applied: an output calls its `onDurable` with the
 * transactions it has made safe (handed to stdout; on disk with a ledger),
 * and the receiver acknowledges those to their sinks.
 */
export interface ReceiverOutput {
  /** True while the output pushes back: connections stay paused. */
  readonly isBlocked: boolean;
  /** Queues `bytes`, followed by a newline if `newline`. */
  append(bytes: Buffer, newline: boolean): void;
  /** Transaction `epoch` of `sink` has been appended whole: report it once it is safe. */
  applied(sink: string, epoch: number): void;
  /** Writes what is queued. */
  flush(): void;
  /**
   * Writes what is queued and releases the output (a file is closed, stdout
   * stays open); resolves once written. Later appends are ignored.
   */
  close(): Promise<void>;
}

/** Called with the highest epoch per sink made safe by one flush. */
export type OnDurable = (applied: ReadonlyMap<string, number>) => void;

/** Size of the output buffers (one stdout write each, at most). */
export const OUTPUT_BUFFER_BYTES = 64 * 1024;
/** Raw mode: bytes of one connection held waiting for a newline before they are written anyway. */
export const RAW_HOLD_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

/**
 * Batches output into 64 KB buffers, written once per event-loop turn or when
 * full. A buffer's written part is never reused (the stream may hold it).
 * Reports when the stream pushes back and when it has drained, and, after
 * each write, the transactions it carried (handed to the stream is as safe
 * as stdout gets; a receiver that must survive its own crash writes to a
 * file with a ledger instead).
 */
export class OutputBuffer implements ReceiverOutput {
  private buffer = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
  private start = 0;
  private pos = 0;
  private scheduled = false;
  private blocked = false;
  private broken = false;
  private closed = false;
  /** Transactions appended since the last write: the highest epoch per sink. */
  private marks = new Map<string, number>();

  constructor(
    private readonly out: Writable,
    private readonly onBlocked: () => void,
    private readonly onDrained: () => void,
    log: (line: string) => void,
    private readonly onDurable: OnDurable = () => undefined,
    /** End the stream on close (a file this receiver opened), rather than leave it open (stdout). */
    private readonly endOnClose = false,
  ) {
    // A closed stdout (`roo receive | head`) must not crash the receiver: keep counting.
    out.on('error', (err) => {
      if (this.broken) return;
      this.broken = true;
      log(`roo receive: output failed (${err.message}); counting only from now on`);
      if (this.blocked) {
        this.blocked = false;
        this.onDrained();
      }
    });
  }

  /** True while the stream is pushing back. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  /** Queues `bytes`, followed by a newline if `newline`. */
  append(bytes: Buffer, newline: boolean): void {
    if (this.broken || this.closed) return;
    const need = bytes.length + (newline ? 1 : 0);
    if (this.buffer.length - this.pos < need) {
      this.write();
      this.buffer = Buffer.allocUnsafe(Math.max(OUTPUT_BUFFER_BYTES, need));
      this.start = 0;
      this.pos = 0;
    }
    bytes.copy(this.buffer, this.pos);
    this.pos += bytes.length;
    if (newline) this.buffer[this.pos++] = NEWLINE;
    this.schedule();
  }

  applied(sink: string, epoch: number): void {
    this.marks.set(sink, epoch);
    this.schedule();
  }

  /** Writes what is queued, then reports the transactions it held. */
  flush(): void {
    this.scheduled = false;
    this.write();
    if (this.marks.size === 0) return;
    const marks = this.marks;
    this.marks = new Map();
    this.onDurable(marks);
  }

  close(): Promise<void> {
    this.flush();
    this.closed = true;
    if (this.broken) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.endOnClose) this.out.end(() => resolve());
      else this.out.write('', () => resolve());
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private write(): void {
    if (this.pos === this.start || this.broken) return;
    const room = this.out.write(this.buffer.subarray(this.start, this.pos));
    this.start = this.pos;
    if (!room && !this.blocked) {
      this.blocked = true;
      this.onBlocked();
      this.out.once('drain', () => {
        if (!this.blocked) return;
        this.blocked = false;
        this.onDrained();
      });
    }
  }
}

/**
 * Raw mode's per-connection line holder. Raw mode writes whole lines per
 * connection: several workers' sinks connect at once, and a chunk ending
 * mid-line must not be followed by another connection's bytes. Input without
 * newlines is written as it comes once {@link RAW_HOLD_BYTES} have gathered,
 * so at most that much is held per connection.
 */
export class WholeLines {
  /** The connection's bytes after its last newline, not yet written. */
  private carry: Buffer | undefined;

  constructor(private readonly output: ReceiverOutput) {}

  /** Writes `chunk` up to its last newline; holds the rest until more arrives. */
  append(chunk: Buffer): void {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      this.carry =
        this.carry === undefined ? Buffer.from(chunk) : Buffer.concat([this.carry, chunk]);
      if (this.carry.length >= RAW_HOLD_BYTES) {
        this.output.append(this.carry, false);
        this.carry = undefined;
      }
      return;
    }
    if (this.carry !== undefined) {
      this.output.append(this.carry, false);
      this.carry = undefined;
    }
    this.output.append(chunk.subarray(0, last + 1), false);
    if (last + 1 < chunk.length) this.carry = Buffer.from(chunk.subarray(last + 1));
  }

  /** The connection ended: writes a last unterminated line if `write`, and forgets it. */
  flush(write: boolean): void {
    if (this.carry !== undefined && write) this.output.append(this.carry, false);
    this.carry = undefined;
  }
}
