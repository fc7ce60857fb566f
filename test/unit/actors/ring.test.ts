import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateRing, RingReader, RingWriter } from '../../../actors/ring.js';

describe('SPSC ring', () => {
  it('delivers entries in order across many wraparounds, refusing writes only when full', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.boolean()), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.integer({ min: 64, max: 1024 }),
        (ops, capacity) => {
          const mem = allocateRing(capacity);
          const w = new RingWriter(mem);
          const r = new RingReader(mem);
          const sent: number[][] = [];
          const got: number[][] = [];
          let seq = 0;
          for (const [len, drain] of ops) {
            const size = Math.min(len, w.maxEntry);
            const payload = Uint8Array.from({ length: size }, (_, i) => (seq + i) & 0xff);
            if (w.tryWrite(payload)) {
              sent.push(Array.from(payload));
              seq++;
            } else {
              // Refused: after draining everything, it must fit.
              r.read((e) => got.push(Array.from(e)));
              expect(r.isEmpty()).toBe(true);
              expect(w.tryWrite(payload)).toBe(true);
              sent.push(Array.from(payload));
              seq++;
            }
            if (drain) r.read((e) => got.push(Array.from(e)));
          }
          r.read((e) => got.push(Array.from(e)));
          expect(got).toEqual(sent);
        },
      ),
    );
  });

  it('rejects an entry larger than half the ring', () => {
    const mem = allocateRing(256);
    const w = new RingWriter(mem);
    expect(() => w.tryWrite(new Uint8Array(w.maxEntry + 1))).toThrow(RangeError);
  });
});

describe('SPSC ring fragments', () => {
  it('carries a payload many times larger than the ring, in order with small ones', () => {
    const mem = allocateRing(256);
    const w = new RingWriter(mem);
    const r = new RingReader(mem);
    const big = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    const queue = [Uint8Array.of(1, 2, 3), big, Uint8Array.of(9)];
    const got: number[][] = [];
    for (const p of queue) {
      for (const f of w.fragments(p)) {
        while (!w.tryWrite(f.bytes, f.more)) r.read((e) => got.push(Array.from(e)));
      }
    }
    r.read((e) => got.push(Array.from(e)));
    expect(got).toEqual(queue.map((q) => Array.from(q)));
  });
});
