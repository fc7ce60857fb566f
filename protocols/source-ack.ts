/**
 * The acknowledging TCP source protocol (docs/resilience.md, sources that replay). A
 * sender that wants its data replayed after a recovery opens its connection
 * with a magic and a hello naming its stream; the source answers with the
 * position to (re)send from, and later acknowledges the positions committed
 * checkpoints cover, so the sender may forget what came before. Pure: this
 * file encodes the messages and parses the source's side of a connection;
 * sockets and the per-stream bookkeeping live in runtime/.
 *
 * A connection, integers big-endian:
 *
 *     sender → source   "ROOACK1\n"          8 bytes of magic
 *                       u32 length, hello    msgpack { type: 'hello', version: 1, stream }
 *                       u32 length, payload  data frame 0, 1, 2, ... of the stream from
 *                       ...                  the `resume` position on
 *     source → sender   u32 length, resume   msgpack { type: 'resume', version: 1, position, acks }
 *                       u32 length, ack      msgpack { type: 'ack', version: 1, position }, ...
 *                       u32 length, close    msgpack { type: 'close', version: 1, code, reason },
 *                                            last, when the source stops for good (an
 *                                            application error): nothing more will be
 *                                            acknowledged, so the sender stops waiting
 *
 * A plain connection (Wallaroo's framing: frames from the first byte, no
 * acks) is told apart by its first byte. Read as a frame length, the magic's
 * "ROOA" is 1,380,929,345; more to the point, any length starting with the
 * byte 'R' (0x52) is at least 0x52000000 (1,375,731,712 bytes). Sources
 * refuse frames that large (the default limit is 16 MiB, and
 * {@link AckedConnectionParser} refuses a limit of 0x52000000 or more), so a
 * plain connection never starts with 'R' and one byte decides. A connection
 * that starts like the magic but strays from it in the first 4 bytes is read
 * as plain and refused as a frame too large; one that strays after "ROOA" is
 * refused as a bad message.
 *
 * Positions count data frames of a stream from 0: position p is the index of
 * the next frame, so "frames before p" are frames 0 to p-1.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, encodeFrame } from './frame.js';
import { asciiMagic, matchMagic, withMagic } from './magic.js';
import { checkedTransition, type TransitionTable } from './transition.js';
import {
  asRecord,
  bad,
  clip,
  count,
  describe,
  field,
  unpackWire,
  packWire,
  supportedVersion,
  wellFormed,
} from './validate.js';

/** Version of the acknowledging source protocol (the `1` of the magic and every message's `version`). */
export const SOURCE_ACK_PROTOCOL_VERSION = 1;

/** The 8 bytes an acknowledging sender's connection starts with: "ROOACK1\n". */
export const SOURCE_ACK_MAGIC: Uint8Array = asciiMagic('ROOACK1\n');

/**
 * Largest frame limit an {@link AckedConnectionParser} accepts: one below
 * 0x52000000, so that no plain frame's length starts with the magic's 'R'.
 */
export const MAX_ACKED_SOURCE_FRAME_BYTES = 0x52000000 - 1;

/** Longest stream id, in UTF-16 code units (JavaScript string length). */
export const MAX_STREAM_ID_LENGTH = 200;

/**
 * Largest hello, resume or ack message. A hello with a 200-unit stream id is
 * at most ~630 bytes, a resume or ack under 64; a larger length is garbage.
 */
export const MAX_SOURCE_ACK_MESSAGE_BYTES = 1024;

/** The sender names its stream; the second thing on every acknowledging connection. */
export interface SourceHello {
  readonly type: 'hello';
  readonly version: typeof SOURCE_ACK_PROTOCOL_VERSION;
  /**
   * The sender's stream id, stable across its reconnects: 1 to 200 UTF-16
   * code units of well-formed text, not `__proto__` (it becomes a key of the
   * positions a checkpoint records, and msgpackr renames that key).
   */
  readonly stream: string;
}

