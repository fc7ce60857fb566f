/**
 * One scheduler thread's connection to one other worker (data-channel.ts has
 * the rest): messages are added to the batch of their lane, a lane's batch
 * ships as one frame (a `batch` data message) when it passes FLUSH_BYTES, is
 * BATCH_AGE_MS old, or the thread's slice ends, and a frame goes on the
 * socket only with credit (credit-ledger.ts, backpressure rule 9): the
 * receiver opens the connection with its window per lane and hands bytes back
 * as it takes frames in. A frame without credit waits on its lane, in order;
 * the other lane goes on.
 *
 * Lanes: the engine names each message's lane (`laneOf`: its epoch bit; a
 * barrier the bit of the epoch it closes; anything else the lane of the
 * message before it). So what one actor sends another on one lane arrives in
 * the order sent, a barrier stays behind the messages it closes, and the next
 * epoch's messages, which the receiver may be holding, can wait without
 * holding back the barrier it waits for.
 *
 * Pressure: while frames wait (for credit, or for a connection that is
 * down) or the socket's buffer is full, the link adds one unit of pressure
 * to its process, so this worker's sources mute (rules 2 and 3). The socket
 * holds at most the window per lane: credit bounds it, not the socket.
 */
import type { Socket } from 'node:net';
import type { ActorRef } from '../../actors/index.js';
import { BatchEncoder } from '../../protocols/batch-codec.js';
import {
  asRooError,
  DATA_PROTOCOL_VERSION,
  decodeDataMessage,
  encodeDataMessage,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  formatAddress,
  RooError,
  type Address,
} from '../../protocols/index.js';
import type { Logger } from '../logging/logger.js';
import { connectChannel, type ChannelSecurity } from '../security/index.js';
import { SendCredit } from './credit-ledger.js';

const FLUSH_BYTES = 32 * 1024;
/**
 * A batch to another worker is also sent once its first message is this old
 * (ms), checked every 64 messages, so a long turn does not hold it. Longer
 * than between threads (MAX_BATCH_AGE_MS, 0.5 ms): each send here is a
 * socket write and a wake-up of the other worker's event loop, and at
 * 0.5 ms two workers of word count ran 10 % slower (1.93 against 2.14 M
 * words/s).
 */
const BATCH_AGE_MS = 2;
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2_000;
/** Lanes a link keeps (the engine's: one per epoch bit). */
const LANES = 2;

/**
 * The lane of a message from its tag and second value, as the engine decides
 * (epochs.ts `laneOf`); -1: the lane of the message before it.
 */
export type LaneOf = (tag: number, b: unknown) => number;

/** One lane of a link: the batch being filled, and frames waiting for credit. */
interface Lane {
  readonly encoder: BatchEncoder;
  /** performance.now() of the batch's first message (see BATCH_AGE_MS). */
  started: number;
  readonly waiting: Buffer[];
}

/** One thread's outbound connection to one remote worker. */
export class OutboundLink {
  private socket: Socket | undefined;
  private connected = false;
  /** Adds a unit of pressure while true (see the file comment). */
  private congested = false;
  private socketFull = false;
  private closed = false;
  private delay = RECONNECT_MIN_MS;
  private readonly lanes: Lane[] = [];
  private readonly credit = new SendCredit();
  /** Frames waiting on every lane. */
  private waitingFrames = 0;
  /** The lane of the last message added (for messages that follow it). */
  private lastLane = 0;
  private warned = false;
  /** Messages sent, for stats. */
  sent = 0;
  /** Bytes of the frames sent (or waiting to be), for metrics. */
  bytes = 0;

  constructor(
    private readonly me: string,
    readonly peer: string,
    private readonly address: Address,
    private readonly pressure: (delta: 1 | -1) => void,
    private readonly log: Logger,
    private readonly generation: number,
    /** The cluster secret and TLS, if any: each connection passes them before it carries a batch. */
    private readonly security: ChannelSecurity,
    private readonly laneOf: LaneOf,
  ) {
    for (let i = 0; i < LANES; i++) {
      this.lanes.push({ encoder: new BatchEncoder(FLUSH_BYTES * 2), started: 0, waiting: [] });
    }
    this.connect();
  }

