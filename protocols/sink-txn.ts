/**
 * The exactly-once TCP sink's wire protocol (docs/resilience.md, sinks). A sink in
 * exactly-once mode holds each checkpoint's output until the checkpoint
 * commits, then sends it as one transaction; after a crash a recovered sink
 * may send a transaction again, so the receiver drops the epochs it already
 * applied. Pure: this file holds the messages and encodes the sink's side;
 * sink-txn-parser.ts parses the receiver's side of a connection; sockets and
 * the deduplication state live in runtime/.
 *
 * A connection, integers big-endian:
 *
 *     sink → receiver   "ROOTXN1\n"            8 bytes of magic
 *                       u32 length, hello      msgpack { type: 'hello', version: 1, sink }
 *                       then per transaction:
 *                       u32 length, txn header msgpack { type: 'txn', version: 1, epoch, bytes }
 *                       `bytes` raw bytes      the sink's output for checkpoint `epoch`
 *     receiver → sink   u32 length, ack        msgpack { type: 'ack', version: 1, sink, applied }
 *                       ...                    one at once after the hello, then as
 *                                              transactions are applied
 *
 * The acknowledgement was added without a new version: an older receiver
 * sends nothing back and an older sink reads nothing, so either side of an
 * older release still works with this one. A sink tells a receiver that
 * acknowledges by the ack it sends at once on the hello; one that stays
 * silent is an older receiver, and the sink falls back to writing its
 * newest transactions again after a reconnect (docs/resilience.md).
 *
 * Read as a frame length, "ROOT" is 1,380,929,364: far above any frame a roo
 * peer accepts, so a receiver tells this protocol from plain framed output by
 * the first 8 bytes, and passes anything else through untouched. (Raw,
 * unframed output whose first 8 bytes are exactly "ROOTXN1\n" would be taken
 * for this protocol and refused: the one ambiguity, and an unlikely one.)
 *
 * The body is the sink's encoder output exactly as the at-least-once sink
 * writes it (frames or lines); it is not one frame itself, so a transaction
 * is not bounded by the frame limit but by the receiver's transaction limit.
 */
import { Packr, Unpackr } from 'msgpackr';
import { encodeFrame } from './frame.js';
import { asciiMagic, withMagic } from './magic.js';
import {
  asRecord,
  bad,
  count,
  describe,
  field,
  unpackWire,
  packWire,
  supportedVersion,
  wellFormed,
} from './validate.js';

/** Version of the sink transaction protocol (the `1` of the magic and every message's `version`). */
export const SINK_TXN_PROTOCOL_VERSION = 1;

/** The 8 bytes an exactly-once sink connection starts with: "ROOTXN1\n". */
export const SINK_TXN_MAGIC: Uint8Array = asciiMagic('ROOTXN1\n');

/** Longest sink id, in UTF-16 code units (JavaScript string length). */
export const MAX_SINK_ID_LENGTH = 300;

/**
 * Largest hello or txn header message accepted. A hello with a 300-unit sink
 * id is at most ~930 bytes, a header under 64; a larger length is garbage.
 */
export const MAX_SINK_TXN_MESSAGE_BYTES = 1024;

/**
 * Default largest transaction body a receiver holds (256 MiB). A receiver
 * keeps a whole transaction in memory until its last byte arrives, because
 * one cut short must not be half applied; a sink must keep one checkpoint's
 * output below its receiver's limit.
 */
export const DEFAULT_MAX_SINK_TXN_BYTES = 256 * 1024 * 1024;

/** Names the sink on a connection; the second message of every connection. */
export interface SinkTxnHello {
  readonly type: 'hello';
  readonly version: typeof SINK_TXN_PROTOCOL_VERSION;
  /** A stable id, e.g. `worker1/word totals`: 1 to 300 UTF-16 code units, well-formed. */
  readonly sink: string;
}

/** Announces one transaction: `bytes` raw bytes of checkpoint `epoch`'s output follow. */
export interface SinkTxnHeader {
  readonly type: 'txn';
  readonly version: typeof SINK_TXN_PROTOCOL_VERSION;
  /** Strictly increases per sink id, across reconnects and crashes of the sink. */
  readonly epoch: number;
  /** Length of the body that follows. */
  readonly bytes: number;
}

/**
 * The receiver's acknowledgement, on the sink's connection: every
 * transaction of `sink` up to epoch `applied` is applied (with a ledger, on
 * disk in both the output and the ledger), so the sink may forget them.
 * Sent once at once after the hello (`applied` null when the receiver has
 * applied nothing of this sink), then whenever more are applied.
 */
export interface SinkTxnAck {
  readonly type: 'ack';
  readonly version: typeof SINK_TXN_PROTOCOL_VERSION;
  /** The sink id of the connection's hello. */
  readonly sink: string;
  /** The highest epoch applied for `sink`, or null for none yet. */
  readonly applied: number | null;
}

/** Any framed message of the protocol, discriminated by `type`. */
export type SinkTxnMessage = SinkTxnHello | SinkTxnHeader | SinkTxnAck;

