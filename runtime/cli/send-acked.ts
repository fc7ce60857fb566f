/**
 * The acknowledging side of `roo send` (protocols/source-ack.ts): the
 * connection opens with the magic and a hello naming the stream, the source
 * answers `resume` with the frame to (re)send from, and later `ack`s the
 * frames its committed checkpoints cover. Until acknowledged, every frame
 * written is kept (send-frames.ts's UnackedFrames) so that, when the
 * connection drops (the source's worker failed and recovered, say), the
 * sender reconnects and resends from the position the new `resume` asks for.
 *
 * The rules:
 *
 * 1. Memory is bounded: once `maxUnackedBytes` are kept, `write` waits (the
 *    sender stops reading its file) until acks free some.
 * 2. A lost connection is retried, any error, with backoff (100 ms doubling
 *    to 1 s) for `reconnectRetryMs`; frames written meanwhile are kept and go
 *    out with the resend. Each attempt waits `resumeWaitMs` for the resume.
 * 3. A `resume` below the frames kept (they were acknowledged, then the
 *    source went back further), beyond the frames written, or any message out
 *    of place fails the send: the source and sender disagree, and guessing
 *    would lose or duplicate data.
 * 4. `resume.acks` false (the source runs without checkpoints): no acks will
 *    come, so nothing is kept, the send is done once all is written, and a
 *    lost connection fails it as it fails a plain send.
 * 5. The first `resume` may ask for a position beyond 0: the source already
 *    has those frames (a restarted sender of a known `--stream-id`), and the
 *    sender skips as many messages of its input.
 * 6. A peer that closes the very first connection without answering is not
 *    an acknowledging source (a plain roo source, `roo receive`, Wallaroo's
 *    receivers close on the magic, which they read as a frame too large):
 *    {@link AckedOutput.open} says 'plain' and the caller sends without acks.
 *    A peer that says nothing for `resumeWaitMs` fails the send instead.
 * 7. A `close` from the source (its worker stops for an error a restart
 *    would meet again) fails the send at once with the source's code and
 *    reason: nothing it keeps will be acknowledged.
 *
 * The link's states and the reading of the source's messages (rules 3 and
 * 7) are pure decisions in send-acked-link.ts; this file acts on them.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  decodeSourceAckMessage,
  encodeSourceAckOpening,
  ErrorCode,
  FrameDecoder,
  MAX_SOURCE_ACK_MESSAGE_BYTES,
  RooError,
  type SourceAckMessage,
} from '../../protocols/index.js';
import { formatAddress } from '../../protocols/address.js';
import {
  acceptSourceMessage,
  type AckedLinkState,
  type AckedOutputOptions,
  checkAckPosition,
  checkResumePosition,
  type HandshakeOutcome,
  nextAckedLinkState,
} from './send-acked-link.js';
import { type EncodedPart, type FrameOutput, UnackedFrames } from './send-frames.js';
import { connectOnce, connectWithRetry, delay, endSocket, retryDelayMs } from './send-socket.js';

/** What {@link AckedOutput.open} found at the address. */
export type AckedOpening =
  | { readonly kind: 'acked'; readonly output: AckedOutput }
  /** The peer closed without answering: not an acknowledging source (rule 6). */
  | { readonly kind: 'plain' }
  /** The signal stopped the send first. */
  | { readonly kind: 'aborted' };

/** The acknowledging connection of one send: a {@link FrameOutput} that survives reconnects. */
export class AckedOutput implements FrameOutput {
  private current: AckedLinkState = 'connecting';
  private socket: Socket | undefined;
  /** Why the last connection ended, for the logs. */
  private lostBecause = 'closed by the source';
  private readonly kept = new UnackedFrames();
  private acksOn = false;
  private started = false;
  private startAt = 0;
  /** Frames before this index have been written to some connection. */
  private written = 0;
  private resentFrames = 0;
  private reconnectCount = 0;
  private error: Error | undefined;
  private waiters: (() => void)[] = [];
  private handshake: ((outcome: HandshakeOutcome) => void) | undefined;
  private reconnecting: Promise<void> | undefined;
  /** `finish` has been called: a lost connection with nothing left to resend ends the send. */
  private finishing = false;
  private readonly where: string;
  private readonly onAbort = () => {
    this.handshake?.('aborted');
    this.notify();
  };

