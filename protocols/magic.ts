/**
 * The magic that opens a connection in one of roo's own protocols over a
 * port that also takes plain connections (sink-txn.ts's "ROOTXN1\n",
 * source-ack.ts's "ROOACK1\n"): its bytes, writing it before the opening
 * message, and telling it from a plain connection's first bytes, which may
 * arrive split across any number of chunks. Pure: the parsers that hold the
 * count of bytes matched so far live beside the protocols.
 */

/** The bytes of an ASCII magic such as "ROOTXN1\n". */
export function asciiMagic(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    if (code > 0x7f) throw new RangeError(`magic ${JSON.stringify(text)} is not ASCII`);
    return code;
  });
}

/** `magic` then `opening` (a framed hello), in one buffer, ready to write. */
export function withMagic(magic: Uint8Array, opening: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(magic.length + opening.length);
  out.set(magic, 0);
  out.set(opening, magic.length);
  return out;
}

/** The first `n` bytes of `magic`, as a buffer of their own. */
export function magicPrefix(magic: Uint8Array, n: number): Buffer {
  return Buffer.from(magic.subarray(0, n));
}

/** How far a chunk takes the match of a connection's first bytes against a magic. */
export type MagicMatch =
  /** Every byte of the chunk matched; `matched` bytes of the magic are in, not all. */
  | { readonly kind: 'partial'; readonly matched: number }
  /** The magic is complete; the chunk's bytes from `at` on follow it. */
  | { readonly kind: 'complete'; readonly at: number }
  /**
   * Byte `at` of the chunk is not byte `matched` of the magic: the
   * connection is not in the protocol (its bytes before `at` matched).
   */
  | { readonly kind: 'mismatch'; readonly matched: number; readonly at: number };

/**
 * Matches `chunk` against `magic`, `matched` bytes of which earlier chunks
 * matched already (0 for a connection's first chunk).
 */
export function matchMagic(magic: Uint8Array, matched: number, chunk: Uint8Array): MagicMatch {
  let pos = 0;
  while (pos < chunk.length && matched < magic.length) {
    if (chunk[pos] !== magic[matched]) return { kind: 'mismatch', matched, at: pos };
    matched++;
    pos++;
  }
  return matched < magic.length ? { kind: 'partial', matched } : { kind: 'complete', at: pos };
}
