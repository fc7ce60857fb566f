/**
 * The ledger `roo receive --output FILE --ledger FILE` keeps beside its
 * output file (docs/resilience.md, a receiver that survives its crash): which
 * exactly-once transactions it has applied, and how long the output file was
 * once they were on disk. Pure: this file encodes and decodes the records
 * and scans a ledger's bytes; runtime/cli/receive-durable.ts writes the
 * files, and receive-recovery.ts decides what a restart does with them.
 *
 * Layout, integers big-endian:
 *
 *     "ROOLDG1\n"                 8 bytes of magic
 *     then records, each:
 *     u32 length                  of the payload, 1 to 4 MiB
 *     8 bytes                     the first 8 bytes of the payload's SHA-256
 *     payload                     msgpack map, one of:
 *       { type: 'open', version: 1, output, length }     first record: the
 *           output file (absolute path) and its length when the ledger began
 *       { type: 'applied', version: 1, length, sinks }   the output was on
 *           disk up to `length` bytes, and with it every transaction of
 *           each `[sink, epoch]` up to that epoch
 *
 * The receiver writes one record per group of transactions, after the
 * group's output bytes are fsynced, and fsyncs the record before it
 * acknowledges them; so after a crash only the last record can be torn, and
 * the output file can only be longer than the last record says (bytes of a
 * group whose record never made it), never shorter.
 */
import { createHash } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { asciiMagic } from './magic.js';
import { MAX_SINK_ID_LENGTH } from './sink-txn.js';
import {
  asRecord,
  bad,
  count,
  describe,
  field,
  packWire,
  supportedVersion,
  unpackWire,
  wellFormed,
} from './validate.js';

/** Version of the ledger's records (the `1` of the magic and every record's `version`). */
export const LEDGER_FORMAT_VERSION = 1;

/** The 8 bytes a ledger file starts with: "ROOLDG1\n". */
export const LEDGER_MAGIC: Uint8Array = asciiMagic('ROOLDG1\n');

/** Bytes before each record's payload: its length and checksum. */
export const LEDGER_RECORD_HEADER_BYTES = 12;

/** Largest record payload: an `applied` record naming every one of 10,000 sinks fits. */
export const MAX_LEDGER_RECORD_BYTES = 4 * 1024 * 1024;

/** Longest output path recorded. */
export const MAX_LEDGER_PATH_LENGTH = 4096;

/** The first record: which output file this ledger belongs to. */
export interface LedgerOpen {
  readonly type: 'open';
  readonly version: typeof LEDGER_FORMAT_VERSION;
  /** The output file's absolute path. */
  readonly output: string;
  /** The output file's length when this ledger (or its compacted copy) began. */
  readonly length: number;
}

/** A group of applied transactions, durable in the output up to `length`. */
export interface LedgerApplied {
  readonly type: 'applied';
  readonly version: typeof LEDGER_FORMAT_VERSION;
  /** The output file's length once the group's bytes were on disk. */
  readonly length: number;
  /** Per sink id, the highest epoch applied in the group; each sink at most once. */
  readonly sinks: readonly (readonly [string, number])[];
}

/** Any ledger record, discriminated by `type`. */
export type LedgerRecord = LedgerOpen | LedgerApplied;

