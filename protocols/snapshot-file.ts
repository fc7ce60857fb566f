/**
 * The snapshot file a worker writes for each checkpoint (docs/resilience.md):
 * its sources' replay positions, its key groups' state, its sinks' records.
 * Pure: this file turns a snapshot into bytes and back; writing them (temp
 * file, fsync, rename) is the executor's job.
 *
 * Layout, integers big-endian:
 *
 *     "ROOSNAP\0"                 8 bytes of magic
 *     u16 format version          SNAPSHOT_FORMAT_VERSION
 *     u32 header length, header   msgpack map: application, applicationHash,
 *                                 worker, checkpointId, createdAt
 *     u32 body length, body       msgpack map: sources, partitions, sinks,
 *                                 and from version 2 on, threads
 *     SHA-256                     32 bytes over everything before it
 *
 * Version 2 records where each key group lived: the body's `threads` (the
 * worker's scheduler threads) and each key group's `thread`, so that a
 * recovery puts the groups back on the threads they had at the checkpoint
 * (a thread rebalance's placement survives a rollback). Both are optional,
 * together: a snapshot that does not know its placement leaves both out,
 * and its groups are placed as at start-up. A version 1 file (no placement)
 * is still read; files are written as version 2.
 *
 * The header is separate from the body so a reader can tell whose file it is
 * (and for which checkpoint) in the error it reports. The checksum covers the
 * whole file because a torn or bit-rotted file must never be restored: the
 * cluster falls back to an earlier checkpoint instead (docs/resilience.md).
 *
 * Encoded as msgpackr encodes plain maps (no records), as the wire messages
 * are; the body is written part by part (msgpack-parts.ts) so that the key
 * groups' state bytes are never copied into one buffer on the way to disk.
 * Decoding validates every field, because the bytes come from a disk.
 */
import { createHash } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { MsgpackParts } from './msgpack-parts.js';
import { describe, field, isCount, isPlainRecord, LONE_SURROGATE } from './validate.js';

/** Version of the snapshot file format written; a file of a version not in SNAPSHOT_READ_VERSIONS is refused. */
export const SNAPSHOT_FORMAT_VERSION = 2;

/** The versions read: 1 (before the placement was recorded) and 2. */
export const SNAPSHOT_READ_VERSIONS: readonly number[] = [1, 2];

/** The 8 bytes every snapshot file starts with: "ROOSNAP\0". */
export const SNAPSHOT_MAGIC: Uint8Array = Uint8Array.of(
  0x52,
  0x4f,
  0x4f,
  0x53,
  0x4e,
  0x41,
  0x50,
  0x00,
);

/** Largest header accepted: names and a hash, never near this; a larger length is corruption. */
export const MAX_SNAPSHOT_HEADER_BYTES = 64 * 1024;

/** Largest body the u32 length field can describe. */
export const MAX_SNAPSHOT_BODY_BYTES = 0xffff_ffff;

const CHECKSUM_BYTES = 32;
/** Magic, version and the header-length field: what precedes the header. */
const PREFIX_BYTES = SNAPSHOT_MAGIC.length + 2 + 4;
/** The smallest file possible: empty header and body (never valid, but that is for later checks). */
const MIN_BYTES = PREFIX_BYTES + 4 + CHECKSUM_BYTES;

/** Whose snapshot this is and of which checkpoint. */
export interface SnapshotHeader {
  /** Name of the application the worker runs. */
  readonly application: string;
  /** Hash of the application's plan; a file of another plan is not restored. */
  readonly applicationHash: string;
  /** Name of the worker that wrote the file. */
  readonly worker: string;
  /** The checkpoint the file belongs to. */
  readonly checkpointId: number;
  /** When the file was written, as `Date.prototype.toISOString` gives it. */
  readonly createdAt: string;
}

/** The state of one key group of a partition. */
export interface SnapshotKeyGroup {
  readonly keyGroup: number;
  /** State entities in the group. */
  readonly entities: number;
  /**
   * The group's entities, encoded by the runtime in one piece (msgpackr of
   * key, state, key, state, ...; each state by msgpackr or its partition's
   * codec): opaque here.
   */
  readonly state: Uint8Array;
  /**
   * The scheduler thread that hosted the group at the checkpoint (below the
   * snapshot's `threads`); present exactly when the snapshot has `threads`.
   */
  readonly thread?: number;
}

