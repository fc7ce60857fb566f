/**
 * The source's side of the acknowledging TCP source protocol (source-ack.ts
 * holds the wire format and the messages): an incremental parser that tells
 * an acknowledging connection from a plain one by its first bytes, reads the
 * hello and delivers the numbered data frames, with its lifecycle as a
 * transition table. Kept apart from the messages because only the source
 * parses; a sender needs the encoders alone. Pure: sockets and the
 * per-stream bookkeeping live in runtime/ (runtime/connectors/acked-streams.ts).
 */
import { ErrorCode, RooError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder } from './frame.js';
import { matchMagic } from './magic.js';
import {
  decodeSourceAckMessage,
  MAX_SOURCE_ACK_MESSAGE_BYTES,
  SOURCE_ACK_MAGIC,
  type SourceHello,
} from './source-ack.js';
import { checkedTransition, type TransitionTable } from './transition.js';
import { bad } from './validate.js';

/**
 * Largest frame limit an {@link AckedConnectionParser} accepts: one below
 * 0x52000000, so that no plain frame's length starts with the magic's 'R'.
 */
export const MAX_ACKED_SOURCE_FRAME_BYTES = 0x52000000 - 1;

/**
 * States of a connection's parser: `detecting` while the bytes so far are a
 * proper prefix of the magic (nothing yet, or some of "ROOACK1\n"); `plain`
 * once they are not; `hello` after the magic, until the hello frame is in;
 * `acking` after it; `failed` after an error (fail-stop).
 */
export type AckedConnectionState = 'detecting' | 'plain' | 'hello' | 'acking' | 'failed';

const PARSER_TRANSITIONS: TransitionTable<AckedConnectionState> = {
  detecting: ['plain', 'hello', 'failed'],
  plain: ['failed'],
  hello: ['acking', 'failed'],
  acking: ['failed'],
  failed: [],
};

/** Returns `to` if a parser may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextAckedConnectionState(
  from: AckedConnectionState,
  to: AckedConnectionState,
): AckedConnectionState {
  return checkedTransition(PARSER_TRANSITIONS, from, to, 'source connection parser');
}

/**
 * Incremental parser of the source's side of one connection. Feed it chunks
 * as they arrive: it tells plain connections from acknowledging ones by their
 * first bytes (the magic may arrive split across chunks, and a plain
 * connection's first chunk may be a single byte), reads the hello of an
 * acknowledging one, and calls `onData` for every data frame, counting them
 * (`frames`). Framing is protocols/frame.ts's FrameDecoder, so frame limits,
 * views and fail-stop behave as there: a payload passed to `onData` is a view
 * valid only during the call unless copied.
 *
 * Errors (a frame over `maxFrameBytes`, a bad magic, a hello that is not a
 * valid hello, a data frame before the hello) throw RooError from `push`;
 * the parser is then fail-stop, every later call throwing the same error, and
 * the caller closes the connection. An error thrown by a callback propagates
 * and fails the parser too.
 */
export class AckedConnectionParser {
  private readonly decoder: FrameDecoder;
  private readonly maxFrameBytes: number;
  private current: AckedConnectionState = 'detecting';
  /** Bytes of the magic matched so far, while detecting. */
  private matched = 0;
  private helloMessage: SourceHello | undefined;
  private dataFrames = 0;
  private failure: RooError | undefined;
  /** Set while a push is under way, to refuse a re-entrant one. */
  private pushing = false;