/** The `type` of each kind of {@link SinkTxnMessage}. */
export type SinkTxnMessageType = SinkTxnMessage['type'];

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in SinkTxnMessageType]: readonly string[] } = {
  hello: ['sink'],
  txn: ['epoch', 'bytes'],
  ack: ['sink', 'applied'],
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a hello or txn header message (validated first, so a malformed one
 * fails at the sink). Returns the msgpack payload alone, without its frame
 * header, in a buffer of its own.
 */
export function encodeSinkTxnMessage(message: SinkTxnMessage): Uint8Array {
  return packWire(
    (v) => packr.pack(v),
    validateSinkTxnMessage(message),
    MAX_SINK_TXN_MESSAGE_BYTES,
    'sink transaction message',
  );
}

/**
 * Decodes and validates one message payload. Throws RooError
 * ROO_ERR_BAD_VERSION for another protocol version and ROO_ERR_BAD_MESSAGE
 * for anything else malformed (garbage, truncated or padded msgpack, a value
 * that is not a valid message).
 */
export function decodeSinkTxnMessage(bytes: Uint8Array): SinkTxnMessage {
  return validateSinkTxnMessage(
    unpackWire((b) => unpackr.unpack(b), bytes, 'sink transaction message'),
  );
}

/**
 * Checks that `value` is a message of the current version and returns a fresh
 * object holding only its fields: `sink` 1 to 300 UTF-16 code units of
 * well-formed text, `epoch` and `bytes` non-negative safe integers,
 * `applied` one of those or null, no other field. Throws like
 * {@link decodeSinkTxnMessage}.
 */
export function validateSinkTxnMessage(value: unknown): SinkTxnMessage {
  const record = asRecord(value, 'sink transaction message');
  const version = supportedVersion(
    record,
    'sink transaction message',
    SINK_TXN_PROTOCOL_VERSION,
    'receiver',
  );
  const type = field(record, 'type');
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    throw bad(`unknown sink transaction message type ${describe(type)}`);
  }
  const kind = type as SinkTxnMessageType;
  for (const key of Object.keys(record)) {
    if (key !== 'type' && key !== 'version' && !FIELDS[kind].includes(key)) {
      throw bad(`unexpected field ${JSON.stringify(key)} in a '${kind}' sink transaction message`);
    }
  }
  const what = `a '${kind}' sink transaction message`;
  if (kind === 'hello') return { type: kind, version, sink: sinkId(record, what) };
  if (kind === 'ack') {
    const applied = field(record, 'applied');
    return {
      type: kind,
      version,
      sink: sinkId(record, what),
      applied: applied === null ? null : count(applied, 'applied', what),
    };
  }
  return {
    type: kind,
    version,
    epoch: count(field(record, 'epoch'), 'epoch', what),
    bytes: count(field(record, 'bytes'), 'bytes', what),
  };
}

/** Field `sink` of the message `what`: 1 to 300 UTF-16 code units of well-formed text. */
function sinkId(record: Record<string, unknown>, what: string): string {
  const sink = field(record, 'sink');
  if (typeof sink !== 'string' || sink.length === 0 || sink.length > MAX_SINK_ID_LENGTH) {
    throw bad(
      `field 'sink' of ${what} must be a string of 1 to ${MAX_SINK_ID_LENGTH} characters, got ${describe(sink)}${typeof sink === 'string' ? ` (${sink.length} characters)` : ''}`,
    );
  }
  return wellFormed(sink, 'sink', what);
}

/** A message with its frame header, in one buffer. */
function framed(message: SinkTxnMessage): Buffer {
  return encodeFrame(encodeSinkTxnMessage(message));
}

/**
 * Sink side: the first bytes of every exactly-once connection, the magic and
 * the framed hello naming the sink. Write it again after every reconnect.
 * Throws ROO_ERR_BAD_MESSAGE for an id that is empty, longer than 300 code
 * units or not well-formed.
 */
export function encodeSinkTxnHello(sink: string): Buffer {
  return withMagic(
    SINK_TXN_MAGIC,
    framed({ type: 'hello', version: SINK_TXN_PROTOCOL_VERSION, sink }),
  );
}

/**
 * Receiver side: a framed ack, every transaction of `sink` up to epoch
 * `applied` applied (null: none yet). Throws ROO_ERR_BAD_MESSAGE for an
 * invalid sink id or epoch.
 */
export function encodeSinkTxnAck(sink: string, applied: number | null): Buffer {
  return framed({ type: 'ack', version: SINK_TXN_PROTOCOL_VERSION, sink, applied });
}

/**
 * Sink side: the framed header of a transaction of `bytes` body bytes, for a
 * sink that writes the body itself. Throws ROO_ERR_BAD_MESSAGE for an epoch
 * or length that is not a non-negative safe integer.
 */
export function encodeSinkTxnHeader(epoch: number, bytes: number): Buffer {
  return framed({ type: 'txn', version: SINK_TXN_PROTOCOL_VERSION, epoch, bytes });
}

/**
 * Sink side: one whole transaction, its header followed by the body chunks
 * (the encoder's output for checkpoint `epoch`, in order, uncopied). Write
 * the returned buffers in order, nothing between them. Throws like
 * {@link encodeSinkTxnHeader}.
 */
export function encodeSinkTxn(
  epoch: number,
  body: Uint8Array | readonly Uint8Array[],
): Uint8Array[] {
  const chunks: readonly Uint8Array[] = body instanceof Uint8Array ? [body] : body;
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.length;
  const out: Uint8Array[] = [encodeSinkTxnHeader(epoch, bytes)];
  for (const chunk of chunks) if (chunk.length > 0) out.push(chunk);
  return out;
}
