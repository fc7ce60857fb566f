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
import { cursor, EPOCH_BIT, RT_BARRIER } from './epochs.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import { BarrierCount } from './stage-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import { OutputBuffer } from './output-buffer.js';
import { RT_MARKER_END, TAG_BYTES } from './tags.js';
import { timedCall, type LatencyMeter } from './step-meter.js';
import type { ThreadRecorder } from './thread-metrics.js';

const SHIP_BYTES = 16 * 1024;
/** Latency markers an encoder holds behind unshipped outputs; a further one is dropped (a lost sample only). */
const MARKERS_HELD = 8;

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
  /** Times encoding when metrics are on. */
  private readonly meter: LatencyMeter | undefined;
  /** Latency markers waiting for the outputs before them to ship: (origin, ingress) pairs. */
  private readonly markers: number[] = [];
  /** A latency marker reached this sink on this thread (bound; see `marker`). */
  readonly marker: (origin: number, ingress: number) => void;

  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  constructor(
    private readonly scheduler: Scheduler,
    encoder: Encoder<unknown> | undefined,
    private readonly errors: ErrorReporter,
    private readonly where: string,
    /** With metrics on: this thread's recorder, and the sink's step and pipeline. */
    private readonly metrics?: {
      readonly recorder: ThreadRecorder;
      readonly step: number;
      readonly pipeline: number;
    },
  ) {
    this.toBytes = typeof encoder === 'function' ? encoder : undefined;
    this.into = typeof encoder === 'object' ? encoder.into : undefined;
    this.meter = metrics?.recorder.step(metrics.step);
    this.marker = (origin, ingress) => this.addMarker(origin, ingress);
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
    const n0 = this.counters.received++;
    if (this.writer === undefined || (this.into === undefined && this.toBytes === undefined))
      return;
    const b = cursor.bit;
    const out = this.outs[b] as OutputBuffer;
    const start = out.pos;
    const meter = this.meter;
    try {
      if (meter === undefined || (n0 & meter.mask) !== 0) this.write(value, out);
      else timedCall(meter, this.writeOut, value, out, undefined);
    } catch (err) {
      // Nothing of a failed output is sent: what it wrote is discarded.
      out.pos = start;
      this.errors.report(err, ErrorCode.EncoderFailed, this.where, { input: value });
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

  /** `write`, bound (for a timed call). */
  private readonly writeOut = (value: unknown, out: OutputBuffer): void => this.write(value, out);

  /** Encodes one output into `out`. */
  private write(value: unknown, out: OutputBuffer): void {
    if (this.into !== undefined) this.into(value, out);
    else {
      const bytes = (this.toBytes as (output: unknown) => string | Uint8Array)(value);
      if (typeof bytes === 'string') out.text(bytes);
      else out.bytes(bytes);
    }
  }

  /**
   * A latency marker: it goes to the writer behind the outputs encoded
   * before it (at once if none waits); for a null sink it ends here.
   */
  private addMarker(origin: number, ingress: number): void {
    const m = this.metrics;
    if (m === undefined) return;
    if (this.writer === undefined) m.recorder.markerEnded(m.pipeline, origin, ingress);
    else if (this.pending[0] === 0 && this.pending[1] === 0)
      this.scheduler.send(this.writer, RT_MARKER_END, origin, ingress);
    else if (this.markers.length < MARKERS_HELD * 2) this.markers.push(origin, ingress);
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
    const markers = this.markers;
    if (markers.length > 0 && this.pending[b ^ 1] === 0) {
      for (let i = 0; i < markers.length; i += 2)
        this.scheduler.send(this.writer as ActorRef, RT_MARKER_END, markers[i], markers[i + 1]);
      markers.length = 0;
    }
  }
}

/** Counters of a sink writer. */
export interface SinkWriterCounters {
  outputs: number;
  bytes: number;
}

/**
 * What the worker's thread asks of any sink writer, at-least-once
 * ({@link SinkWriterActor}) or exactly-once (TxnSinkWriterActor,
 * txn-sink-writer.ts).
 */
export interface SinkWriter extends Behaviour {
  readonly counters: SinkWriterCounters;
  /** One barrier per checkpoint from the sink's encoder on every thread of this worker. */
  readonly barriers: BarrierCount;
  /** Set at wiring: this actor's own address. */
  self: ActorRef;
  /** Output restored from a committed checkpoint. */
  restore(pending: readonly (readonly [number, Uint8Array])[]): void;
  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void;
  /** Flushes and closes the output. */
  close(): Promise<void>;
  /**
   * Set when metrics are on: a latency marker reached the writer, after
   * every output before it was handed to the output (an exactly-once
   * writer: to the transaction of the next checkpoint).
   */
  markerEnded: ((origin: number, ingress: number) => void) | undefined;
}

/**
 * Writes an at-least-once sink's bytes to its output (TCP, a file, stdout),
 * one connection per worker: bytes are written as they come; after a
 * recovery, output made after the last checkpoint is made again. It pauses
 * while its output is congested or disconnected (rule 6). The exactly-once
 * TCP sink has its own writer (txn-sink-writer.ts).
 */
export class SinkWriterActor implements SinkWriter {
  readonly counters: SinkWriterCounters = { outputs: 0, bytes: 0 };
  markerEnded: ((origin: number, ingress: number) => void) | undefined;
  readonly barriers = new BarrierCount();
  /** Bytes waiting for the output to be writable, in order. */
  private queue: Uint8Array[] = [];
  private queuedCount: number[] = [];
  self: ActorRef = -1;

  /** Nothing depends on the epoch bit here: output goes out as it comes. */
  setEpoch(_bit: number): void {}

  constructor(
    private readonly scheduler: Scheduler,
    private readonly loop: ThreadLoop,
    private readonly output: Output,
    readonly sink: number,
    private readonly checkpoints: CheckpointCollector,
  ) {
    output.onWritable = () => this.writable();
  }

  get paused(): boolean {
    return this.queue.length > 0 || !this.output.writable;
  }

  receive(_tag: number, bytes: unknown, count: unknown): void {
    this.put(bytes as Uint8Array, count as number);
  }

  receiveRuntime(tag: number, a: unknown, b?: unknown): void {
    // It holds nothing: its part of a checkpoint is empty.
    if (tag === RT_BARRIER) {
      if (this.barriers.arrive())
        this.checkpoints.add(a as number, { kind: 'sink', part: { sink: this.sink, pending: [] } });
    } else if (tag === RT_MARKER_END) this.markerEnded?.(a as number, b as number);
  }

  /** An at-least-once sink records nothing to restore. */
  restore(_pending: readonly (readonly [number, Uint8Array])[]): void {}

  close(): Promise<void> {
    return this.output.close();
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
