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
import {
  MAX_BATCH_AGE_MS,
  trace,
  TraceKind,
  type ActorRef,
  type Behaviour,
  type Scheduler,
  type ThreadLoop,
} from '../../actors/index.js';
import { ErrorCode } from '../../protocols/index.js';
import type { Encoder, OutputWriter } from '../api/connectors.js';
import type { Output } from '../connectors/output.js';
import { bitOf, cursor, EPOCH_BIT, RT_BARRIER, RT_COMMIT } from './epochs.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import { BarrierCount } from './stage-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import { OutputBuffer } from './output-buffer.js';
import { TAG_BYTES } from './tags.js';

const SHIP_BYTES = 16 * 1024;
/** Transactions an exactly-once sink writes again after a reconnect (see `SinkWriterActor.written`). */
const RESEND_TRANSACTIONS = 3;

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
 * its outbound batches at the end of a slice (`Scheduler.onFlush`), or, in
 * a long turn, once its first output is MAX_BATCH_AGE_MS old.
 */
export class SinkEncoder {
  readonly counters: SinkEncoderCounters = { received: 0, shipped: 0 };
  /** Upstream actors on this thread; barrier k goes on once each has passed it. */
  readonly barriers = new BarrierCount();
  /** Per epoch bit: the bytes encoded and the outputs in them. */
  private readonly outs = [new OutputBuffer(SHIP_BYTES * 2), new OutputBuffer(SHIP_BYTES * 2)];
  private readonly pending = [0, 0];
  /** performance.now() of each buffer's first output (see MAX_BATCH_AGE_MS). */
  private readonly started = [0, 0];
  /** The epoch bit of the checkpoint in progress (outputs of the other bit come after it). */
  private bit = 0;
  /** Set at wiring: the writer's address; undefined for a null sink (count only). */
  writer: ActorRef | undefined;
  /** Encodes one output (bound, for use as an emit function). */
  readonly encode: (value: unknown) => void;
  /** An upstream actor of this thread passed barrier k (bound). */
  readonly barrier: (checkpointId: number) => void;
  /** The encoder as a function returning bytes or a string, or undefined. */
  private readonly toBytes: ((output: unknown) => string | Uint8Array) | undefined;
  /** The encoder as one that writes into the buffer (encodeInto), or undefined. */
  private readonly into: ((output: unknown, out: OutputWriter) => void) | undefined;

  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  constructor(
    private readonly scheduler: Scheduler,
    encoder: Encoder<unknown> | undefined,
    private readonly errors: ErrorReporter,
    private readonly where: string,
  ) {
    this.toBytes = typeof encoder === 'function' ? encoder : undefined;
    this.into = typeof encoder === 'object' ? encoder.into : undefined;
    this.encode = (value) => this.add(value);
    this.barrier = (id) => {
      if (this.barriers.arrive()) this.pass(id);
    };
    scheduler.onFlush(() => this.shipAll());
  }

  /** Every upstream actor passed barrier k: ship what came before it, then the barrier. */
  pass(id: number): void {
    if (this.writer === undefined) return;
    const b = this.bit;
    if ((this.outs[b] as OutputBuffer).pos !== 0) this.ship(b);
    this.scheduler.send(this.writer, RT_BARRIER, id, undefined);
    this.bit ^= 1;
  }

  private add(value: unknown): void {
    this.counters.received++;
    if (this.writer === undefined) return;
    const b = cursor.bit;
    const out = this.outs[b] as OutputBuffer;
    const start = out.pos;
    try {
      if (this.into !== undefined) this.into(value, out);
      else if (this.toBytes !== undefined) {
        const bytes = this.toBytes(value);
        if (typeof bytes === 'string') out.text(bytes);
        else out.bytes(bytes);
      } else return;
    } catch (err) {
      // Nothing of a failed output is sent: what it wrote is discarded.
      out.pos = start;
      this.errors.report(err, ErrorCode.EncoderFailed, this.where);
      return;
    }
    const n = (this.pending[b] as number) + 1;
    this.pending[b] = n;
    if (n === 1) this.started[b] = performance.now();
    if (
      out.pos >= SHIP_BYTES ||
      ((n & 63) === 0 && performance.now() - (this.started[b] as number) >= MAX_BATCH_AGE_MS)
    ) {
      // Outputs of the epoch in progress go first: a key's outputs stay in order.
      if (b !== this.bit && (this.outs[this.bit] as OutputBuffer).pos !== 0) this.ship(this.bit);
      this.ship(b);
    }
  }

  private shipAll(): void {
    if ((this.outs[this.bit] as OutputBuffer).pos !== 0) this.ship(this.bit);
    if ((this.outs[this.bit ^ 1] as OutputBuffer).pos !== 0) this.ship(this.bit ^ 1);
  }

  private ship(b: number): void {
    const chunk = (this.outs[b] as OutputBuffer).take();
    const count = this.pending[b] as number;
    this.scheduler.send(this.writer as ActorRef, TAG_BYTES + b * EPOCH_BIT, chunk, count);
    this.counters.shipped += count;
    this.pending[b] = 0;
  }
}

/** Counters of a sink writer. */
export interface SinkWriterCounters {
  outputs: number;
  bytes: number;
}

