/**
 * The acknowledging TCP source protocol (docs/resilience.md, sources that replay):
 * its wire format, the messages with their encoder, decoder and validator. A
 * sender that wants its data replayed after a recovery opens its connection
 * with a magic and a hello naming its stream; the source answers with the
 * position to (re)send from, and later acknowledges the positions committed
 * checkpoints cover, so the sender may forget what came before. Pure: the
 * source's side of a connection is parsed by source-ack-parser.ts; sockets
 * and the per-stream bookkeeping live in runtime/.
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
 * source-ack-parser.ts's AckedConnectionParser refuses a limit of 0x52000000
 * or more), so a plain connection never starts with 'R' and one byte decides.
 * A connection that starts like the magic but strays from it in the first 4
 * bytes is read as plain and refused as a frame too large; one that strays
 * after "ROOA" is refused as a bad message.
 *
 * Positions count data frames of a stream from 0: position p is the index of
 * the next frame, so "frames before p" are frames 0 to p-1.
 */
import { Packr, Unpackr } from 'msgpackr';
import { encodeFrame } from './frame.js';
import { asciiMagic, withMagic } from './magic.js';
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
