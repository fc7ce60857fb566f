/**
 * Sinks in two parts:
 * - a sink encoder on every thread: encodes each output where it was made
 *   (so encoding scales with threads) into a buffer, shipped to the writer
 *   in chunks;
 * - one sink writer actor per sink and worker (one connection, as in Wallaroo):
 *   writes the buffers in arrival order, and pauses while its output is
 *   congested or disconnected, so its mailbox grows and sources mute
 *   (backpressure rule 6) and nothing is dropped.
 * Outputs of one key are made on one thread and travel one FIFO path, so a
 * key's outputs reach the sink in order.
 */
import type { ActorRef, Behaviour, Scheduler, ThreadLoop } from '../../actors/index.js';
import { ErrorCode, writeUtf8 } from '../../protocols/index.js';
import type { Encoder } from '../api/connectors.js';
import type { Output } from '../connectors/output.js';
import type { ErrorReporter } from './error-reporter.js';
import { TAG_BYTES } from './tags.js';

const SHIP_BYTES = 16 * 1024;

/** Counters of a sink encoder. */
export interface SinkEncoderCounters {
  received: number;
  shipped: number;
}

/**
 * Encodes a sink's outputs on one thread. Not an actor: it is coalesced into
 * the stage that emits to the sink (as stateless steps are), so an output is
 * encoded the moment it is made and never waits in a mailbox. Its buffer
 * ships to the writer when it passes SHIP_BYTES or when the thread flushes
 * its outbound batches at the end of a slice (`Scheduler.onFlush`).
 */
export class SinkEncoder {
  readonly counters: SinkEncoderCounters = { received: 0, shipped: 0 };
  private buf = Buffer.allocUnsafe(SHIP_BYTES * 2);
  private pos = 0;
  private pending = 0;
  /** Set at wiring: the writer's address; undefined for a null sink (count only). */
  writer: ActorRef | undefined;
  /** Encodes one output (bound, for use as an emit function). */
  readonly encode: (value: unknown) => void;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly encoder: Encoder<unknown> | undefined,
    private readonly errors: ErrorReporter,
    private readonly where: string,
  ) {
    this.encode = (value) => this.add(value);
    scheduler.onFlush(() => {
      if (this.pos > 0) this.ship();
    });
  }

  private add(value: unknown): void {
    this.counters.received++;
    if (this.encoder === undefined || this.writer === undefined) return;
    let out: string | Uint8Array;
    try {
      out = this.encoder(value);
    } catch (err) {
      this.errors.report(err, ErrorCode.EncoderFailed, this.where);
      return;
    }
    if (typeof out === 'string') {
      this.ensure(out.length * 3);
      this.pos += writeUtf8(this.buf, this.pos, out);
    } else {
      this.ensure(out.length);
      this.buf.set(out, this.pos);
      this.pos += out.length;
    }
    this.pending++;
    if (this.pos >= SHIP_BYTES) this.ship();
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private ship(): void {
    const chunk = Buffer.from(this.buf.subarray(0, this.pos));
    this.scheduler.send(this.writer as ActorRef, TAG_BYTES, chunk, this.pending);
    this.counters.shipped += this.pending;
    this.pos = 0;
    this.pending = 0;
  }
}

/** Counters of a sink writer. */
export interface SinkWriterCounters {
  outputs: number;
  bytes: number;
}

/** Writes a sink's bytes to its output, one connection per worker. */
export class SinkWriterActor implements Behaviour {
  readonly counters: SinkWriterCounters = { outputs: 0, bytes: 0 };
  private held: Uint8Array | undefined;
  private heldCount = 0;
  /** Set at wiring: this actor's own address. */
  self: ActorRef = -1;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly loop: ThreadLoop,
    private readonly output: Output,
  ) {
    output.onWritable = () => this.writable();
  }

  get paused(): boolean {
    return this.held !== undefined || !this.output.writable;
  }

  receive(_tag: number, bytes: unknown, count: unknown): void {
    const chunk = bytes as Uint8Array;
    if (!this.output.writable) {
      this.held = chunk;
      this.heldCount = count as number;
      return;
    }
    this.output.write(chunk);
    this.counters.outputs += count as number;
    this.counters.bytes += chunk.length;
  }

  receiveRuntime(): void {}

  /** Flushes and closes the output. */
  close(): Promise<void> {
    return this.output.close();
  }

  private writable(): void {
    if (this.held !== undefined && this.output.writable) {
      const chunk = this.held;
      this.held = undefined;
      this.output.write(chunk);
      this.counters.outputs += this.heldCount;
      this.counters.bytes += chunk.length;
    }
    if (!this.paused) {
      this.scheduler.resume(this.self);
      this.loop.kick();
    }
  }
}

export { TAG_BYTES };