/** The source's answer to a hello, sent once: where the sender (re)starts. */
export interface SourceResume {
  readonly type: 'resume';
  readonly version: typeof SOURCE_ACK_PROTOCOL_VERSION;
  /**
   * Send from frame `position` on; frames before it need no resending (with
   * `acks`, a committed checkpoint covers them: the sender may forget them).
   */
  readonly position: number;
  /**
   * Whether `ack` messages will come (the source runs with checkpoints). With
   * false none will: the sender keeps nothing for replay and is done once
   * everything is written.
   */
  readonly acks: boolean;
}

/** Every frame before `position` is covered by a committed checkpoint: the sender may forget them. */
export interface SourceAck {
  readonly type: 'ack';
  readonly version: typeof SOURCE_ACK_PROTOCOL_VERSION;
  readonly position: number;
}

/** Longest `reason` of a {@link SourceClose}, in UTF-16 code units (it must fit the 1 KiB limit). */
export const MAX_CLOSE_REASON_LENGTH = 250;

/** Longest `code` of a {@link SourceClose} (an error code such as `ROO_ERR_SNAPSHOT_ENCODE_FAILED`). */
export const MAX_CLOSE_CODE_LENGTH = 64;

/**
 * The source closes the connection for good: its worker stops because of an
 * error that a restart would meet again (a state it cannot checkpoint, say),
 * so no acknowledgement will ever come. The sender stops waiting and fails,
 * saying why, rather than wait and reconnect.
 */
export interface SourceClose {
  readonly type: 'close';
  readonly version: typeof SOURCE_ACK_PROTOCOL_VERSION;
  /** The error code, 1 to 64 characters of `A`-`Z`, `0`-`9` and `_`. */
  readonly code: string;
  /** What happened and what to do, 1 to 250 UTF-16 code units of well-formed text. */
  readonly reason: string;
}

/** Any message of the protocol, discriminated by `type`. */
export type SourceAckMessage = SourceHello | SourceResume | SourceAck | SourceClose;

