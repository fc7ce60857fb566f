/**
 * One `roo send`: connect (a refused connection is retried with backoff),
 * then write the file's frames batch by batch, paced by `--interval`. Frames
 * are encoded by send-frames.ts; each batch goes out in as few socket writes
 * as its buffers allow. When the socket's write buffer is full the sender
 * waits for 'drain', so a slow receiver slows the sender instead of filling
 * memory.
 *
 * The frames go to a {@link FrameOutput}: a plain socket (Wallaroo's sender,
 * `--no-acks`, and the default of {@link sendFile}), or an acknowledging
 * connection (send-acked.ts: the default of the `roo send` command) that
 * keeps what the source has not acknowledged and resends it after a
 * reconnect.
 *
 * Pacing and writing the batches are in send-writer.ts; this file holds the
 * options and result of a send, its lifecycle, opening its output, and
 * {@link sendFile}, which reads the file and cuts it into messages.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_MAX_FRAME_BYTES,
  ErrorCode,
  RooError,
  validateSourceAckMessage,
} from '../../protocols/index.js';
import { type Address, formatAddress } from '../../protocols/address.js';
import { badFlag } from './flags.js';
import { AckedOutput } from './send-acked.js';
import {
  DEFAULT_MAX_UNACKED_BYTES,
  DEFAULT_RECONNECT_RETRY_MS,
  DEFAULT_RESUME_WAIT_MS,
} from './send-acked-link.js';
import {
  CARRIAGE_RETURN,
  FileChunks,
  type FrameOutput,
  NEWLINE,
  lineTooLong,
} from './send-frames.js';
import { connectWithRetry } from './send-socket.js';
import { FrameWriter, SocketOutput } from './send-writer.js';

// Parts of the send's API that send.ts re-exports from here.
export { retryDelayMs } from './send-socket.js';
export { batchDelayMs } from './send-writer.js';

/** Default frames per batch (`--batch-size`). */
export const DEFAULT_BATCH_SIZE = 500;
/** How long a refused connection is retried before giving up. */
export const DEFAULT_CONNECT_RETRY_MS = 10_000;
/** How often a progress line is logged on long runs. */
export const PROGRESS_INTERVAL_MS = 2_000;

/** What to send, where, and how fast. */
export interface SendOptions {
  /** Where to connect. */
  readonly address: Address;
  /** The file to send. */
  readonly file: string;
  /** Stop after this many messages (default: the whole file once, or forever with `repeat`). */
  readonly messages?: number;
  /** Frames per batch (default {@link DEFAULT_BATCH_SIZE}). */
  readonly batchSize?: number;
  /** Nanoseconds from the start of one batch to the start of the next (default 0: no pause). */
  readonly intervalNs?: number;
  /** Loop over the file until `messages` are sent (forever without `messages`). */
  readonly repeat?: boolean;
  /** The file holds fixed-size binary messages of `msgSize` bytes. */
  readonly binary?: boolean;
  /** Message size in bytes for `binary`. */
  readonly msgSize?: number;
  /** How long to retry a refused connection (default {@link DEFAULT_CONNECT_RETRY_MS}). */
  readonly connectRetryMs?: number;
  /** Largest message sent; a longer line fails the send (default 16 MiB, the receivers' limit). */
  readonly maxFrameBytes?: number;
  /** Stops sending; what was sent is flushed and the connection closed cleanly. */
  readonly signal?: AbortSignal;
  /** Receives progress and retry lines (default: silent). */
  readonly log?: (line: string) => void;
  /** Milliseconds between progress lines (default {@link PROGRESS_INTERVAL_MS}). */
  readonly progressIntervalMs?: number;
  /**
   * Speak the acknowledging source protocol (protocols/source-ack.ts). The
   * `roo send` command does unless `--no-acks`; this function's default is
   * false, the plain sender it always was. A peer that closes the first
   * connection without answering the hello gets the plain sender instead.
   */
  readonly acks?: boolean;
  /**
   * The stream id told to the source (default `send-<pid>-<random hex>`: not
   * stable across sender restarts; give one to let a restarted sender resume).
   */
  readonly streamId?: string;
  /** Most bytes kept unacknowledged before reading stops (default 64 MiB). */
  readonly maxUnackedBytes?: number;
  /** How long a lost acknowledging connection is retried (default 60 s). */
  readonly reconnectRetryMs?: number;
  /** How long a connection waits for the source's `resume` (default 15 s). */
  readonly resumeWaitMs?: number;
}

