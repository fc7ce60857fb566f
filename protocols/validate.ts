/**
 * Validating decoded wire values: the small checks the data, control,
 * external, sink transaction and source ack message validators share, and
 * the wording of the errors they throw (ROO_ERR_BAD_MESSAGE, naming the
 * field and the message it is in; ROO_ERR_BAD_VERSION).
 * Pure: no I/O.
 */
import { ErrorCode, RooError } from './errors.js';

/**
 * A lone UTF-16 surrogate: msgpack strings are UTF-8, which cannot carry one,
 * so the peer would receive a different string (U+FFFD in its place).
 */
export const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A ROO_ERR_BAD_MESSAGE error: a value that is not a valid message. */
export function bad(message: string): RooError {
  return new RooError(ErrorCode.BadMessage, message);
}

/** A peer's string, cut short for an error message or its details. */
export function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** A short, never-throwing description of a value for an error message. */
export function describe(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null';
  if (typeof x === 'string') return JSON.stringify(clip(x));
  if (typeof x === 'number' || typeof x === 'boolean') return `${typeof x} ${x}`;
  if (typeof x === 'bigint') return `bigint ${x}`;
  if (x instanceof Uint8Array) return `${x.length} bytes of binary`;
  if (Array.isArray(x)) return `an array of ${x.length}`;
  return typeof x === 'object' ? 'an object' : typeof x;
}

/** A map as msgpackr decodes it (or a caller builds it): not an array, a Date, a Buffer... */
export function isPlainRecord(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** An own property only: a missing field must not be found on the prototype chain. */
export function field(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A count: a non-negative safe integer. */
export function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Field `path` of the message `what` (`a 'batch' data message`) as a count;
 * throws ROO_ERR_BAD_MESSAGE otherwise.
 */
export function count(x: unknown, path: string, what: string): number {
  if (!isCount(x)) {
    throw bad(`field '${path}' of ${what} must be a non-negative safe integer, got ${describe(x)}`);
  }
  return x;
}

/** Field `path` of the message `what`, a string, if it is well-formed UTF-16; throws otherwise. */
export function wellFormed(x: string, path: string, what: string): string {
  if (LONE_SURROGATE.test(x)) throw bad(`field '${path}' of ${what} is not well-formed UTF-16`);
  return x;
}

/** Field `path` of the message `what` as a non-empty, well-formed string; throws otherwise. */
export function nonEmptyText(x: unknown, path: string, what: string): string {
  if (typeof x !== 'string' || x.length === 0) {
    throw bad(`field '${path}' of ${what} must be a non-empty string, got ${describe(x)}`);
  }
  return wellFormed(x, path, what);
}

/** `value` as a map (see {@link isPlainRecord}); throws `${what} must be a map` otherwise. */
export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (!isPlainRecord(value)) throw bad(`${what} must be a map, got ${describe(value)}`);
  return value;
}

/**
 * The `version` field of the message `what` (`control message`), which must
 * be a count; whether it is the version spoken is the caller's to check.
 */
export function versionField(record: Record<string, unknown>, what: string): number {
  const version = field(record, 'version');
  if (!isCount(version)) {
    throw bad(`${what} version must be a non-negative integer, got ${describe(version)}`);
  }
  return version;
}

/**
 * The `version` field of the message `what` (`external message`), which must
 * be `supported`. Throws like {@link versionField} for a version that is not
 * a count, and ROO_ERR_BAD_VERSION "`what` version V is not supported (this
 * `speaker` speaks version S)" for another one, with `version`, `supported`
 * and `details(record)` (what a peer needs to place the refusal, e.g. a
 * request id) as its details.
 */
export function supportedVersion<V extends number>(
  record: Record<string, unknown>,
  what: string,
  supported: V,
  speaker: string,
  details: (record: Record<string, unknown>) => Record<string, unknown> = () => ({}),
): V {
  const version = versionField(record, what);
  if (version !== supported) {
    throw new RooError(
      ErrorCode.BadVersion,
      `${what} version ${version} is not supported (this ${speaker} speaks version ${supported})`,
      { version, supported, ...details(record) },
    );
  }
  return supported;
}

/**
 * Packs one validated wire message into a buffer of its own (msgpackr packs
 * into a shared buffer that its next call overwrites). Throws
 * ROO_ERR_INTERNAL "`what` of N bytes exceeds `max`" for one over `max`
 * bytes: unreachable while the fields have limits, kept so that a new field
 * cannot break peers.
 */
export function packWire(
  pack: (value: unknown) => Uint8Array,
  value: unknown,
  max: number,
  what: string,
): Uint8Array {
  const bytes = new Uint8Array(pack(value));
  if (bytes.length > max) {
    throw new RooError(ErrorCode.Internal, `${what} of ${bytes.length} bytes exceeds ${max}`);
  }
  return bytes;
}

/**
 * Unpacks one msgpack-encoded wire message for a validator: anything msgpackr
 * cannot read (garbage, a truncated or padded encoding) becomes RooError
 * ROO_ERR_BAD_MESSAGE naming `what` (e.g. "control message").
 */
export function unpackWire(
  unpack: (bytes: Uint8Array) => unknown,
  bytes: Uint8Array,
  what: string,
): unknown {
  try {
    return unpack(bytes);
  } catch (e) {
    const reason = e instanceof Error ? e.message : describe(e);
    throw new RooError(
      ErrorCode.BadMessage,
      `${what} is not valid msgpack (${bytes.length} bytes): ${reason}`,
      {
        bytes: bytes.length,
      },
    );
  }
}