/** The `type` of each kind of {@link SourceAckMessage}. */
export type SourceAckMessageType = SourceAckMessage['type'];

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in SourceAckMessageType]: readonly string[] } = {
  hello: ['stream'],
  resume: ['position', 'acks'],
  ack: ['position'],
  close: ['code', 'reason'],
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a message (validated first, so a malformed one fails at its
 * sender). Returns the msgpack payload alone, without its frame header, in a
 * buffer of its own.
 */
export function encodeSourceAckMessage(message: SourceAckMessage): Uint8Array {
  return packWire(
    (v) => packr.pack(v),
    validateSourceAckMessage(message),
    MAX_SOURCE_ACK_MESSAGE_BYTES,
    'source ack message',
  );
}

/** Encodes a message with its frame header, in one buffer, ready to write. */
export function encodeSourceAckFrame(message: SourceAckMessage): Buffer {
  return encodeFrame(encodeSourceAckMessage(message));
}

/**
 * Sender side: the first bytes of every acknowledging connection, the magic
 * and the framed hello naming the stream. Write it again after every
 * reconnect. Throws ROO_ERR_BAD_MESSAGE for an invalid stream id.
 */
export function encodeSourceAckOpening(stream: string): Buffer {
  return withMagic(
    SOURCE_ACK_MAGIC,
    encodeSourceAckFrame({ type: 'hello', version: SOURCE_ACK_PROTOCOL_VERSION, stream }),
  );
}

/**
 * Decodes and validates one message payload. Throws RooError
 * ROO_ERR_BAD_VERSION for another protocol version and ROO_ERR_BAD_MESSAGE
 * for anything else malformed (garbage, truncated or padded msgpack, a value
 * that is not a valid message, a payload over 1 KiB).
 */
export function decodeSourceAckMessage(bytes: Uint8Array): SourceAckMessage {
  if (bytes.length > MAX_SOURCE_ACK_MESSAGE_BYTES) {
    throw bad(
      `source ack message of ${bytes.length} bytes exceeds the maximum of ${MAX_SOURCE_ACK_MESSAGE_BYTES} bytes`,
    );
  }
  return validateSourceAckMessage(
    unpackWire((b) => unpackr.unpack(b), bytes, 'source ack message'),
  );
}

/**
 * Checks that `value` is a message of the current version and returns a fresh
 * object holding only its fields: `stream` as {@link SourceHello} says,
 * `position` a non-negative safe integer, `acks` a boolean, no other field.
 * Throws like {@link decodeSourceAckMessage}.
 */
export function validateSourceAckMessage(value: unknown): SourceAckMessage {
  const record = asRecord(value, 'source ack message');
  const version = supportedVersion(
    record,
    'source ack message',
    SOURCE_ACK_PROTOCOL_VERSION,
    'peer',
    (r) => {
      const type = field(r, 'type');
      return typeof type === 'string' ? { type: clip(type) } : {};
    },
  );
  const type = field(record, 'type');
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    throw bad(`unknown source ack message type ${describe(type)}`);
  }
  const kind = type as SourceAckMessageType;
  for (const key of Object.keys(record)) {
    if (key !== 'type' && key !== 'version' && !FIELDS[kind].includes(key)) {
      throw bad(`unexpected field ${JSON.stringify(clip(key))} in a '${kind}' source ack message`);
    }
  }
  const what = `a '${kind}' source ack message`;
  switch (kind) {
    case 'hello':
      return { type: kind, version, stream: streamId(field(record, 'stream'), what) };
    case 'resume': {
      const acks = field(record, 'acks');
      if (typeof acks !== 'boolean') {
        throw bad(`field 'acks' of ${what} must be a boolean, got ${describe(acks)}`);
      }
      return {
        type: kind,
        version,
        position: count(field(record, 'position'), 'position', what),
        acks,
      };
    }
    case 'ack':
      return { type: kind, version, position: count(field(record, 'position'), 'position', what) };
    case 'close': {
      const code = field(record, 'code');
      if (typeof code !== 'string' || !/^[A-Z0-9_]{1,64}$/.test(code)) {
        throw bad(
          `field 'code' of ${what} must be 1 to ${MAX_CLOSE_CODE_LENGTH} of A-Z, 0-9 and _, got ${describe(code)}`,
        );
      }
      const reason = field(record, 'reason');
      if (
        typeof reason !== 'string' ||
        reason.length === 0 ||
        reason.length > MAX_CLOSE_REASON_LENGTH
      ) {
        throw bad(
          `field 'reason' of ${what} must be a string of 1 to ${MAX_CLOSE_REASON_LENGTH} characters, got ${describe(reason)}`,
        );
      }
      return { type: kind, version, code, reason: wellFormed(reason, 'reason', what) };
    }
  }
}

/**
 * Source side: the framed `close` for `code` and `reason`, the reason cut
 * to {@link MAX_CLOSE_REASON_LENGTH} (with "..."; never inside a surrogate
 * pair). Throws ROO_ERR_BAD_MESSAGE for a malformed code or an empty reason.
 */
export function encodeSourceClose(code: string, reason: string): Buffer {
  let text = reason;
  if (text.length > MAX_CLOSE_REASON_LENGTH) {
    let cut = MAX_CLOSE_REASON_LENGTH - 3;
    const last = text.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut--;
    text = `${text.slice(0, cut)}...`;
  }
  return encodeSourceAckFrame({
    type: 'close',
    version: SOURCE_ACK_PROTOCOL_VERSION,
    code,
    reason: text,
  });
}

/** Field `stream` of `what`, checked as {@link SourceHello} says. */
function streamId(x: unknown, what: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > MAX_STREAM_ID_LENGTH) {
    throw bad(
      `field 'stream' of ${what} must be a string of 1 to ${MAX_STREAM_ID_LENGTH} characters, got ${describe(x)}${typeof x === 'string' ? ` (${x.length} characters)` : ''}`,
    );
  }
  if (x === '__proto__') throw bad(`field 'stream' of ${what} may not be "__proto__"`);
  return wellFormed(x, 'stream', what);
}

// ---------------------------------------------------------------------------
// Source side.

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