const FIELDS: { readonly [T in LedgerRecord['type']]: readonly string[] } = {
  open: ['output', 'length'],
  applied: ['length', 'sinks'],
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** The first 8 bytes of the payload's SHA-256. */
function checksum(payload: Uint8Array): Buffer {
  return createHash('sha256').update(payload).digest().subarray(0, 8);
}

/**
 * Checks that `value` is a ledger record of this version and returns a fresh
 * copy holding only its fields. Throws ROO_ERR_BAD_MESSAGE (or
 * ROO_ERR_BAD_VERSION) naming what is wrong.
 */
export function validateLedgerRecord(value: unknown): LedgerRecord {
  const record = asRecord(value, 'ledger record');
  const version = supportedVersion(record, 'ledger record', LEDGER_FORMAT_VERSION, 'receiver');
  const type = field(record, 'type');
  if (type !== 'open' && type !== 'applied') {
    throw bad(`unknown ledger record type ${describe(type)}`);
  }
  for (const key of Object.keys(record)) {
    if (key !== 'type' && key !== 'version' && !FIELDS[type].includes(key)) {
      throw bad(`unexpected field ${JSON.stringify(key)} in a '${type}' ledger record`);
    }
  }
  const what = `a '${type}' ledger record`;
  const length = count(field(record, 'length'), 'length', what);
  if (type === 'open') {
    const output = field(record, 'output');
    if (typeof output !== 'string' || output.length === 0 || output.length > MAX_LEDGER_PATH_LENGTH)
      throw bad(
        `field 'output' of ${what} must be a path of 1 to ${MAX_LEDGER_PATH_LENGTH} characters, got ${describe(output)}`,
      );
    return { type, version, output: wellFormed(output, 'output', what), length };
  }
  const sinks = field(record, 'sinks');
  if (!Array.isArray(sinks)) throw bad(`field 'sinks' of ${what} must be an array`);
  const seen = new Set<string>();
  const out: (readonly [string, number])[] = [];
  sinks.forEach((entry: unknown, i) => {
    const at = `sinks[${i}]`;
    if (!Array.isArray(entry) || entry.length !== 2)
      throw bad(`field '${at}' of ${what} must be a [sink, epoch] pair, got ${describe(entry)}`);
    const [sink, epoch] = entry as [unknown, unknown];
    if (typeof sink !== 'string' || sink.length === 0 || sink.length > MAX_SINK_ID_LENGTH)
      throw bad(
        `field '${at}' of ${what} must name a sink of 1 to ${MAX_SINK_ID_LENGTH} characters`,
      );
    if (seen.has(sink)) throw bad(`field '${at}' of ${what} names sink ${describe(sink)} twice`);
    seen.add(sink);
    out.push([wellFormed(sink, at, what), count(epoch, `${at}[1]`, what)]);
  });
  return { type, version, length, sinks: out };
}

/** Encodes one record with its length and checksum, ready to append. Validates it first. */
export function encodeLedgerRecord(record: LedgerRecord): Buffer {
  const payload = packWire(
    (v) => packr.pack(v),
    validateLedgerRecord(record),
    MAX_LEDGER_RECORD_BYTES,
    'ledger record',
  );
  const out = Buffer.allocUnsafe(LEDGER_RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  checksum(payload).copy(out, 4);
  out.set(payload, LEDGER_RECORD_HEADER_BYTES);
  return out;
}

/** Decodes one record's payload (checksum already checked). Throws like {@link validateLedgerRecord}. */
export function decodeLedgerRecord(payload: Uint8Array): LedgerRecord {
  return validateLedgerRecord(unpackWire((b) => unpackr.unpack(b), payload, 'ledger record'));
}

/** A new ledger's bytes: the magic and its `open` record. */
export function encodeLedgerStart(output: string, length: number): Buffer {
  return Buffer.concat([
    LEDGER_MAGIC,
    encodeLedgerRecord({ type: 'open', version: LEDGER_FORMAT_VERSION, output, length }),
  ]);
}

/** What a ledger file's bytes hold. */
export type LedgerScan =
  /** Nothing usable: empty, or a prefix of the magic (a crash while it was created). */
  | { readonly kind: 'empty' }
  /**
   * Whole records; `validBytes` of the file are good. `torn` is set when
   * bytes after them are the remains of a last record cut short by a crash
   * (it runs past the end of the file, fails its checksum at the very end,
   * or is zeros to the end).
   */
  | {
      readonly kind: 'records';
      readonly records: readonly LedgerRecord[];
      readonly validBytes: number;
      readonly torn?: { readonly at: number; readonly bytes: number; readonly why: string };
    }
  /** Not a ledger, or damaged before its last record: refused (ROO_ERR_LEDGER_CORRUPT). */
  | { readonly kind: 'corrupt'; readonly error: RooError };

function corrupt(message: string, at: number): LedgerScan {
  return {
    kind: 'corrupt',
    error: new RooError(ErrorCode.LedgerCorrupt, message, { offset: at }),
  };
}

/**
 * Reads a ledger file's bytes record by record. Never throws: a torn last
 * record is reported as such (the caller cuts it off), anything else wrong is
 * `corrupt`, naming the offset and why.
 */
export function scanLedger(bytes: Uint8Array): LedgerScan {
  const magic = LEDGER_MAGIC.length;
  const prefix = Math.min(bytes.length, magic);
  for (let i = 0; i < prefix; i++) {
    if (bytes[i] !== LEDGER_MAGIC[i]) return corrupt('not a roo receive ledger (bad magic)', 0);
  }
  if (bytes.length <= magic) return { kind: 'empty' };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const records: LedgerRecord[] = [];
  let pos = magic;
  const torn = (why: string): LedgerScan => ({
    kind: 'records',
    records,
    validBytes: pos,
    torn: { at: pos, bytes: buf.length - pos, why },
  });
  while (pos < buf.length) {
    if (buf.length - pos < LEDGER_RECORD_HEADER_BYTES) return torn('a record header cut short');
    const length = buf.readUInt32BE(pos);
    const end = pos + LEDGER_RECORD_HEADER_BYTES + length;
    if (length === 0 || length > MAX_LEDGER_RECORD_BYTES || end > buf.length) {
      if (end > buf.length || zeros(buf, pos)) return torn('a record cut short');
      return corrupt(`a record of ${length} bytes at offset ${pos}`, pos);
    }
    const payload = buf.subarray(pos + LEDGER_RECORD_HEADER_BYTES, end);
    if (!checksum(payload).equals(buf.subarray(pos + 4, pos + LEDGER_RECORD_HEADER_BYTES))) {
      if (end === buf.length || zeros(buf, pos)) return torn('the last record fails its checksum');
      return corrupt(`the record at offset ${pos} fails its checksum`, pos);
    }
    let record: LedgerRecord;
    try {
      record = decodeLedgerRecord(payload);
    } catch (e) {
      return corrupt(`the record at offset ${pos} is malformed: ${(e as Error).message}`, pos);
    }
    if ((records.length === 0) !== (record.type === 'open')) {
      return corrupt(
        records.length === 0
          ? `the first record is '${record.type}', not 'open'`
          : `a second 'open' record at offset ${pos}`,
        pos,
      );
    }
    const last = records.at(-1);
    if (last !== undefined && record.length < last.length) {
      return corrupt(
        `the record at offset ${pos} says the output was ${record.length} bytes, less than the ${last.length} before it`,
        pos,
      );
    }
    records.push(record);
    pos = end;
  }
  if (records.length === 0) return { kind: 'empty' };
  return { kind: 'records', records, validBytes: pos };
}

/** True if every byte of `buf` from `from` on is zero (a file extended but never written). */
function zeros(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
