/**
 * One scheduler thread's outbound channels: per destination thread, the batch
 * being filled (BatchEncoder), the SPSC ring it is written to, and the batches
 * a full ring could not take yet (overflow). Backpressure rule 2 lives here: a
 * channel with batches in overflow is congested and adds one unit of process
 * pressure until the overflow drains.
 *
 * A batch leaves when it reaches `flushBytes`, when the thread flushes at the
 * end of a loop iteration (`flushAll`), or, checked every 64 messages, once
 * its first message is MAX_BATCH_AGE_MS old.
 */
import { BatchEncoder } from '../protocols/batch-codec.js';
import { RingWriter } from './ring.js';
import type { SharedKernelMemory } from './shared-layout.js';

/**
 * An outbound batch older than this (ms) is flushed before it is full, as
 * its messages are added: batches grow while the thread is busy, but a long
 * turn (a whole socket chunk handled in one) must not hold the first of
 * them until it ends. Checked every 64 messages, so it costs a clock read
 * per 64 messages at most.
 */
export const MAX_BATCH_AGE_MS = 0.5;

/** A part of a batch (a whole batch, or a fragment of a large one) waiting for ring space. */
interface Part {
  readonly bytes: Uint8Array;
  readonly more: boolean;
}

/** What the channels report to their scheduler. */
export interface OutboundHooks {
  /** Rings thread `t`'s doorbell (a batch was written to its ring). */
  wake(t: number): void;
  /** A channel became congested: add a unit of pressure (rule 2). */
  congested(): void;
  /** A congested channel drained: remove its unit. */
  drained(): void;
}

/** Counters the channels keep (the scheduler's stats object). */
export interface OutboundStats {
  batchesOut: number;
  bytesOut: number;
}

/** The outbound channels of one thread. */
export class Outbound {
  private readonly encoders: (BatchEncoder | null)[] = [];
  private readonly writers: (RingWriter | null)[] = [];
  private readonly overflow: Part[][] = [];
  private readonly congested: boolean[] = [];
  /** performance.now() when each batch got its first message. */
  private readonly started: number[] = [];

  constructor(
    memory: SharedKernelMemory,
    thread: number,
    private readonly flushBytes: number,
    private readonly stats: OutboundStats,
    private readonly hooks: OutboundHooks,
  ) {
    for (let t = 0; t < memory.threadCount; t++) {
      const ring = memory.rings[thread]?.[t] ?? null;
      this.encoders.push(ring === null ? null : new BatchEncoder(flushBytes * 2));
      this.writers.push(ring === null ? null : new RingWriter(ring));
      this.overflow.push([]);
      this.congested.push(false);
      this.started.push(0);
    }
  }

  /** Adds a message for actor `local` of thread `t` to that thread's batch. */
  add(t: number, local: number, tag: number, a: unknown, b: unknown): void {
    const enc = this.encoders[t];
    if (enc === undefined || enc === null) throw new RangeError(`no thread ${t}`);
    if (enc.count === 0) this.started[t] = performance.now();
    enc.add(local, tag, a, b);
    if (
      enc.byteLength >= this.flushBytes ||
      ((enc.count & 63) === 0 &&
        performance.now() - (this.started[t] as number) >= MAX_BATCH_AGE_MS)
    )
      this.flushTo(t);
  }

  /** Retries the overflow, then sends every non-empty batch. */
  flushAll(): void {
    if (this.hasOverflow()) this.retryOverflow();
    for (let t = 0; t < this.encoders.length; t++) {
      const enc = this.encoders[t];
      if (enc !== null && enc !== undefined && enc.count > 0) this.flushTo(t);
    }
  }

  /** True if batches wait in overflow for a full ring. */
  hasOverflow(): boolean {
    for (const o of this.overflow) if (o.length > 0) return true;
    return false;
  }

  /** True if messages wait in a batch not yet sent. */
  hasPending(): boolean {
    for (const e of this.encoders) if (e !== null && e.count > 0) return true;
    return false;
  }

  private flushTo(t: number): void {
    const bytes = (this.encoders[t] as BatchEncoder).finish();
    this.stats.batchesOut++;
    this.stats.bytesOut += bytes.length;
    const writer = this.writers[t] as RingWriter;
    const pending = this.overflow[t] as Part[];
    const parts = writer.fragments(bytes);
    let k = 0;
    if (pending.length === 0) {
      while (k < parts.length) {
        const part = parts[k] as Part;
        if (!writer.tryWrite(part.bytes, part.more)) break;
        k++;
      }
      if (k > 0) this.hooks.wake(t);
      if (k === parts.length) return;
    }
    for (; k < parts.length; k++) pending.push(parts[k] as Part);
    if (!this.congested[t]) {
      this.congested[t] = true;
      this.hooks.congested();
    }
  }

  private retryOverflow(): void {
    for (let t = 0; t < this.overflow.length; t++) {
      const pending = this.overflow[t] as Part[];
      if (pending.length === 0) continue;
      const writer = this.writers[t] as RingWriter;
      let written = 0;
      while (written < pending.length) {
        const part = pending[written] as Part;
        if (!writer.tryWrite(part.bytes, part.more)) break;
        written++;
      }
      if (written > 0) {
        pending.splice(0, written);
        this.hooks.wake(t);
      }
      if (pending.length === 0 && this.congested[t]) {
        this.congested[t] = false;
        this.hooks.drained();
      }
    }
  }
}