/** What a send did. */
export interface SendResult {
  /** Messages sent. */
  readonly messages: number;
  /** Bytes sent on the wire, frame headers included. */
  readonly bytes: number;
  /** Bytes of message payload, without frame headers. */
  readonly payloadBytes: number;
  /** Seconds from connecting to the last byte handed to the OS. */
  readonly seconds: number;
  /** True when `signal` stopped the send early. */
  readonly aborted: boolean;
  /** How the frames went: plain, or acknowledging with or without acks from the source. */
  readonly mode: 'plain' | 'acked' | 'unacked';
  /** Messages of the input not sent because the source already had them (its first `resume`). */
  readonly skipped: number;
  /** Messages sent again after reconnects. */
  readonly resent: number;
}

// ---------------------------------------------------------------------------
// Lifecycle of one send.

/** States of a send. */
export type SendState = 'connecting' | 'retrying' | 'sending' | 'finishing' | 'done' | 'failed';

const SEND_TRANSITIONS: Readonly<Record<SendState, readonly SendState[]>> = {
  connecting: ['retrying', 'sending', 'done', 'failed'],
  retrying: ['connecting', 'done', 'failed'],
  sending: ['finishing', 'failed'],
  finishing: ['done', 'failed'],
  done: [],
  failed: [],
};