/**
 * An exactly-once sink's framing: the bytes of one committed checkpoint's
 * output as a transaction the receiver applies once (protocols/sink-txn.ts).
 */
export type TxnFramer = (checkpointId: number, body: Uint8Array) => Uint8Array;

/**
 * Writes a sink's bytes to its output, one connection per worker.
 *
 * At least once (the default): bytes are written as they come; after a
 * recovery, output made after the last checkpoint is made again.
 * Exactly once (`txn` set): output is held per checkpoint, recorded in the
 * checkpoint on the barrier, and written as one transaction when the
 * checkpoint commits (two-phase commit); the receiver drops a transaction it
 * already applied, so a recovered sink may safely write it again.
 */
export class SinkWriterActor implements Behaviour {
  readonly counters: SinkWriterCounters = { outputs: 0, bytes: 0 };
  /** One barrier per checkpoint from the sink's encoder on every thread of this worker. */
  readonly barriers = new BarrierCount();
  /** Bytes waiting for the output to be writable, in order. */
  private queue: Uint8Array[] = [];
  private queuedCount: number[] = [];
  /** Set at wiring: this actor's own address. */
  self: ActorRef = -1;
  /** Exactly once: the epoch bit of the checkpoint in progress, and its output per bit. */
  private bit = 0;
  private open: Uint8Array[][] = [[], []];
  private readonly openCount = [0, 0];
  /** Exactly once: output of checkpoints taken but not yet committed, oldest first. */
  private pending: [number, Uint8Array, number][] = [];
  /**
   * Exactly once: the newest transactions written. The protocol has no
   * acknowledgement, so after a reconnect they are written again (bytes in
   * the broken connection's buffers may be lost); the receiver drops the ones
   * it has.
   */
  private written: Uint8Array[] = [];

  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  constructor(
    private readonly scheduler: Scheduler,
    private readonly loop: ThreadLoop,
    private readonly output: Output,
    readonly sink: number,
    private readonly checkpoints: CheckpointCollector,
    private readonly txn: TxnFramer | undefined,
  ) {
    output.onWritable = () => this.writable();
    if (txn !== undefined) {
      output.onReconnect = () => {
        this.queue.unshift(...this.written);
        this.queuedCount.unshift(...this.written.map(() => 0));
      };
    }
  }

  get paused(): boolean {
    return this.queue.length > 0 || !this.output.writable;
  }

  receive(tag: number, bytes: unknown, count: unknown): void {
    const chunk = bytes as Uint8Array;
    if (this.txn !== undefined) {
      const b = bitOf(tag);
      (this.open[b] as Uint8Array[]).push(chunk);
      this.openCount[b] = (this.openCount[b] as number) + (count as number);
      return;
    }
    this.put(chunk, count as number);
  }

  receiveRuntime(tag: number, a: unknown): void {
    if (tag === RT_BARRIER && this.barriers.arrive()) this.checkpoint(a as number);
    else if (tag === RT_COMMIT) this.release(a as number);
  }

  /** Output restored from a committed checkpoint: written again at once (the receiver drops repeats). */
  restore(pending: readonly (readonly [number, Uint8Array])[]): void {
    for (const [id, body] of pending) this.pending.push([id, body, 0]);
    this.release(Infinity);
  }

  /** Flushes and closes the output. */
  close(): Promise<void> {
    return this.output.close();
  }

  private checkpoint(id: number): void {
    if (this.txn !== undefined) {
      const b = this.bit;
      this.pending.push([
        id,
        Buffer.concat(this.open[b] as Uint8Array[]),
        this.openCount[b] as number,
      ]);
      this.open[b] = [];
      this.openCount[b] = 0;
      this.bit ^= 1;
    }
    this.checkpoints.add(id, {
      kind: 'sink',
      part: { sink: this.sink, pending: this.pending.map(([k, body]) => [k, body] as const) },
    });
  }

  /** Checkpoints up to `id` committed: their output goes out, each as one transaction. */
  private release(id: number): void {
    const txn = this.txn;
    if (txn === undefined) return;
    while (this.pending.length > 0 && (this.pending[0] as [number, Uint8Array, number])[0] <= id) {
      const [k, body, count] = this.pending.shift() as [number, Uint8Array, number];
      const bytes = txn(k, body);
      this.written.push(bytes);
      if (this.written.length > RESEND_TRANSACTIONS) this.written.shift();
      this.put(bytes, count);
    }
  }

  private put(chunk: Uint8Array, count: number): void {
    if (this.queue.length > 0 || !this.output.writable) {
      this.queue.push(chunk);
      this.queuedCount.push(count);
      return;
    }
    this.output.write(chunk);
    if (trace.on) trace.event(TraceKind.SINK_WRITE, chunk.length, count);
    this.counters.outputs += count;
    this.counters.bytes += chunk.length;
  }

  private writable(): void {
    while (this.queue.length > 0 && this.output.writable) {
      const chunk = this.queue.shift() as Uint8Array;
      const count = this.queuedCount.shift() as number;
      this.output.write(chunk);
      if (trace.on) trace.event(TraceKind.SINK_WRITE, chunk.length, count);
      this.counters.outputs += count;
      this.counters.bytes += chunk.length;
    }
    if (!this.paused) {
      this.scheduler.resume(this.self);
      this.loop.kick();
    }
  }
}

export { TAG_BYTES };
