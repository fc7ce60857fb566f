/**
 * The batch codec: many actor messages in one byte buffer, for hops between
 * threads (and, inside data-channel frames, between workers).
 *
 * A message is (dest, tag, a, b): a destination actor id, an integer tag, and
 * two values. Strings and numbers, which are most of what flows, have a
 * hand-written encoding (measured on the target machine: 10.8 M records/s
 * round trip against 6.6 M for msgpackr); any other value (objects, arrays, bigints,
 * dates...) goes to a side list that msgpackr packs once per batch, so a batch
 * of structured values still costs one msgpackr call, not one per value.
 *
 * Layout (little-endian):
 *   u8  version (BATCH_VERSION)
 *   u32 count            number of messages
 *   u32 sideOffset       byte offset of the msgpackr side list, 0 if none
 *   count × { u32 dest, i32 tag, value a, value b }
 *   [msgpackr array of side values]
 * value := u8 kind, then per kind:
 *   UNDEFINED | NULL | FALSE | TRUE | SAME_AS_A  (nothing more)
 *   INT32   i32
 *   FLOAT64 f64
 *   ASCII   u32 length, bytes (every char < 0x80)
 *   UTF8    u32 byteLength, bytes
 *   BYTES   u32 length, bytes (a Uint8Array; decoded as a copy)
 *   BUFFER  u32 length, bytes (a Buffer; decoded as a Buffer copy)
 *   SIDE    (the next value of the side list)
 *
 * Pure: no I/O. Decoding validates every length against the buffer and throws
 * RooError ROO_ERR_BATCH_CORRUPT on anything malformed.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from './errors.js';
import { writeUtf8 } from './utf8.js';

/** Version byte at the head of every batch. */
export const BATCH_VERSION = 2;
/** Bytes before the first message. */
export const BATCH_HEADER_BYTES = 9;

const K_UNDEFINED = 0;
const K_NULL = 1;
const K_FALSE = 2;
const K_TRUE = 3;
const K_INT32 = 4;
const K_FLOAT64 = 5;
const K_ASCII = 6;
const K_UTF8 = 7;
const K_SIDE = 8;
const K_SAME_AS_A = 9;
const K_BYTES = 10;
const K_BUFFER = 11;

/**
 * Node's Buffer has fast, long-stable (if undocumented) per-encoding methods
 * that skip `toString`/`write`'s argument handling; on a per-string hot path
 * the difference is measurable, so we type them here.
 */
interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Short ASCII strings (up to this length) are read by a JS loop instead of Buffer's C++ methods. */
const SHORT_STRING = 32;
const fromCharCode = String.fromCharCode;

/**
 * Reads a short ASCII string without a call into C++ (as msgpackr does): one
 * fromCharCode of up to 8 codes, joined per 8. Appending a character at a
 * time made a new string per character (measured 15-25 % slower for a
 * decode and a Map lookup of word-sized strings).
 */
function shortAscii(b: Uint8Array, s: number, len: number): string {
  if (len > 8) {
    return (
      fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
        b[s + 4] as number,
        b[s + 5] as number,
        b[s + 6] as number,
        b[s + 7] as number,
      ) + shortAscii(b, s + 8, len - 8)
    );
  }
  switch (len) {
    case 0:
      return '';
    case 1:
      return fromCharCode(b[s] as number);
    case 2:
      return fromCharCode(b[s] as number, b[s + 1] as number);
    case 3:
      return fromCharCode(b[s] as number, b[s + 1] as number, b[s + 2] as number);
    case 4:
      return fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
      );
    case 5:
      return fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
        b[s + 4] as number,
      );
    case 6:
      return fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
        b[s + 4] as number,
        b[s + 5] as number,
      );
    case 7:
      return fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
        b[s + 4] as number,
        b[s + 5] as number,
        b[s + 6] as number,
      );
    default:
      return fromCharCode(
        b[s] as number,
        b[s + 1] as number,
        b[s + 2] as number,
        b[s + 3] as number,
        b[s + 4] as number,
        b[s + 5] as number,
        b[s + 6] as number,
        b[s + 7] as number,
      );
  }
}

