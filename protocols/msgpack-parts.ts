/**
 * MessagePack written as a list of parts: small headers and values are
 * written into a scratch buffer, and large byte arrays are taken as they are
 * (a part of their own), so a message that mostly carries big blobs (a
 * snapshot's key groups) is never copied into one buffer to be encoded. The
 * parts, concatenated, are ordinary MessagePack that any reader (msgpackr
 * included) decodes. Pure: no I/O.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false });

/** Bytes of scratch space kept before it is cut into a part. */
const SCRATCH_BYTES = 4096;

/** Writes MessagePack into parts. */
export class MsgpackParts {
  private readonly parts: Uint8Array[] = [];
  private scratch = new Uint8Array(SCRATCH_BYTES);
  private pos = 0;
  private length = 0;

  /** Bytes written so far. */
  get byteLength(): number {
    return this.length + this.pos;
  }

  // Every header in its shortest form, as msgpackr writes them.

  /** A map header of `n` entries (map 16 even when small, as msgpackr writes a plain object's). */
  map(n: number): this {
    if (n < 0x10000) return this.header16(0xde, n);
    return this.header(0xdf, n);
  }

  /** An array header of `n` items. */
  array(n: number): this {
    if (n < 16) return this.byte(0x90 | n);
    if (n < 0x10000) return this.header16(0xdc, n);
    return this.header(0xdd, n);
  }

  /** A non-negative safe integer. */
  uint(n: number): this {
    if (n < 128) return this.byte(n);
    if (n < 0x100) return this.byte(0xcc).byte(n);
    if (n < 0x10000) return this.header16(0xcd, n);
    if (n <= 0xffffffff) return this.header(0xce, n);
    // Above 32 bits as a float64, exact for safe integers: a uint64 would
    // come back from msgpackr as a bigint.
    this.room(9);
    new DataView(this.scratch.buffer).setFloat64(this.pos + 1, n);
    this.scratch[this.pos] = 0xcb;
    this.pos += 9;
    return this;
  }

  /** A string, as UTF-8. */
  str(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    const n = bytes.length;
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) this.byte(0xd9).byte(n);
    else if (n < 0x10000) this.header16(0xda, n);
    else this.header(0xdb, n);
    return this.raw(bytes);
  }

  /** Binary: its header, then the bytes themselves as a part (not copied). */
  bin(bytes: Uint8Array): this {
    const n = bytes.length;
    if (n < 0x100) this.byte(0xc4).byte(n);
    else if (n < 0x10000) this.header16(0xc5, n);
    else this.header(0xc6, n);
    this.cut();
    if (bytes.length > 0) {
      this.parts.push(bytes);
      this.length += bytes.length;
    }
    return this;
  }

  /** Any value msgpackr carries, packed by msgpackr (plain maps, no records). */
  value(v: unknown): this {
    return this.raw(packr.pack(v));
  }

  /** The parts, in order; the writer is spent. */
  finish(): Uint8Array[] {
    this.cut();
    return this.parts;
  }

  private byte(b: number): this {
    this.room(1);
    this.scratch[this.pos++] = b;
    return this;
  }

  /** A type byte and a big-endian u16. */
  private header16(type: number, n: number): this {
    this.room(3);
    const s = this.scratch;
    s[this.pos] = type;
    s[this.pos + 1] = n >>> 8;
    s[this.pos + 2] = n & 0xff;
    this.pos += 3;
    return this;
  }

  /** A type byte and a big-endian u32. */
  private header(type: number, n: number): this {
    this.room(5);
    const s = this.scratch;
    const p = this.pos;
    s[p] = type;
    s[p + 1] = n >>> 24;
    s[p + 2] = (n >>> 16) & 0xff;
    s[p + 3] = (n >>> 8) & 0xff;
    s[p + 4] = n & 0xff;
    this.pos = p + 5;
    return this;
  }

  /** Bytes copied in (small ones into the scratch, large ones as a copied part). */
  private raw(bytes: Uint8Array): this {
    if (bytes.length > SCRATCH_BYTES / 2) {
      this.cut();
      this.parts.push(Uint8Array.from(bytes));
      this.length += bytes.length;
      return this;
    }
    this.room(bytes.length);
    this.scratch.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  private room(n: number): void {
    if (this.pos + n > this.scratch.length) this.cut();
  }

  /** Ends the scratch part (if any) and starts a fresh one. */
  private cut(): void {
    if (this.pos === 0) return;
    this.parts.push(this.scratch.subarray(0, this.pos));
    this.length += this.pos;
    this.scratch = new Uint8Array(SCRATCH_BYTES);
    this.pos = 0;
  }
}