/** The key groups of one state partition this worker owns. */
export interface SnapshotPartition {
  /** Name of the state partition; distinct within a snapshot. */
  readonly name: string;
  /** The groups, each at most once. */
  readonly keyGroups: readonly SnapshotKeyGroup[];
}

/** Everything one worker recorded for one checkpoint. */
export interface Snapshot extends SnapshotHeader {
  /** Replay position of each source, by source id: opaque here, msgpack-encodable plain values. */
  readonly sources: Readonly<Record<string, unknown>>;
  readonly partitions: readonly SnapshotPartition[];
  /** What each sink recorded on the barrier, by sink id: opaque here, like `sources`. */
  readonly sinks: Readonly<Record<string, unknown>>;
  /**
   * The worker's scheduler threads when the snapshot was taken (at least 1);
   * with it, every key group names its `thread`. Absent: the placement is
   * not known (a version 1 file).
   */
  readonly threads?: number;
}

const HEADER_FIELDS = ['application', 'applicationHash', 'worker', 'checkpointId', 'createdAt'];
/** The body's fields by format version. */
const BODY_FIELDS: Readonly<Record<number, readonly string[]>> = {
  1: ['sources', 'partitions', 'sinks'],
  2: ['sources', 'partitions', 'sinks', 'threads'],
};
/** A key group's fields by format version. */
const GROUP_FIELDS: Readonly<Record<number, readonly string[]>> = {
  1: ['keyGroup', 'entities', 'state'],
  2: ['keyGroup', 'entities', 'state', 'thread'],
};

const packr = new Packr({ useRecords: false });
// copyBuffers: state bytes must not alias the file's buffer, which the caller may reuse.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** A problem found in a snapshot; the caller turns it into the error of its side. */
type Fail = (message: string) => RooError;

/**
 * Encodes a snapshot into the bytes of its file. The snapshot is validated
 * first, so a malformed one fails when written, not at recovery. Throws
 * RooError ROO_ERR_SNAPSHOT_ENCODE_FAILED for an invalid field, a source or
 * sink value msgpackr cannot carry, or a snapshot too large for the format.
 */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  return new Uint8Array(Buffer.concat(encodeSnapshotParts(snapshot)));
}

/**
 * The bytes of a snapshot's file as a list of parts, concatenated in order:
 * the key groups' state bytes are parts of their own, never copied, so a
 * writer can hand the list to `writev` (at a million keys, packing the 9 MB
 * of state into one body and copying it into one file buffer took about
 * 50 ms of the main thread per checkpoint). The checksum is computed part by
 * part. Throws as {@link encodeSnapshot}.
 */
export function encodeSnapshotParts(snapshot: Snapshot): Uint8Array[] {
  const fail: Fail = (message) =>
    new RooError(ErrorCode.SnapshotEncodeFailed, `cannot encode snapshot: ${message}`);
  const header = validateHeader(snapshot, fail);
  const body = validateBody(snapshot, SNAPSHOT_FORMAT_VERSION, fail);
  const headerBytes = pack(header, 'header', fail);
  if (headerBytes.length > MAX_SNAPSHOT_HEADER_BYTES) {
    throw fail(`header is ${headerBytes.length} bytes, more than ${MAX_SNAPSHOT_HEADER_BYTES}`);
  }
  const w = new MsgpackParts();
  try {
    const placed = body.threads !== undefined;
    w.map(placed ? 4 : 3)
      .str('sources')
      .value(body.sources);
    w.str('partitions').array(body.partitions.length);
    for (const p of body.partitions) {
      w.map(2).str('name').str(p.name).str('keyGroups').array(p.keyGroups.length);
      for (const g of p.keyGroups) {
        w.map(placed ? 4 : 3)
          .str('keyGroup')
          .uint(g.keyGroup)
          .str('entities')
          .uint(g.entities);
        w.str('state').bin(g.state);
        if (g.thread !== undefined) w.str('thread').uint(g.thread);
      }
    }
    w.str('sinks').value(body.sinks);
    if (body.threads !== undefined) w.str('threads').uint(body.threads);
  } catch (e) {
    throw fail(
      `body cannot be packed by msgpackr: ${e instanceof Error ? e.message : describe(e)}`,
    );
  }
  const bodyLength = w.byteLength;
  if (bodyLength > MAX_SNAPSHOT_BODY_BYTES) {
    throw fail(`body is ${bodyLength} bytes, more than ${MAX_SNAPSHOT_BODY_BYTES}`);
  }
  const prefix = new Uint8Array(PREFIX_BYTES);
  const view = new DataView(prefix.buffer);
  prefix.set(SNAPSHOT_MAGIC, 0);
  view.setUint16(SNAPSHOT_MAGIC.length, SNAPSHOT_FORMAT_VERSION);
  view.setUint32(SNAPSHOT_MAGIC.length + 2, headerBytes.length);
  const bodyLengthField = new Uint8Array(4);
  new DataView(bodyLengthField.buffer).setUint32(0, bodyLength);
  const parts = [prefix, headerBytes, bodyLengthField, ...w.finish()];
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  parts.push(new Uint8Array(hash.digest()));
  return parts;
}