const packr = new Packr({ useRecords: true, moreTypes: true });
// copyBuffers: decoded bytes must not alias the input, which is ring memory
// reused as soon as the batch has been read (a sink chunk waits in a mailbox).
const unpackr = new Unpackr({ useRecords: true, moreTypes: true, copyBuffers: true });

function corrupt(why: string): RooError {
  return new RooError(ErrorCode.BatchCorrupt, `corrupt message batch: ${why}`);
}

/**
 * Accumulates messages into one batch. Reuse it: `finish()` returns the bytes
 * and resets the encoder.
 */
export class BatchEncoder {
  private buf: FastBuffer;
  private pos = BATCH_HEADER_BYTES;
  private n = 0;
  private side: unknown[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, 64)) as FastBuffer;
  }

  /** Messages added since the last finish. */
  get count(): number {
    return this.n;
  }

  /** Approximate encoded size so far (side values not yet packed are not counted). */
  get byteLength(): number {
    return this.pos;
  }

  /** Adds one message. */
  add(dest: number, tag: number, a: unknown, b: unknown): void {
    this.ensure(8);
    const buf = this.buf;
    const p = this.pos;
    // Byte arithmetic, not writeUInt32LE: this runs per message.
    buf[p] = dest & 0xff;
    buf[p + 1] = (dest >>> 8) & 0xff;
    buf[p + 2] = (dest >>> 16) & 0xff;
    buf[p + 3] = (dest >>> 24) & 0xff;
    buf[p + 4] = tag & 0xff;
    buf[p + 5] = (tag >>> 8) & 0xff;
    buf[p + 6] = (tag >>> 16) & 0xff;
    buf[p + 7] = (tag >>> 24) & 0xff;
    this.pos = p + 8;
    this.value(a);
    if (b === a && (typeof b === 'string' || typeof b === 'object') && b !== null) {
      this.ensure(1);
      this.buf[this.pos++] = K_SAME_AS_A;
    } else {
      this.value(b);
    }
    this.n++;
  }

  /**
   * Returns the encoded batch (a fresh, exact-size buffer the caller owns) and
   * resets the encoder.
   */
  finish(): Buffer {
    let sideBytes: Buffer | undefined;
    if (this.side.length > 0) sideBytes = packr.pack(this.side);
    const sideOffset = sideBytes === undefined ? 0 : this.pos;
    const total = this.pos + (sideBytes?.length ?? 0);
    const out = Buffer.allocUnsafe(total);
    this.buf.copy(out, 0, 0, this.pos);
    if (sideBytes !== undefined) sideBytes.copy(out, this.pos);
    out[0] = BATCH_VERSION;
    out.writeUInt32LE(this.n, 1);
    out.writeUInt32LE(sideOffset, 5);
    this.pos = BATCH_HEADER_BYTES;
    this.n = 0;
    this.side = [];
    return out;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size) as FastBuffer;
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case 'string': {
        const len = v.length;
        this.ensure(5 + len * 3);
        const buf = this.buf;
        const at = this.pos;
        const written = writeUtf8(buf, at + 5, v);
        buf[at] = written === len ? K_ASCII : K_UTF8;
        buf[at + 1] = written & 0xff;
        buf[at + 2] = (written >>> 8) & 0xff;
        buf[at + 3] = (written >>> 16) & 0xff;
        buf[at + 4] = (written >>> 24) & 0xff;
        this.pos = at + 5 + written;
        return;
      }
      case 'number':
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.ensure(5);
          const buf = this.buf;
          const at = this.pos;
          buf[at] = K_INT32;
          buf[at + 1] = v & 0xff;
          buf[at + 2] = (v >>> 8) & 0xff;
          buf[at + 3] = (v >>> 16) & 0xff;
          buf[at + 4] = (v >>> 24) & 0xff;
          this.pos = at + 5;
        } else {
          this.ensure(9);
          this.buf[this.pos] = K_FLOAT64;
          this.buf.writeDoubleLE(v, this.pos + 1);
          this.pos += 9;
        }
        return;
      case 'undefined':
        this.ensure(1);
        this.buf[this.pos++] = K_UNDEFINED;
        return;
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? K_TRUE : K_FALSE;
        return;
      default:
        this.ensure(1);
        if (v === null) {
          this.buf[this.pos++] = K_NULL;
        } else if (v instanceof Uint8Array) {
          // Bytes (a sink's encoded chunk) are copied in as they are, not
          // through msgpackr's side list.
          this.ensure(5 + v.length);
          const buf = this.buf;
          const at = this.pos;
          const len = v.length;
          buf[at] = Buffer.isBuffer(v) ? K_BUFFER : K_BYTES;
          buf[at + 1] = len & 0xff;
          buf[at + 2] = (len >>> 8) & 0xff;
          buf[at + 3] = (len >>> 16) & 0xff;
          buf[at + 4] = (len >>> 24) & 0xff;
          buf.set(v, at + 5);
          this.pos = at + 5 + len;
        } else {
          this.buf[this.pos++] = K_SIDE;
          this.side.push(v);
        }
    }
  }
}

