/**
 * The writer of an exactly-once TCP sink (docs/resilience.md, sinks), one
 * per sink and worker: output is held per checkpoint, recorded in the
 * checkpoint on the barrier, and written as one transaction when the
 * checkpoint commits (two-phase commit); the receiver applies each
 * transaction once and acknowledges it, and the writer keeps every
 * committed transaction until then, so that after a reconnect it writes
 * again exactly the ones not acknowledged (txn-hold.ts decides; its
 * connection is connectors/txn-output.ts).
 *
 * Unlike the at-least-once writer it does not pause while its connection is
 * down or congested: it keeps taking output and checkpoints go on, until the
 * committed transactions it holds reach the sink's `maxUnackedBytes`; then
 * it pauses (rule 6 of actors/backpressure.ts) and the sources mute.
 */
import {
  trace,
  TraceKind,
  type ActorRef,
  type Behaviour,
  type Scheduler,
  type ThreadLoop,
} from '../../actors/index.js';
import { encodeSinkTxnHeader } from '../../protocols/index.js';
import type { TxnConnection } from '../connectors/txn-output.js';
import { bitOf, RT_BARRIER, RT_COMMIT } from './epochs.js';
import type { SinkWriterCounters } from './sink-actors.js';
import { BarrierCount } from './stage-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import { TxnHold } from './txn-hold.js';
import { RT_MARKER_END } from './tags.js';

/** How long a closing writer waits for its receiver to acknowledge what it holds. */
export const CLOSE_ACK_WAIT_MS = 5_000;

/** The exactly-once writer of one sink on one worker. */
export class TxnSinkWriterActor implements Behaviour {
  readonly counters: SinkWriterCounters = { outputs: 0, bytes: 0 };
  /** One barrier per checkpoint from the sink's encoder on every thread of this worker. */
  readonly barriers = new BarrierCount();
  /** Set at wiring: this actor's own address. */
  self: ActorRef = -1;
  /** With metrics on: a latency marker reached the writer (its output joins the next checkpoint's transaction). */
  markerEnded: ((origin: number, ingress: number) => void) | undefined;
  /** The epoch bit of the checkpoint in progress, and its output per bit. */
  private bit = 0;
  private open: Uint8Array[][] = [[], []];
  private readonly openCount = [0, 0];
  private readonly hold: TxnHold;
  /** Resolves a close waiting for the last acknowledgement. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly loop: ThreadLoop,
    /** The connection to the receiver (connectors/txn-output.ts). */
    private readonly output: TxnConnection,
    /** Bytes of committed transactions held at most before the writer pauses (the sink's `maxUnackedBytes`). */
    maxUnackedBytes: number,
    readonly sink: number,
    private readonly checkpoints: CheckpointCollector,
  ) {
    this.hold = new TxnHold(maxUnackedBytes);
    output.events = {
      connected: () => this.hold.connected(),
      disconnected: () => this.hold.disconnected(),
      ack: (applied) => {
        this.hold.ack(applied);
        if (this.hold.size === 0) this.drained?.();
        this.pump();
        this.wake();
      },
      noAcks: () => {
        this.hold.noAcks();
        this.pump();
        this.wake();
      },
      writable: () => {
        this.pump();
        this.wake();
      },
    };
  }

  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  /** At the bound: paused until acknowledgements bring it under. */
  get paused(): boolean {
    return this.hold.full;
  }

  receive(tag: number, bytes: unknown, count: unknown): void {
    const b = bitOf(tag);
    (this.open[b] as Uint8Array[]).push(bytes as Uint8Array);
    this.openCount[b] = (this.openCount[b] as number) + (count as number);
  }

  receiveRuntime(tag: number, a: unknown, b?: unknown): void {
    if (tag === RT_MARKER_END) this.markerEnded?.(a as number, b as number);
    else if (tag === RT_BARRIER) {
      if (this.barriers.arrive()) this.checkpoint(a as number);
    } else if (tag === RT_COMMIT) {
      this.hold.commit(a as number);
      this.pump();
    }
  }

  /** Output restored from a committed checkpoint: written again at once (the receiver drops repeats). */
  restore(pending: readonly (readonly [number, Uint8Array])[]): void {
    this.hold.restore(pending);
    this.pump();
  }

  /**
   * Waits (up to {@link CLOSE_ACK_WAIT_MS}) until the receiver has
   * acknowledged what is held, if it acknowledges at all, then flushes and
   * closes the connection.
   */
  async close(): Promise<void> {
    if (this.hold.size > 0 && this.hold.acks !== 'no-acks') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_ACK_WAIT_MS);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.output.close();
  }

  private checkpoint(id: number): void {
    const b = this.bit;
    this.hold.take(id, Buffer.concat(this.open[b] as Uint8Array[]), this.openCount[b] as number);
    this.open[b] = [];
    this.openCount[b] = 0;
    this.bit ^= 1;
    this.checkpoints.add(id, {
      kind: 'sink',
      part: { sink: this.sink, pending: this.hold.snapshot() },
    });
  }

  /** Writes the held transactions not yet written on this connection, while it takes them. */
  private pump(): void {
    for (let txn = this.hold.next(); txn !== undefined; txn = this.hold.next()) {
      if (!this.output.writable) return;
      this.output.write(encodeSinkTxnHeader(txn.epoch, txn.body.length));
      if (txn.body.length > 0) this.output.write(txn.body);
      const outputs = this.hold.wrote();
      if (trace.on) trace.event(TraceKind.SINK_WRITE, txn.body.length, outputs);
      this.counters.outputs += outputs;
      if (outputs > 0) this.counters.bytes += txn.body.length;
    }
  }

  /** Resumes delivery once under the bound again. */
  private wake(): void {
    if (this.paused) return;
    this.scheduler.resume(this.self);
    this.loop.kick();
  }
}
