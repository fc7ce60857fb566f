/**
 * Writing strings into byte buffers on hot paths (the batch codec, sink
 * encoders). Most strings there are short and ASCII (keys, output lines);
 * for them a JS loop beats Buffer's write methods, whose argument handling
 * plus a call into C++ cost more than the copy. Pure: no I/O.
 */

/** Strings up to this length are tried with the JS loop first. */
export const SHORT_STRING_CHARS = 64;

/** Node's fast, long-stable (if undocumented) UTF-8 writer. */
interface Utf8Writer {
  utf8Write(s: string, offset: number, max: number): number;
}

/**
 * Writes `s` as UTF-8 into `buf` at `at` and returns the bytes written; the
 * caller guarantees room for `s.length * 3` bytes. The result equals
 * `s.length` exactly when `s` is ASCII (any other character takes 2 or more
 * bytes), which callers use to tag ASCII for faster decoding.
 */
export function writeUtf8(buf: Buffer, at: number, s: string): number {
  const len = s.length;
  if (len <= SHORT_STRING_CHARS) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === len) return len;
  }
  return (buf as Buffer & Utf8Writer).utf8Write(s, at, len * 3);
}