  private constructor(private readonly options: AckedOutputOptions) {
    this.where = formatAddress(options.address);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Connects (retrying refusals for `connectRetryMs`), opens the protocol and
   * waits for the first `resume`. Rejects if the peer sends something else,
   * or nothing for `resumeWaitMs`.
   */
  static async open(options: AckedOutputOptions): Promise<AckedOpening> {
    const out = new AckedOutput(options);
    let socket: Socket | undefined;
    try {
      socket = await connectWithRetry(
        options.address,
        options.connectRetryMs,
        options.signal,
        options.log,
        () => undefined,
      );
    } catch (err) {
      out.fail(err as Error);
      throw err;
    }
    if (socket === undefined) {
      out.close();
      return { kind: 'aborted' };
    }
    out.move('handshaking');
    const outcome = await out.handshakeOn(socket);
    switch (outcome) {
      case 'resumed':
        return { kind: 'acked', output: out };
      case 'closed':
        out.close();
        return { kind: 'plain' };
      case 'aborted':
        out.close();
        return { kind: 'aborted' };
      case 'timeout': {
        const err = new Error(
          `no answer from ${out.where} within ${options.resumeWaitMs / 1000} s: is it a roo TCP source? Send to a plain receiver with --no-acks`,
        );
        out.fail(err);
        throw err;
      }
      case 'failed':
        throw out.error ?? new RooError(ErrorCode.Internal, 'handshake failed without an error');
    }
  }

  /** Where the link is. */
  get state(): AckedLinkState {
    return this.current;
  }

  /** Whether the source acknowledges (its first `resume.acks`; rule 4). */
  get acks(): boolean {
    return this.acksOn;
  }

  /** Messages of the input the source already had when the send began (rule 5): skip them. */
  get startPosition(): number {
    return this.startAt;
  }

  /** Frames sent again after reconnects. */
  get resent(): number {
    return this.resentFrames;
  }

  /** Connections lost (each followed by a reconnect, or a failure). */
  get reconnects(): number {
    return this.reconnectCount;
  }

  /** Frames written and not yet acknowledged. */
  get unacknowledged(): number {
    return this.kept.frames;
  }

  /** The error that stopped the send, if any. */
  get failure(): Error | undefined {
    return this.error;
  }

  progress(): string | undefined {
    if (!this.acksOn) return undefined;
    const lost = this.current === 'reconnecting' ? ', reconnecting' : '';
    return `${this.kept.frames} not yet acknowledged${lost}`;
  }

  async write(parts: readonly EncodedPart[]): Promise<void> {
    if (this.error !== undefined) throw this.error;
    const socket = this.current === 'streaming' ? this.socket : undefined;
    if (socket !== undefined && parts.length > 1) socket.cork();
    for (const part of parts) {
      this.kept.append(part);
      if (socket !== undefined) socket.write(part.bytes);
    }
    if (socket !== undefined && parts.length > 1) socket.uncork();
    if (socket !== undefined) this.written = this.kept.end;
    if (!this.acksOn) this.kept.ack(this.kept.end);
    await this.room();
  }

  async finish(aborted: boolean): Promise<void> {
    if (this.error !== undefined) throw this.error;
    this.finishing = true;
    const log = this.options.log;
    if (!aborted && this.acksOn && this.kept.frames > 0) {
      log(
        `roo send: all written; waiting for ${this.where} to acknowledge the last ${this.kept.frames} messages (when a checkpoint commits)`,
      );
      while (this.kept.frames > 0 && this.options.signal?.aborted !== true) {
        if (this.error !== undefined) throw this.error;
        await this.changed();
      }
      if (this.error !== undefined) throw this.error;
    }
    // A reconnect under way ends on the abort; wait so that no socket outlives the send.
    if (this.reconnecting !== undefined) await this.reconnecting;
    if (this.error !== undefined) throw this.error;
    const socket = this.socket;
    if (this.current === 'streaming') this.move('closing');
    if (socket !== undefined) {
      // With acks everything written was acknowledged: how the close goes no longer matters.
      await endSocket(socket, aborted || this.acksOn, () => this.error);
    }
    this.close();
    if (this.acksOn && this.kept.frames === 0) {
      log(
        `roo send: every message acknowledged${this.resentFrames > 0 ? ` (${this.resentFrames} sent again after ${this.reconnectCount} reconnect${this.reconnectCount === 1 ? '' : 's'})` : ''}`,
      );
    }
  }

  destroy(): void {
    if (this.current === 'closed' || this.current === 'failed') {
      this.socket?.destroy();
      this.socket = undefined;
      return;
    }
    this.fail(new Error('the send was stopped'));
  }

  /** Waits until the producer may go on (rule 1, and the socket's own buffer). */
  private async room(): Promise<void> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      if (this.options.signal?.aborted === true) return;
      const full = this.acksOn && this.kept.bytes >= this.options.maxUnackedBytes;
      const socket = this.socket;
      const draining =
        this.current === 'streaming' && socket !== undefined && socket.writableNeedDrain;
      if (!full && !draining) return;
      await this.changed();
    }
  }

  /** Writes the opening on `socket` and waits for the `resume` (or the end of the attempt). */
  private handshakeOn(socket: Socket): Promise<HandshakeOutcome> {
    this.socket = socket;
    this.lostBecause = 'closed by the source';
    const decoder = new FrameDecoder(MAX_SOURCE_ACK_MESSAGE_BYTES);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      try {
        decoder.push(chunk, (payload) => this.message(decodeSourceAckMessage(payload)));
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('drain', () => this.notify());
    socket.on('error', (err) => {
      if (this.socket === socket) this.lostBecause = err.message;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.lost();
    });
    return new Promise<HandshakeOutcome>((resolve) => {
      const timer = setTimeout(() => this.handshake?.('timeout'), this.options.resumeWaitMs);
      this.handshake = (outcome) => {
        clearTimeout(timer);
        this.handshake = undefined;
        if (outcome !== 'resumed' && this.socket === socket) {
          this.socket = undefined;
          socket.destroy();
        }
        resolve(outcome);
      };
      if (this.options.signal?.aborted === true) {
        this.handshake('aborted');
        return;
      }
      socket.write(encodeSourceAckOpening(this.options.stream));
    });
  }

  /** Acts on a message from the source; throws (failing the send) where send-acked-link.ts refuses it. */
  private message(m: SourceAckMessage): void {
    const accepted = acceptSourceMessage(this.current, m, this.where, this.kept.frames);
    if (accepted?.type === 'resume') this.resume(accepted.position, accepted.acks);
    else if (accepted?.type === 'ack') this.ack(accepted.position);
  }

  private resume(position: number, acks: boolean): void {
    const first = !this.started;
    if (first) {
      this.started = true;
      this.acksOn = acks;
      this.startAt = position;
      this.kept.startAt(position);
      this.written = position;
    } else {
      checkResumePosition(position, this.kept.base, this.written, this.where);
    }
    const socket = this.socket!;
    this.kept.ack(position);
    const parts = this.kept.from(position);
    if (parts.length > 1) socket.cork();
    for (const part of parts) socket.write(part);
    if (parts.length > 1) socket.uncork();
    this.resentFrames += Math.max(0, this.written - position);
    this.written = this.kept.end;
    if (!first && acks !== this.acksOn) {
      this.options.log(
        `roo send: ${this.where} now runs ${acks ? 'with' : 'without'} acknowledgements`,
      );
      this.acksOn = acks;
    }
    if (!this.acksOn) this.kept.ack(this.kept.end);
    this.move('streaming');
    if (!first) {
      this.options.log(
        `roo send: reconnected to ${this.where}; resending from message ${position} (${parts.length === 0 ? 'nothing' : `${this.kept.end - position} messages`})`,
      );
    }
    this.handshake?.('resumed');
    this.notify();
  }

  private ack(position: number): void {
    checkAckPosition(position, this.written, this.where);
    this.kept.ack(position);
    this.notify();
  }

  /** The current connection closed. */
  private lost(): void {
    this.socket = undefined;
    switch (this.current) {
      case 'handshaking':
        this.handshake?.('closed');
        break;
      case 'streaming':
        if (!this.acksOn) {
          this.fail(new Error('the receiver closed the connection'));
        } else if (this.finishing && this.kept.frames === 0) {
          // Everything was acknowledged before the connection went: nothing to resend.
          this.close();
        } else {
          this.move('reconnecting');
          this.reconnecting = this.reconnect().catch((err: unknown) => this.fail(err as Error));
        }
        break;
      case 'closing':
        // Without acks, a receiver that closes before taking everything loses data.
        if (!this.acksOn) this.error ??= new Error('the receiver closed the connection');
        break;
      default:
        break;
    }
    this.notify();
  }

  /** Reconnects after a lost connection (rule 2). */
  private async reconnect(): Promise<void> {
    const { address, reconnectRetryMs, signal, log } = this.options;
    const seconds = reconnectRetryMs / 1000;
    log(
      `roo send: connection to ${this.where} lost (${this.lostBecause}); reconnecting for up to ${seconds} s to resend the ${this.kept.frames} messages not yet acknowledged`,
    );
    this.reconnectCount++;
    const deadline = performance.now() + reconnectRetryMs;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted === true) return this.close();
      let socket: Socket | undefined;
      try {
        socket = await connectOnce(address);
      } catch (err) {
        this.lostBecause = (err as Error).message;
      }
      if (socket !== undefined) {
        if (this.current !== 'reconnecting') {
          socket.destroy();
          return;
        }
        this.move('handshaking');
        const outcome = await this.handshakeOn(socket);
        if (outcome === 'resumed' || outcome === 'failed') return;
        if (outcome === 'aborted') return this.close();
        if (outcome === 'timeout')
          this.lostBecause = `no resume within ${this.options.resumeWaitMs / 1000} s`;
        this.move('reconnecting');
      }
      if (performance.now() >= deadline) {
        throw new Error(
          `cannot reconnect to ${this.where} (${this.lostBecause}) for ${seconds} s, giving up with ${this.kept.frames} messages not acknowledged`,
        );
      }
      await delay(retryDelayMs(attempt), signal);
    }
  }

  /** Ends the link without an error: nothing more is written or waited for. */
  private close(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.current !== 'closed' && this.current !== 'failed') this.move('closed');
    this.notify();
  }

  private fail(err: Error): void {
    this.error ??= err;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.current !== 'failed' && this.current !== 'closed') this.move('failed');
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.handshake?.('failed');
    this.notify();
  }

  private move(to: AckedLinkState): void {
    this.current = nextAckedLinkState(this.current, to);
  }

  /** Resolves at the next change: an ack, a drain, a state change, an abort. */
  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