/**
 * Decodes and validates the bytes of a snapshot file (of any version in
 * SNAPSHOT_READ_VERSIONS). Throws RooError ROO_ERR_BAD_VERSION for a file of
 * another format version, and
 * ROO_ERR_SNAPSHOT_CORRUPT for anything else: not a snapshot file (wrong
 * magic), truncated or padded, impossible lengths, a checksum mismatch, or a
 * header or body that is not valid msgpack or not a valid snapshot.
 */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const { version, header, body, fail } = frameOf(bytes);
  // A field this version does not know means a file of another version: refused, not skipped.
  return {
    ...validateHeader(
      exactRecord(unpack(header, 'header', fail), HEADER_FIELDS, 'header', fail),
      fail,
    ),
    ...validateBody(
      exactRecord(unpack(body, 'body', fail), BODY_FIELDS[version] ?? [], 'body', fail),
      version,
      fail,
    ),
  };
}

/**
 * Checks the bytes of a snapshot file as {@link decodeSnapshot} does, and
 * decodes its header, but not its body: the checksum covers the body, so a
 * file that passes is whole. For telling which files can be restored
 * without paying for decoding every key group's state; the one restored is
 * decoded in full then. Throws as decodeSnapshot.
 */
export function checkSnapshot(bytes: Uint8Array): SnapshotHeader {
  const { header, fail } = frameOf(bytes);
  return validateHeader(
    exactRecord(unpack(header, 'header', fail), HEADER_FIELDS, 'header', fail),
    fail,
  );
}

