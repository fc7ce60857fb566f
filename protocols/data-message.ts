/**
 * Data messages: what travels on a data channel between workers, one per
 * frame, both ways on the one TCP connection a sending thread opens to a
 * receiving worker.
 *
 * Sender → receiver, `batch`: actor messages from one sending thread to
 * actors of the receiving worker, all of one lane. Checkpoint barriers need
 * no kind of their own: they are runtime actor messages (tag RT_BARRIER,
 * runtime/engine/epochs.ts) inside batches, so lane order alone keeps each
 * between the data before it and the data after. What a batch carries beside
 * its messages is the cluster's rollback generation (`epoch`): a receiver
 * checks it before decoding the batch, and drops a batch that an abandoned
 * engine sent.
 *
 * Receiver → sender, credit-based flow control (docs/architecture.md section
 * 5, rule 9): a connection is split into lanes (the sender picks a message's
 * lane; roo's runtime makes it the pair of the target stage and the epoch
 * bit), and per lane the sender may have at most a window of frame bytes
 * sent and not yet handed back. `window` opens the connection: every lane's
 * window, in bytes. `credit` hands back bytes of one lane the receiver has
 * taken in: the sender may send that many more. A frame larger than the
 * window goes alone, when nothing of its lane is outstanding.
 *
 * Encoded with msgpackr as plain maps (no records: a record's structure would
 * live in the encoder's state, and a peer that missed it could not decode).
 * Decoding validates every field, because the bytes come from another process.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { bad, count, describe, field, nonEmptyText, unpackWire, versionField } from './validate.js';

/**
 * Version of the data-message format; a peer speaking another is refused.
 * Version 2 added lanes, `window` and `credit` (version 1 had `batch` alone).
 */
export const DATA_PROTOCOL_VERSION = 2;

/** Lanes of a connection: a lane number is below this. */
export const MAX_DATA_LANES = 1024;

/** The largest window a receiver may open (1 GiB): far above any sane bound, well inside a safe integer. */
export const MAX_DATA_WINDOW_BYTES = 1024 * 1024 * 1024;

/** An encoded batch of actor messages from one sending worker, all of one lane. */
export interface BatchDataMessage {
  readonly type: 'batch';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  /**
   * The cluster's rollback generation the sender ran in (0 until the first
   * rollback). A receiver drops a batch of another generation, with its
   * connection: an engine that a rollback abandoned sent it.
   */
  readonly epoch: number;
  /** Name of the sending worker. */
  readonly sender: string;
  /** The lane the batch counts against (below {@link MAX_DATA_LANES}). */
  readonly lane: number;
  /** The batch, opaque here: decoded by the batch codec on the receiving thread. */
  readonly bytes: Uint8Array;
}

/** The receiver opens a connection: every lane may have `bytes` of frames outstanding. */
export interface WindowDataMessage {
  readonly type: 'window';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  /** Frame bytes (headers included) per lane, from 1 to {@link MAX_DATA_WINDOW_BYTES}. */
  readonly bytes: number;
}

/** The receiver hands back `bytes` of `lane`: the sender may send that many more. */
export interface CreditDataMessage {
  readonly type: 'credit';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  readonly lane: number;
  /** Frame bytes taken in (headers included), at least 1: a frame larger than the window comes back whole. */
  readonly bytes: number;
}

/** Any message on a data channel, discriminated by `type`. */
export type DataMessage = BatchDataMessage | WindowDataMessage | CreditDataMessage;

/** The `type` of each kind of {@link DataMessage}. */
export type DataMessageType = DataMessage['type'];

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in DataMessageType]: readonly string[] } = {
  batch: ['epoch', 'sender', 'lane', 'bytes'],
  window: ['bytes'],
  credit: ['lane', 'bytes'],
};

const packr = new Packr({ useRecords: false });
// copyBuffers: a frame payload is a view valid only during its callback, so a
// batch's bytes must not alias it.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/**
 * Encodes a data message (validated first, so a malformed one fails at the
 * sender, not at every receiver). Returns a plain Uint8Array of exactly the
 * encoding's size with a buffer of its own: msgpackr packs into a shared
 * buffer that its next call overwrites.
 */