  /**
   * @param maxFrameBytes largest data frame accepted, an integer from 0 to
   *   {@link MAX_ACKED_SOURCE_FRAME_BYTES}; anything else throws
   *   ROO_ERR_BAD_FLAG (a larger limit would make a plain frame's length
   *   indistinguishable from the magic).
   */
  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    if (!(
      Number.isInteger(maxFrameBytes) &&
      maxFrameBytes >= 0 &&
      maxFrameBytes <= MAX_ACKED_SOURCE_FRAME_BYTES
    )) {
      throw new RooError(
        ErrorCode.BadFlag,
        `maximum frame size of a TCP source must be an integer from 0 to ${MAX_ACKED_SOURCE_FRAME_BYTES} bytes, got ${maxFrameBytes}`,
        { max: maxFrameBytes },
      );
    }
    this.maxFrameBytes = maxFrameBytes;
    // The hello travels through the same decoder; below 1 KiB the data limit
    // is checked per frame instead, so a tiny limit still admits the hello.
    this.decoder = new FrameDecoder(Math.max(maxFrameBytes, MAX_SOURCE_ACK_MESSAGE_BYTES));
  }

  /** Where the parser is. */
  get state(): AckedConnectionState {
    return this.current;
  }

  /** The hello of an acknowledging connection, once it is in. */
  get hello(): SourceHello | undefined {
    return this.helloMessage;
  }

  /** The stream id of an acknowledging connection once its hello is in; undefined for a plain one. */
  get stream(): string | undefined {
    return this.helloMessage?.stream;
  }

  /** Data frames delivered so far (the hello is not one). */
  get frames(): number {
    return this.dataFrames;
  }

  /**
   * Consumes `chunk`: calls `onHello` when the hello completes (before any
   * data frame that follows it in the same chunk) and `onData` for each data
   * frame. Returns the hello if this push completed it, else undefined.
   */
  push(
    chunk: Buffer,
    onData: (payload: Buffer) => void,
    onHello?: (hello: SourceHello) => void,
  ): SourceHello | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.pushing) {
      // The outer push still holds the rest of its chunk; taking this one now
      // would reorder the stream.
      throw this.fail(
        new RooError(
          ErrorCode.Internal,
          'AckedConnectionParser.push called from inside its own callback',
        ),
      );
    }
    this.pushing = true;
    const before = this.helloMessage;
    try {
      let rest = chunk;
      if (this.current === 'detecting') {
        const detected = this.detect(chunk);
        if (detected === undefined) return undefined;
        rest = detected;
      }
      if (rest.length > 0) {
        this.decoder.push(rest, (payload) => this.frame(payload, onData, onHello));
      }
      return before === undefined ? this.helloMessage : undefined;
    } catch (e) {
      // A callback's own error goes to the caller as it is; the parser has
      // lost its place in the stream either way.
      this.fail(
        e instanceof RooError
          ? e
          : new RooError(
              ErrorCode.Internal,
              'AckedConnectionParser used after a callback threw: its place in the stream is lost',
            ),
      );
      throw e;
    } finally {
      this.pushing = false;
    }
  }

  /**
   * Signals the end of the connection. Throws ROO_ERR_FRAME_TRUNCATED if it
   * stopped inside the magic, before an acknowledging connection's hello, or
   * inside a frame (whose bytes are discarded). An empty connection is fine.
   */
  end(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.current === 'detecting' && this.matched > 0) {
      throw this.fail(
        new RooError(
          ErrorCode.FrameTruncated,
          `connection ended inside the acking magic (${this.matched} of ${SOURCE_ACK_MAGIC.length} bytes)`,
          { bytes: this.matched },
        ),
      );
    }
    try {
      this.decoder.end();
    } catch (e) {
      throw this.fail(e as RooError);
    }
    if (this.current === 'hello') {
      throw this.fail(
        new RooError(ErrorCode.FrameTruncated, 'acknowledging connection ended before its hello'),
      );
    }
  }

  /**
   * Matches the start of a connection against the magic. Returns the bytes
   * of `chunk` left for the frame decoder, or undefined while still matching.
   */
  private detect(chunk: Buffer): Buffer | undefined {
    const match = matchMagic(SOURCE_ACK_MAGIC, this.matched, chunk);
    if (match.kind === 'partial') {
      this.matched = match.matched;
      return undefined;
    }
    if (match.kind === 'complete') {
      this.matched = SOURCE_ACK_MAGIC.length;
      this.move('hello');
      return chunk.subarray(match.at);
    }
    const { matched: held, at } = match;
    this.matched = held;
    if (held >= FRAME_HEADER_BYTES) {
      throw bad(
        `connection starts with "ROOA" but not with the acking magic "ROOACK1\\n" (byte ${held} is 0x${chunk[at]!.toString(16).padStart(2, '0')})`,
      );
    }
    // Plain from the first byte: what was held as magic is the start of a
    // frame header (one the decoder refuses as too large if it began with 'R').
    this.move('plain');
    if (held === 0) return chunk.subarray(at);
    return Buffer.concat([SOURCE_ACK_MAGIC.subarray(0, held), chunk.subarray(at)]);
  }

  private frame(
    payload: Buffer,
    onData: (payload: Buffer) => void,
    onHello: ((hello: SourceHello) => void) | undefined,
  ): void {
    if (this.current !== 'hello') {
      if (payload.length > this.maxFrameBytes) {
        throw new RooError(
          ErrorCode.FrameTooLarge,
          `frame of ${payload.length} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`,
          { length: payload.length, max: this.maxFrameBytes },
        );
      }
      this.dataFrames++;
      onData(payload);
      return;
    }
    const message = decodeSourceAckMessage(payload);
    if (message.type !== 'hello') {
      throw bad(`a '${message.type}' source ack message came where the hello belongs`);
    }
    this.helloMessage = message;
    this.move('acking');
    onHello?.(message);
  }

  private move(to: AckedConnectionState): void {
    this.current = nextAckedConnectionState(this.current, to);
  }

  /** Records the parser's first failure (fail-stop) and returns it. */
  private fail(error: RooError): RooError {
    this.failure ??= error;
    if (this.current !== 'failed') this.move('failed');
    return this.failure;
  }
}
