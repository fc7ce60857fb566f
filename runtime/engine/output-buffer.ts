/**
 * A growable byte buffer that sink encoders write outputs into: the
 * {@link OutputWriter} an `encodeInto` encoder is given, and where a string
 * or byte encoder's result is copied. Short ASCII strings and integers are
 * written by JS loops (protocols/utf8.ts: a call into C++ per short string
 * costs more than the copy).
 */
import { writeUtf8 } from '../../protocols/index.js';
import type { OutputWriter } from '../api/connectors.js';

/** Decimal digits of the largest safe integer. */
const MAX_DIGITS = 16;

/** Bytes written since the last `take`, growing as needed. */
export class OutputBuffer implements OutputWriter {
  /** The bytes; `pos` of them are written. */
  buf: Buffer;
  pos = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  text(s: string): this {
    this.ensure(s.length * 3);
    this.pos += writeUtf8(this.buf, this.pos, s);
    return this;
  }

  number(n: number): this {
    if (!Number.isSafeInteger(n)) return this.text(String(n));
    this.ensure(MAX_DIGITS + 1);
    const buf = this.buf;
    let p = this.pos;
    let v = n;
    if (v < 0) {
      buf[p++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let q = p + digits;
    this.pos = q;
    do {
      const r = v % 10;
      buf[--q] = 48 + r;
      v = (v - r) / 10;
    } while (v > 0);
    return this;
  }

  byte(b: number): this {
    this.ensure(1);
    this.buf[this.pos++] = b;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** A copy of what was written since the last take, which is then forgotten. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}
