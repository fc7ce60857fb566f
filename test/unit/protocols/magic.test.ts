import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { asciiMagic, magicPrefix, matchMagic, withMagic } from '../../../protocols/magic.js';

const MAGIC = asciiMagic('ROOTEST\n');

/** Feeds `bytes` to matchMagic in the chunks `cuts` makes; returns the last match and the chunk it came from. */
function feed(bytes: Uint8Array, cuts: number[]): ReturnType<typeof matchMagic> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let matched = 0;
  let from = 0;
  for (const to of [...points, bytes.length]) {
    const m = matchMagic(MAGIC, matched, bytes.subarray(from, to));
    if (m.kind !== 'partial') return m;
    matched = m.matched;
    from = to;
  }
  return { kind: 'partial', matched };
}

describe('magic', () => {
  it('spells an ASCII magic and refuses another', () => {
    expect(Buffer.from(MAGIC).toString('latin1')).toBe('ROOTEST\n');
    expect(() => asciiMagic('RÖÖ')).toThrow(RangeError);
  });

  it('writes the magic before the opening, and copies a prefix', () => {
    expect(withMagic(MAGIC, Uint8Array.of(1, 2))).toEqual(
      Buffer.from('ROOTEST\n\x01\x02', 'latin1'),
    );
    const prefix = magicPrefix(MAGIC, 3);
    expect(prefix.toString('latin1')).toBe('ROO');
    prefix[0] = 0;
    expect(MAGIC[0]).toBe(0x52);
  });

  it('tells a magic from other bytes under any chunking', () => {
    const nearMagic = fc
      .tuple(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 12 }))
      .map(([n, rest]) => new Uint8Array([...MAGIC.subarray(0, n), ...rest]));
    fc.assert(
      fc.property(nearMagic, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        let same = 0;
        while (same < Math.min(bytes.length, MAGIC.length) && bytes[same] === MAGIC[same]) same++;
        const m = feed(bytes, cuts);
        if (same === MAGIC.length) expect(m.kind).toBe('complete');
        else if (same === bytes.length) expect(m).toEqual({ kind: 'partial', matched: same });
        else {
          expect(m.kind).toBe('mismatch');
          if (m.kind === 'mismatch') expect(m.matched).toBe(same);
        }
      }),
    );
  });

  it('says where the bytes after a complete magic start', () => {
    expect(matchMagic(MAGIC, 6, Buffer.from('T\n++', 'latin1'))).toEqual({
      kind: 'complete',
      at: 2,
    });
    expect(matchMagic(MAGIC, 2, Buffer.from('OX', 'latin1'))).toEqual({
      kind: 'mismatch',
      matched: 3,
      at: 1,
    });
  });
});