/** A snapshot file's framing checked (magic, version, lengths, checksum): its header and body bytes. */
function frameOf(bytes: Uint8Array): {
  readonly version: number;
  readonly header: Uint8Array;
  readonly body: Uint8Array;
  readonly fail: Fail;
} {
  const fail: Fail = (message) =>
    new RooError(ErrorCode.SnapshotCorrupt, `snapshot file is corrupt: ${message}`, {
      bytes: bytes.length,
    });
  if (bytes.length < SNAPSHOT_MAGIC.length || !startsWithMagic(bytes)) {
    throw fail('it does not start with "ROOSNAP\\0" (not a snapshot file)');
  }
  if (bytes.length < MIN_BYTES) {
    throw fail(`truncated: ${bytes.length} bytes, the smallest snapshot file has ${MIN_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(SNAPSHOT_MAGIC.length);
  if (!SNAPSHOT_READ_VERSIONS.includes(version)) {
    throw new RooError(
      ErrorCode.BadVersion,
      `snapshot file format version ${version} is not supported (this worker reads versions ${SNAPSHOT_READ_VERSIONS.join(' and ')})`,
      { version, supported: [...SNAPSHOT_READ_VERSIONS] },
    );
  }
  const headerLength = view.getUint32(SNAPSHOT_MAGIC.length + 2);
  if (headerLength > MAX_SNAPSHOT_HEADER_BYTES) {
    throw fail(`header length ${headerLength} is more than ${MAX_SNAPSHOT_HEADER_BYTES}`);
  }
  const bodyLengthAt = PREFIX_BYTES + headerLength;
  if (bodyLengthAt + 4 + CHECKSUM_BYTES > bytes.length) {
    throw fail(
      `truncated: header length ${headerLength} runs past the end of ${bytes.length} bytes`,
    );
  }
  const bodyLength = view.getUint32(bodyLengthAt);
  const expected = bodyLengthAt + 4 + bodyLength + CHECKSUM_BYTES;
  if (expected > bytes.length) {
    throw fail(`truncated: the lengths need ${expected} bytes, the file has ${bytes.length}`);
  }
  if (expected < bytes.length) {
    throw fail(`the lengths need ${expected} bytes, the file has ${bytes.length - expected} more`);
  }
  const checksumAt = expected - CHECKSUM_BYTES;
  if (!equalBytes(sha256(bytes.subarray(0, checksumAt)), bytes.subarray(checksumAt))) {
    throw fail('checksum mismatch (the file was damaged or partly written)');
  }
  return {
    version,
    header: bytes.subarray(PREFIX_BYTES, bodyLengthAt),
    body: bytes.subarray(bodyLengthAt + 4, checksumAt),
    fail,
  };
}

function sha256(bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(bytes).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

function startsWithMagic(bytes: Uint8Array): boolean {
  return SNAPSHOT_MAGIC.every((b, i) => bytes[i] === b);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function pack(value: unknown, what: string, fail: Fail): Uint8Array {
  try {
    // A copy: msgpackr packs into a shared buffer that its next call overwrites.
    return new Uint8Array(packr.pack(value));
  } catch (e) {
    throw fail(
      `${what} cannot be packed by msgpackr: ${e instanceof Error ? e.message : describe(e)}`,
    );
  }
}

function unpack(bytes: Uint8Array, what: string, fail: Fail): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (e) {
    throw fail(`${what} is not valid msgpack: ${e instanceof Error ? e.message : describe(e)}`);
  }
}

/** A map with exactly the fields `fields` (missing ones read as undefined and fail later). */
function exactRecord(
  value: unknown,
  fields: readonly string[],
  what: string,
  fail: Fail,
): Record<string, unknown> {
  if (!isPlainRecord(value)) throw fail(`${what} must be a map, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) throw fail(`unexpected field ${JSON.stringify(key)} in ${what}`);
  }
  return value;
}

function text(x: unknown, path: string, fail: Fail, allowEmpty = false): string {
  if (typeof x !== 'string' || (!allowEmpty && x.length === 0)) {
    throw fail(`'${path}' must be a ${allowEmpty ? '' : 'non-empty '}string, got ${describe(x)}`);
  }
  if (LONE_SURROGATE.test(x)) throw fail(`'${path}' is not well-formed UTF-16`);
  return x;
}

function countField(x: unknown, path: string, fail: Fail): number {
  if (!isCount(x)) throw fail(`'${path}' must be a non-negative safe integer, got ${describe(x)}`);
  return x;
}

function isoTime(x: unknown, path: string, fail: Fail): string {
  const s = text(x, path, fail);
  const time = Date.parse(s);
  // The canonical form only: any other string Date.parse accepts would not survive as written.
  if (Number.isNaN(time) || new Date(time).toISOString() !== s) {
    throw fail(`'${path}' must be an ISO time as toISOString writes it, got ${describe(s)}`);
  }
  return s;
}

function validateHeader(value: unknown, fail: Fail): SnapshotHeader {
  // On encode `value` is a whole Snapshot: read only the header's fields.
  if (!isPlainRecord(value)) throw fail(`header must be a map, got ${describe(value)}`);
  return {
    application: text(field(value, 'application'), 'application', fail),
    applicationHash: text(field(value, 'applicationHash'), 'applicationHash', fail),
    worker: text(field(value, 'worker'), 'worker', fail),
    checkpointId: countField(field(value, 'checkpointId'), 'checkpointId', fail),
    createdAt: isoTime(field(value, 'createdAt'), 'createdAt', fail),
  };
}