/** Receives each decoded message of a batch. */
export type BatchVisitor = (dest: number, tag: number, a: unknown, b: unknown) => void;

/**
 * Decodes a batch, calling `visit` for each message in order. Throws
 * ROO_ERR_BATCH_CORRUPT before visiting anything if the header or side list is
 * malformed, and stops with it at the first malformed message otherwise.
 * Returns the number of messages visited.
 */
export function decodeBatch(bytes: Uint8Array, visit: BatchVisitor): number {
  const buf = (
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  ) as FastBuffer;
  if (buf.length < BATCH_HEADER_BYTES)
    throw corrupt(`${buf.length} bytes is shorter than a header`);
  if (buf[0] !== BATCH_VERSION) throw corrupt(`unknown version ${buf[0]}`);
  const count = buf.readUInt32LE(1);
  const sideOffset = buf.readUInt32LE(5);
  let end = buf.length;
  let side: unknown[] | undefined;
  if (sideOffset !== 0) {
    if (sideOffset < BATCH_HEADER_BYTES || sideOffset >= buf.length) {
      throw corrupt(`side list offset ${sideOffset} outside the batch`);
    }
    let decoded: unknown;
    try {
      decoded = unpackr.unpack(buf.subarray(sideOffset));
    } catch (err) {
      throw corrupt(`side list does not decode (${(err as Error).message})`);
    }
    if (!Array.isArray(decoded)) throw corrupt('side list is not an array');
    side = decoded;
    end = sideOffset;
  }
  // Each message needs at least 10 bytes: this bounds count before looping.
  if (count > (end - BATCH_HEADER_BYTES) / 10) throw corrupt(`count ${count} does not fit`);
  const cursor = { pos: BATCH_HEADER_BYTES, side: 0 };
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos + 8 > end) throw corrupt('message header runs past the end');
    const q = pos;
    const dest =
      ((buf[q] as number) | ((buf[q + 1] as number) << 8) | ((buf[q + 2] as number) << 16)) +
      (buf[q + 3] as number) * 0x1000000;
    const tag =
      (buf[q + 4] as number) |
      ((buf[q + 5] as number) << 8) |
      ((buf[q + 6] as number) << 16) |
      ((buf[q + 7] as number) << 24);
    pos = q + 8;
    // The common message, a short ASCII string and the same value again or
    // nothing (a word keyed by itself), is read inline; the rest by readValue.
    let a: unknown;
    const ka = buf[pos];
    if (ka === K_ASCII && pos + 5 <= end) {
      const len =
        ((buf[pos + 1] as number) |
          ((buf[pos + 2] as number) << 8) |
          ((buf[pos + 3] as number) << 16)) +
        (buf[pos + 4] as number) * 0x1000000;
      const start = pos + 5;
      if (len > end - start) throw corrupt('string runs past the end');
      a = len <= SHORT_STRING ? shortAscii(buf, start, len) : buf.latin1Slice(start, start + len);
      pos = start + len;
    } else {
      cursor.pos = pos;
      a = readValue(buf, end, cursor, side, NO_A);
      pos = cursor.pos;
    }
    let b: unknown;
    const kb = pos < end ? buf[pos] : -1;
    if (kb === K_SAME_AS_A) {
      b = a;
      pos++;
    } else if (kb === K_UNDEFINED) {
      b = undefined;
      pos++;
    } else {
      cursor.pos = pos;
      b = readValue(buf, end, cursor, side, a);
      pos = cursor.pos;
    }
    visit(dest, tag, a, b);
  }
  cursor.pos = pos;
  if (cursor.pos !== end) throw corrupt(`${end - cursor.pos} trailing bytes`);
  if (side !== undefined && cursor.side !== side.length) {
    throw corrupt(`${side.length - cursor.side} side values unused`);
  }
  return count;
}

