/**
 * Writing the frames of one `roo send` (send-connection.ts): the pacing
 * decision of `--interval` ({@link batchDelayMs}), the plain sender's
 * socket output, and the {@link FrameWriter} that encodes frames into
 * batches and hands them to a {@link FrameOutput} (a plain socket here, or
 * send-acked.ts's acknowledging connection), waiting while it pushes back.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type EncodedPart, type FrameOutput, FrameEncoder } from './send-frames.js';
import { delay, endSocket } from './send-socket.js';

/** Longest the sender runs without letting timers and signals in. */
const MAX_BUSY_MS = 20;

// ---------------------------------------------------------------------------
// Pure decisions.

/**
 * Milliseconds to wait before starting batch number `batchesDone` (0-based)
 * so that batches start `intervalNs` apart, measured from `startedAtMs`.
 * Pacing by deadline, not by sleeping a fixed time after each batch, keeps the
 * average rate right even when the interval is below a timer's 1 ms
 * resolution: the sender runs a few batches back to back, then waits.
 */
export function batchDelayMs(
  startedAtMs: number,
  batchesDone: number,
  intervalNs: number,
  nowMs: number,
): number {
  if (intervalNs <= 0) return 0;
  const dueMs = startedAtMs + (batchesDone * intervalNs) / 1e6;
  const delay = dueMs - nowMs;
  return delay >= 1 ? delay : 0;
}

// ---------------------------------------------------------------------------
// Writing.

/** The plain sender's output: frames straight to the socket, waiting for 'drain'. */
export class SocketOutput implements FrameOutput {
  private error: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly signal: AbortSignal | undefined,
  ) {
    socket.on('error', (err) => {
      this.error ??= err;
    });
    socket.on('close', () => {
      this.error ??= new Error('the receiver closed the connection');
    });
  }

  get failure(): Error | undefined {
    return this.error;
  }

  async write(parts: readonly EncodedPart[]): Promise<void> {
    let room = true;
    if (parts.length > 1) this.socket.cork();
    for (const part of parts) room = this.socket.write(part.bytes);
    if (parts.length > 1) this.socket.uncork();
    if (!room) await this.waitForDrain();
  }

  async finish(aborted: boolean): Promise<void> {
    if (this.error !== undefined) throw this.error;
    await endSocket(this.socket, aborted, () => this.error);
  }

  /** Destroys the socket of a failed send. */
  destroy(): void {
    this.socket.destroy();
  }

  private async waitForDrain(): Promise<void> {
    const socket = this.socket;
    if (this.error !== undefined) throw this.error;
    // Once aborted, nobody waits on a stuck receiver: finish() bounds the wait.
    if (this.signal?.aborted === true) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        this.signal?.removeEventListener('abort', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
      this.signal?.addEventListener('abort', done);
    });
  }
}

/**
 * Writes encoded frames as batches: paces batch starts by `--interval`,
 * writes a batch (or filled buffers) in one go, lets the output's
 * backpressure hold it, and lets the event loop in on long runs. The first
 * `skip` frames it is given are dropped unencoded (the source already has
 * them).
 */
export class FrameWriter {
  private readonly encoder = new FrameEncoder();
  private inBatch = 0;
  private batchesDone = 0;
  /** A batch has ended and `--interval` is set: the next one waits for its time. */
  private paceDue = false;
  private startedAtMs = -1;
  private lastYieldMs = performance.now();
  private skipped = 0;

  constructor(
    private readonly output: FrameOutput,
    private readonly batchSize: number,
    private readonly intervalNs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly skip: number,
  ) {}

  /** Messages encoded. */
  get messages(): number {
    return this.encoder.messages;
  }

  /** Messages of the input passed: skipped or encoded. */
  get frames(): number {
    return this.skipped + this.encoder.messages;
  }

  /** Messages skipped at the start. */
  get skippedFrames(): number {
    return this.skipped;
  }

  /** Bytes encoded, frame headers included. */
  get bytes(): number {
    return this.encoder.bytes;
  }

  /** Bytes of message payload, without frame headers. */
  get payloadBytes(): number {
    return this.encoder.payloadBytes;
  }

  /** Encodes one frame; returns true when the caller should `await flush()`. */
  add(source: Buffer, from: number, to: number): boolean {
    if (this.skipped < this.skip) {
      this.skipped++;
      return false;
    }
    this.encoder.add(source, from, to);
    this.inBatch++;
    return this.paceDue || this.inBatch >= this.batchSize || this.encoder.hasFull;
  }

  /**
   * Waits until a new batch is due (with `--interval`), writes a full batch or
   * full buffers, and waits while the output pushes back.
   */
  async flush(): Promise<void> {
    if (this.output.failure !== undefined) throw this.output.failure;
    if (this.paceDue) {
      // Wait before the batch starts, not after one ends: no pause after the last.
      this.paceDue = false;
      const wait = batchDelayMs(
        this.startedAtMs,
        this.batchesDone,
        this.intervalNs,
        performance.now(),
      );
      if (wait > 0) {
        await delay(wait, this.signal);
        this.lastYieldMs = performance.now();
      }
    }
    const batchDone = this.inBatch >= this.batchSize;
    if (batchDone || this.encoder.hasFull) await this.writeOut();
    if (batchDone) {
      this.inBatch = 0;
      this.batchesDone++;
      this.paceDue = this.intervalNs > 0;
    }
    const now = performance.now();
    if (now - this.lastYieldMs > MAX_BUSY_MS) {
      // Writes the kernel takes at once never leave the loop; let timers and signals in.
      await yieldToEventLoop();
      this.lastYieldMs = performance.now();
    }
    if (this.output.failure !== undefined) throw this.output.failure;
  }

  /** Writes the rest and finishes the output (see {@link FrameOutput.finish}). */
  async finish(aborted: boolean): Promise<void> {
    if (this.output.failure !== undefined) throw this.output.failure;
    await this.writeOut();
    await this.output.finish(aborted);
  }

  /** Writes every encoded frame (one writev when several buffers are filled). */
  private async writeOut(): Promise<void> {
    const parts = this.encoder.take();
    if (parts.length === 0) return;
    if (this.startedAtMs < 0) this.startedAtMs = performance.now();
    await this.output.write(parts);
  }
}