/** The body of a file of format `version` (on encode, the version written). */
function validateBody(
  value: unknown,
  version: number,
  fail: Fail,
): Pick<Snapshot, 'sources' | 'partitions' | 'sinks' | 'threads'> {
  if (!isPlainRecord(value)) throw fail(`body must be a map, got ${describe(value)}`);
  const rawThreads = field(value, 'threads');
  let threads: number | undefined;
  if (rawThreads !== undefined) {
    if (version < 2) throw fail(`'threads' is not a field of format version ${version}`);
    threads = countField(rawThreads, 'threads', fail);
    if (threads < 1) throw fail(`'threads' must be at least 1, got ${threads}`);
  }
  const body = {
    sources: idRecord(field(value, 'sources'), 'sources', fail),
    partitions: partitions(field(value, 'partitions'), version, threads, fail),
    sinks: idRecord(field(value, 'sinks'), 'sinks', fail),
  };
  return threads === undefined ? body : { ...body, threads };
}

/** Sources or sinks by id. msgpackr renames a decoded `__proto__` key, so it cannot be written. */
function idRecord(x: unknown, path: string, fail: Fail): Record<string, unknown> {
  if (!isPlainRecord(x)) throw fail(`'${path}' must be a map, got ${describe(x)}`);
  const out: Record<string, unknown> = {};
  for (const [id, v] of Object.entries(x)) {
    if (id === '__proto__') throw fail(`'${path}' may not have an id "__proto__"`);
    text(id, `${path} id`, fail);
    out[id] = v;
  }
  return out;
}

function list(x: unknown, path: string, fail: Fail): readonly unknown[] {
  if (!Array.isArray(x)) throw fail(`'${path}' must be an array, got ${describe(x)}`);
  return x;
}

/**
 * The partitions and their key groups. With `threads` (format 2) every
 * group names its thread, below `threads`; without, none does.
 */
function partitions(
  x: unknown,
  version: number,
  threads: number | undefined,
  fail: Fail,
): SnapshotPartition[] {
  const names = new Set<string>();
  return list(x, 'partitions', fail).map((p, i) => {
    const at = `partitions[${i}]`;
    const record = exactRecord(p, ['name', 'keyGroups'], at, fail);
    const name = text(field(record, 'name'), `${at}.name`, fail);
    if (names.has(name)) throw fail(`partition ${JSON.stringify(name)} appears twice`);
    names.add(name);
    const groups = new Set<number>();
    const keyGroups = list(field(record, 'keyGroups'), `${at}.keyGroups`, fail).map((g, j) => {
      const gAt = `${at}.keyGroups[${j}]`;
      const group = exactRecord(g, GROUP_FIELDS[version] ?? [], gAt, fail);
      const keyGroup = countField(field(group, 'keyGroup'), `${gAt}.keyGroup`, fail);
      if (groups.has(keyGroup)) {
        throw fail(`key group ${keyGroup} of partition ${JSON.stringify(name)} appears twice`);
      }
      groups.add(keyGroup);
      const entities = countField(field(group, 'entities'), `${gAt}.entities`, fail);
      const state = binary(field(group, 'state'), `${gAt}.state`, fail);
      const rawThread = field(group, 'thread');
      if (threads === undefined) {
        if (rawThread !== undefined)
          throw fail(`'${gAt}.thread' is given, but the snapshot has no 'threads'`);
        return { keyGroup, entities, state };
      }
      if (rawThread === undefined)
        throw fail(`'${gAt}.thread' is missing (the snapshot has 'threads')`);
      const thread = countField(rawThread, `${gAt}.thread`, fail);
      if (thread >= threads)
        throw fail(`'${gAt}.thread' is ${thread}, but the snapshot has ${threads} threads`);
      return { keyGroup, entities, state, thread };
    });
    return { name, keyGroups };
  });
}

function binary(x: unknown, at: string, fail: Fail): Uint8Array {
  if (!(x instanceof Uint8Array)) throw fail(`'${at}' must be binary, got ${describe(x)}`);
  // msgpackr hands binary back as a Buffer; callers get a plain Uint8Array (a view, no copy).
  return Object.getPrototypeOf(x) === Uint8Array.prototype
    ? x
    : new Uint8Array(x.buffer, x.byteOffset, x.length);
}