  /** Adds a message to its lane's batch; ships the batch when it is full or old. */
  add(ref: ActorRef, tag: number, a: unknown, b: unknown): void {
    const l = this.laneOf(tag, b);
    const lane = l >= 0 && l < LANES ? l : this.lastLane;
    this.lastLane = lane;
    const state = this.lanes[lane] as Lane;
    const enc = state.encoder;
    if (enc.count === 0) state.started = performance.now();
    enc.add(ref, tag, a, b);
    this.sent++;
    if (
      enc.byteLength >= FLUSH_BYTES ||
      ((enc.count & 63) === 0 && performance.now() - state.started >= BATCH_AGE_MS)
    )
      this.ship(lane);
  }

  /** Ships every lane's batch (the end of the thread's slice). */
  flush(): void {
    for (let lane = 0; lane < LANES; lane++) this.ship(lane);
  }

  /** Closes the connection for good (the worker left the cluster, or this one stops). */
  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  private ship(lane: number): void {
    const state = this.lanes[lane] as Lane;
    if (state.encoder.count === 0) return;
    const frame = encodeFrame(
      encodeDataMessage({
        type: 'batch',
        version: DATA_PROTOCOL_VERSION,
        epoch: this.generation,
        sender: this.me,
        lane,
        bytes: state.encoder.finish(),
      }),
    );
    this.bytes += frame.length;
    if (state.waiting.length === 0 && this.connected && this.credit.mayCharge(lane, frame.length)) {
      this.credit.charge(lane, frame.length);
      this.write(frame);
    } else {
      state.waiting.push(frame);
      this.waitingFrames++;
    }
    this.updateCongestion();
  }

  /** Sends what waits, lane by lane in order, as far as credit goes. */
  private pump(): void {
    for (let lane = 0; lane < LANES && this.connected; lane++) {
      const waiting = (this.lanes[lane] as Lane).waiting;
      while (waiting.length > 0 && this.credit.mayCharge(lane, (waiting[0] as Buffer).length)) {
        const frame = waiting.shift() as Buffer;
        this.waitingFrames--;
        this.credit.charge(lane, frame.length);
        this.write(frame);
      }
    }
    this.updateCongestion();
  }

  private write(frame: Buffer): void {
    if (!(this.socket as Socket).write(frame)) this.socketFull = true;
  }

  private updateCongestion(): void {
    const now = this.waitingFrames > 0 || this.socketFull;
    if (now === this.congested) return;
    this.congested = now;
    this.pressure(now ? 1 : -1);
  }

  /** What the receiver says: its window, then credit as it takes frames in. */
  private onFrame(payload: Buffer): void {
    const m = decodeDataMessage(payload);
    if (m.type === 'window') this.credit.open(m.bytes);
    else if (m.type === 'credit') this.credit.credit(m.lane, m.bytes);
    else throw new RooError(ErrorCode.BadMessage, `a '${m.type}' from the receiving worker`);
    this.pump();
  }

  private connect(): void {
    if (this.closed) return;
    connectChannel(this.address, 'data', this.security).then(
      (s) => this.connected_(s),
      (err: Error) => {
        this.warn(err);
        this.retry();
      },
    );
  }

  /** The connection is up (and, with a cluster secret or TLS, authenticated). */
  private connected_(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.socket = s;
    s.setNoDelay(true);
    this.connected = true;
    this.delay = RECONNECT_MIN_MS;
    if (this.warned) this.log.info(`data channel to '${this.peer}' is up again`);
    this.warned = false;
    // Nothing goes until the receiver has told its window on this connection.
    this.credit.reset();
    const framer = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk, (payload) => this.onFrame(payload));
      } catch (err) {
        const e = asRooError(err, ErrorCode.BadMessage, `data channel to '${this.peer}'`);
        this.log.error({ code: e.code }, `${e.message}; reconnecting`);
        s.destroy();
      }
    });
    s.on('drain', () => {
      this.socketFull = false;
      this.updateCongestion();
    });
    s.on('error', (err) => this.warn(err));
    s.on('close', () => {
      // What was written to this connection is gone with it, and so is its credit.
      this.connected = false;
      this.socketFull = false;
      this.credit.reset();
      this.updateCongestion();
      this.retry();
    });
  }

  private warn(err: Error): void {
    if (!this.warned && !this.closed) {
      this.log.warn(
        `data channel to '${this.peer}' at ${formatAddress(this.address)} failed (${err.message}); retrying`,
      );
      this.warned = true;
    }
  }

  private retry(): void {
    if (this.closed) return;
    setTimeout(() => this.connect(), this.delay).unref();
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
  }
}
