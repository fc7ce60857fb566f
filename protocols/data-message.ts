/**
 * Data messages: what travels on a data channel between workers, one per
 * frame. Most are batches of actor messages; the rest are the in-band control
 * marks whose order relative to the data matters (barriers, epoch changes,
 * end of stream), which is why they share the channel instead of travelling
 * on the control plane.
 *
 * Encoded with msgpackr as plain maps (no records: a record's structure would
 * live in the encoder's state, and a peer that missed it could not decode).
 * Decoding validates every field, because the bytes come from another process.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { bad, count, describe, field, nonEmptyText, unpackWire, versionField } from './validate.js';

/** Version of the data-message format; a peer speaking another is refused. */
export const DATA_PROTOCOL_VERSION = 1;

/** An encoded batch of actor messages from one sending worker. */
export interface BatchDataMessage {
  readonly type: 'batch';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  /** Rollback epoch the batch was sent in; receivers drop batches of an abandoned epoch. */
  readonly epoch: number;
  /** Name of the sending worker. */
  readonly sender: string;
  /** The batch, opaque here: decoded by the batch codec on the receiving thread. */
  readonly bytes: Uint8Array;
}

/** Checkpoint barrier `checkpointId`, in band so it splits the data before from the data after. */
export interface BarrierDataMessage {
  readonly type: 'barrier';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  readonly epoch: number;
  readonly checkpointId: number;
}

/** The sender rolled back to `epoch`; everything after this mark belongs to it. */
export interface EpochDataMessage {
  readonly type: 'epoch';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  readonly epoch: number;
}

/** Source `sourceId` reached its end; nothing more of it follows on this channel. */
export interface EosDataMessage {
  readonly type: 'eos';
  readonly version: typeof DATA_PROTOCOL_VERSION;
  readonly epoch: number;
  readonly sourceId: string;
}

/** Any message on a data channel, discriminated by `type`. */
export type DataMessage = BatchDataMessage | BarrierDataMessage | EpochDataMessage | EosDataMessage;

/** The `type` of each kind of {@link DataMessage}. */
export type DataMessageType = DataMessage['type'];

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in DataMessageType]: readonly string[] } = {
  batch: ['epoch', 'sender', 'bytes'],
  barrier: ['epoch', 'checkpointId'],
  epoch: ['epoch'],
  eos: ['epoch', 'sourceId'],
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

/**
 * Checks that `value` is a data message of the current version and returns it
 * as a fresh object holding only its fields. Every number must be a
 * non-negative safe integer and every name a non-empty, well-formed string;
 * unknown fields are refused (a new field means a new version). Throws like
 * {@link decodeDataMessage}.
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
  const epoch = count(field(record, 'epoch'), 'epoch', what);
  switch (kind) {
    case 'batch': {
      const bytes = field(record, 'bytes');
      if (!(bytes instanceof Uint8Array)) {
        throw bad(`field 'bytes' of a 'batch' data message must be binary, got ${describe(bytes)}`);
      }
      return {
        type: kind,
        version,
        epoch,
        sender: nonEmptyText(field(record, 'sender'), 'sender', what),
        bytes,
      };
    }
    case 'barrier':
      return {
        type: kind,
        version,
        epoch,
        checkpointId: count(field(record, 'checkpointId'), 'checkpointId', what),
      };
    case 'epoch':
      return { type: kind, version, epoch };
    case 'eos':
      return {
        type: kind,
        version,
        epoch,
        sourceId: nonEmptyText(field(record, 'sourceId'), 'sourceId', what),
      };
  }
}