/** Marks "no first value yet" while reading the first value of a message. */
const NO_A: unique symbol = Symbol('no-a');

function readValue(
  buf: FastBuffer,
  end: number,
  cursor: { pos: number; side: number },
  side: unknown[] | undefined,
  a: unknown,
): unknown {
  if (cursor.pos >= end) throw corrupt('value runs past the end');
  const kind = buf[cursor.pos++];
  switch (kind) {
    case K_ASCII:
    case K_UTF8: {
      const q = cursor.pos;
      if (q + 4 > end) throw corrupt('string length runs past the end');
      const len =
        ((buf[q] as number) | ((buf[q + 1] as number) << 8) | ((buf[q + 2] as number) << 16)) +
        (buf[q + 3] as number) * 0x1000000;
      const start = q + 4;
      if (len > end - start) throw corrupt('string runs past the end');
      cursor.pos = start + len;
      if (kind === K_UTF8) return buf.utf8Slice(start, start + len);
      return len <= SHORT_STRING
        ? shortAscii(buf, start, len)
        : buf.latin1Slice(start, start + len);
    }
    case K_INT32: {
      const q = cursor.pos;
      if (q + 4 > end) throw corrupt('int runs past the end');
      cursor.pos = q + 4;
      return (
        (buf[q] as number) |
        ((buf[q + 1] as number) << 8) |
        ((buf[q + 2] as number) << 16) |
        ((buf[q + 3] as number) << 24)
      );
    }
    case K_FLOAT64: {
      if (cursor.pos + 8 > end) throw corrupt('float runs past the end');
      const v = buf.readDoubleLE(cursor.pos);
      cursor.pos += 8;
      return v;
    }
    case K_UNDEFINED:
      return undefined;
    case K_NULL:
      return null;
    case K_FALSE:
      return false;
    case K_TRUE:
      return true;
    case K_BYTES:
    case K_BUFFER: {
      const q = cursor.pos;
      if (q + 4 > end) throw corrupt('bytes length runs past the end');
      const len =
        ((buf[q] as number) | ((buf[q + 1] as number) << 8) | ((buf[q + 2] as number) << 16)) +
        (buf[q + 3] as number) * 0x1000000;
      const start = q + 4;
      if (len > end - start) throw corrupt('bytes run past the end');
      cursor.pos = start + len;
      // A copy: the batch is ring memory, reused once it has been read.
      const copy = Buffer.from(buf.subarray(start, start + len));
      return kind === K_BUFFER ? copy : new Uint8Array(copy.buffer, copy.byteOffset, len);
    }
    case K_SIDE:
      if (side === undefined || cursor.side >= side.length) throw corrupt('missing side value');
      return side[cursor.side++];
    case K_SAME_AS_A:
      if (a === NO_A) throw corrupt('first value refers to itself');
      return a;
    default:
      throw corrupt(`unknown value kind ${kind}`);
  }
}