/** Returns `to` if a send may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextSendState(from: SendState, to: SendState): SendState {
  if (!SEND_TRANSITIONS[from].includes(to)) {
    throw new RooError(ErrorCode.Internal, `send cannot move from ${from} to ${to}`);
  }
  return to;
}

// ---------------------------------------------------------------------------
// Connecting.

/** A stream id for a send that was given none: unique, not stable across restarts. */
export function defaultStreamId(): string {
  return `send-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Throws ROO_ERR_BAD_FLAG unless `id` is a stream id the protocol accepts. */
export function checkStreamId(id: string): string {
  try {
    validateSourceAckMessage({ type: 'hello', version: 1, stream: id });
  } catch (err) {
    const reason = (err as Error).message.replace(
      /^field 'stream' of a 'hello' source ack message /,
      '',
    );
    throw badFlag(`--stream-id: ${reason}`);
  }
  return id;
}

/**
 * Opens the output of a send: an acknowledging connection when asked for and
 * the peer answers, else a plain socket. Undefined if aborted first.
 */
async function openOutput(
  options: SendOptions,
  log: (line: string) => void,
  onState: (state: SendState) => void,
): Promise<{ output: FrameOutput; acked: AckedOutput | undefined } | undefined> {
  const connectRetryMs = options.connectRetryMs ?? DEFAULT_CONNECT_RETRY_MS;
  if (options.acks === true) {
    const opened = await AckedOutput.open({
      address: options.address,
      stream: checkStreamId(options.streamId ?? defaultStreamId()),
      maxUnackedBytes: options.maxUnackedBytes ?? DEFAULT_MAX_UNACKED_BYTES,
      connectRetryMs,
      reconnectRetryMs: options.reconnectRetryMs ?? DEFAULT_RECONNECT_RETRY_MS,
      resumeWaitMs: options.resumeWaitMs ?? DEFAULT_RESUME_WAIT_MS,
      signal: options.signal,
      log,
    });
    if (opened.kind === 'aborted') return undefined;
    if (opened.kind === 'acked') {
      return { output: opened.output, acked: opened.output };
    }
    log(
      `roo send: ${formatAddress(options.address)} closed the connection without answering the acking hello: sending without acks (as --no-acks; pass it to skip this try)`,
    );
  }
  const socket = await connectWithRetry(
    options.address,
    connectRetryMs,
    options.signal,
    log,
    onState,
  );
  if (socket === undefined) return undefined;
  return { output: new SocketOutput(socket, options.signal), acked: undefined };
}

// ---------------------------------------------------------------------------
// Sending a file.

/**
 * Sends a file as frames (see the module comment) and resolves when every
 * frame is with the OS and the connection is closed.
 * Rejects with ROO_ERR_BAD_FLAG for bad options, or with the connection's error.
 */
export async function sendFile(options: SendOptions): Promise<SendResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const intervalNs = options.intervalNs ?? 0;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const limit = options.messages ?? Infinity;
  const repeat = options.repeat === true;
  const binary = options.binary === true;
  const msgSize = options.msgSize ?? 0;
  const log = options.log ?? (() => undefined);
  const signal = options.signal;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw badFlag('batch size must be ≥ 1');
  if (!(intervalNs >= 0)) throw badFlag('interval must be ≥ 0');
  if (!(limit >= 1)) throw badFlag('messages must be ≥ 1');
  if (binary && !(Number.isSafeInteger(msgSize) && msgSize >= 1 && msgSize <= maxFrameBytes)) {
    throw badFlag(`message size must be from 1 to ${maxFrameBytes} bytes`);
  }

  let info: Stats;
  try {
    info = await stat(options.file);
  } catch (err) {
    throw badFlag(`--file: cannot read '${options.file}': ${(err as Error).message}`);
  }
  if (!info.isFile()) throw badFlag(`--file: '${options.file}' is not a file`);
  if (binary && info.size % msgSize !== 0) {
    throw badFlag(
      `--file: '${options.file}' has ${info.size} bytes, not a multiple of --msg-size ${msgSize}`,
    );
  }
  const source = new FileChunks(options.file, info.size);

  let state: SendState = 'connecting';
  const move = (to: SendState) => {
    state = nextSendState(state, to);
  };
  const opened = await openOutput(options, log, move).catch((err: unknown) => {
    move('failed');
    throw err;
  });
  const begin = performance.now();
  if (opened === undefined) {
    move('done');
    return {
      messages: 0,
      bytes: 0,
      payloadBytes: 0,
      seconds: 0,
      aborted: true,
      mode: options.acks === true ? 'acked' : 'plain',
      skipped: 0,
      resent: 0,
    };
  }
  move('sending');
  const { output, acked } = opened;
  const skip = acked?.startPosition ?? 0;
  if (skip > 0) {
    log(
      `roo send: ${formatAddress(options.address)} already has the first ${skip} messages of this stream; skipping them`,
    );
  }

  const writer = new FrameWriter(output, batchSize, intervalNs, signal, skip);
  let last = { at: begin, messages: 0 };
  const progress = setInterval(() => {
    const now = performance.now();
    const rate = ((writer.messages - last.messages) * 1000) / (now - last.at);
    last = { at: now, messages: writer.messages };
    const more = output.progress?.();
    log(
      `roo send: sent ${writer.messages} messages (${writer.bytes} bytes), ${Math.round(rate)} msgs/s${more === undefined ? '' : `, ${more}`}`,
    );
  }, options.progressIntervalMs ?? PROGRESS_INTERVAL_MS);
  progress.unref();

  // Skipped messages count: --messages is a position in the stream.
  const stopped = () => signal?.aborted === true || writer.frames >= limit;
  try {
    passes: for (;;) {
      const before = writer.frames;
      let carry: Buffer | undefined;
      for await (const chunk of source.pass()) {
        const buf = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
        let pos = 0;
        for (;;) {
          if (stopped()) break passes;
          const from = pos;
          let to: number;
          if (binary) {
            if (buf.length - pos < msgSize) break;
            to = pos + msgSize;
            pos = to;
          } else {
            const newline = buf.indexOf(NEWLINE, pos);
            if (newline < 0) break;
            to = newline > from && buf[newline - 1] === CARRIAGE_RETURN ? newline - 1 : newline;
            pos = newline + 1;
            if (to - from > maxFrameBytes) throw lineTooLong(to - from, maxFrameBytes);
          }
          if (writer.add(buf, from, to)) await writer.flush();
        }
        carry = pos < buf.length ? buf.subarray(pos) : undefined;
        if (carry !== undefined && carry.length > maxFrameBytes + 1) {
          throw lineTooLong(carry.length, maxFrameBytes);
        }
      }
      // A last line without a newline is still a line.
      if (carry !== undefined && !binary && !stopped()) {
        let to = carry.length;
        if (carry[to - 1] === CARRIAGE_RETURN) to--;
        if (to > maxFrameBytes) throw lineTooLong(to, maxFrameBytes);
        if (writer.add(carry, 0, to)) await writer.flush();
      }
      // Without --repeat one pass; an empty file would repeat forever sending nothing.
      if (!repeat || writer.frames === before) break;
    }
    move('finishing');
    await writer.finish(signal?.aborted === true);
    move('done');
  } catch (err) {
    move('failed');
    output.destroy();
    throw err;
  } finally {
    clearInterval(progress);
  }
  return {
    messages: writer.messages,
    bytes: writer.bytes,
    payloadBytes: writer.payloadBytes,
    seconds: (performance.now() - begin) / 1000,
    aborted: signal?.aborted === true,
    mode: acked === undefined ? 'plain' : acked.acks ? 'acked' : 'unacked',
    skipped: writer.skippedFrames,
    resent: acked?.resent ?? 0,
  };
}