export function encodeDataMessage(message: DataMessage): Uint8Array {
  const valid = validateDataMessage(message);
  return new Uint8Array(packr.pack(valid));
}

/**
 * Decodes and validates one encoded data message. Throws RooError
 * ROO_ERR_BAD_VERSION for another protocol version and ROO_ERR_BAD_MESSAGE for
 * anything else malformed: bytes msgpackr cannot read, a truncated or padded
 * encoding, or a value that is not a valid message.
 */
export function decodeDataMessage(bytes: Uint8Array): DataMessage {
  const message = validateDataMessage(unpackWire((b) => unpackr.unpack(b), bytes, 'data message'));
  if (message.type === 'batch' && Object.getPrototypeOf(message.bytes) !== Uint8Array.prototype) {
    // msgpackr hands binary back as a Buffer when the input is one; callers
    // get the same plain Uint8Array whatever they decoded from (a view, no copy).
    const batch = message.bytes;
    return { ...message, bytes: new Uint8Array(batch.buffer, batch.byteOffset, batch.length) };
  }
  return message;
}

/** A lane number: a count below {@link MAX_DATA_LANES}. */
function lane(x: unknown, what: string): number {
  const n = count(x, 'lane', what);
  if (n >= MAX_DATA_LANES) {
    throw bad(`field 'lane' of ${what} must be below ${MAX_DATA_LANES}, got ${n}`);
  }
  return n;
}

/** A byte count from 1 to `max`. */
function positive(x: unknown, max: number, what: string): number {
  const n = count(x, 'bytes', what);
  if (n === 0 || n > max) {
    throw bad(`field 'bytes' of ${what} must be from 1 to ${max}, got ${n}`);
  }
  return n;
}

/**
 * Checks that `value` is a data message of the current version and returns it
 * as a fresh object holding only its fields. Every number must be a
 * non-negative safe integer (a lane below {@link MAX_DATA_LANES}, a window
 * from 1 to {@link MAX_DATA_WINDOW_BYTES}, a credit at least 1) and every name
 * a non-empty, well-formed string; unknown fields are refused (a new field
 * means a new version). Throws like {@link decodeDataMessage}.
 */
export function validateDataMessage(value: unknown): DataMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad(`data message must be a map, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  const version = versionField(record, 'data message');
  if (version !== DATA_PROTOCOL_VERSION) {
    throw new RooError(
      ErrorCode.BadVersion,
      `data message version ${version} is not supported (this worker speaks version ${DATA_PROTOCOL_VERSION})`,
      { version, supported: DATA_PROTOCOL_VERSION },
    );
  }
  const type = field(record, 'type');
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    throw bad(`unknown data message type ${describe(type)}`);
  }
  const kind = type as DataMessageType;
  const allowed = FIELDS[kind];
  for (const key of Object.keys(record)) {
    if (key !== 'type' && key !== 'version' && !allowed.includes(key)) {
      throw bad(`unexpected field ${JSON.stringify(key)} in a '${kind}' data message`);
    }
  }
  const what = `a '${kind}' data message`;
  switch (kind) {
    case 'window':
      return {
        type: kind,
        version,
        bytes: positive(field(record, 'bytes'), MAX_DATA_WINDOW_BYTES, what),
      };
    case 'credit':
      return {
        type: kind,
        version,
        lane: lane(field(record, 'lane'), what),
        bytes: positive(field(record, 'bytes'), Number.MAX_SAFE_INTEGER, what),
      };
    case 'batch': {
      const epoch = count(field(record, 'epoch'), 'epoch', what);
      const bytes = field(record, 'bytes');
      if (!(bytes instanceof Uint8Array)) {
        throw bad(`field 'bytes' of ${what} must be binary, got ${describe(bytes)}`);
      }
      return {
        type: kind,
        version,
        epoch,
        sender: nonEmptyText(field(record, 'sender'), 'sender', what),
        lane: lane(field(record, 'lane'), what),
        bytes,
      };
    }
  }
}
