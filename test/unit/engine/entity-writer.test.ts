/**
 * The hand-written writer of a key group's entities: what it writes must
 * read back, through msgpackr's Unpackr as any process would, as exactly
 * the states written, whatever their shapes, sizes and numbers.
 */
import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeEntities, encodeEntities } from '../../../runtime/engine/thread-checkpoint.js';

function roundTrip(entities: Map<string, unknown>): Map<string, unknown> {
  return decodeEntities(encodeEntities(entities, undefined, 'p'), undefined, 'p');
}

describe('entity writer', () => {
  it('writes numbers at every encoding boundary exactly', () => {
    const numbers = [
      0,
      1,
      63,
      64,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      Number.MIN_SAFE_INTEGER,
      0.5,
      -0,
      NaN,
      Infinity,
      -Infinity,
      1e300,
    ];
    const entities = new Map(numbers.map((n, i) => [`k${i}`, { n, list: [n, n] }]));
    const back = roundTrip(entities);
    for (const [k, v] of entities) expect(back.get(k), k).toStrictEqual(v);
  });

  it('numbers 64..127 as values right after records are defined are not taken for record ids', () => {
    const entities = new Map<string, unknown>();
    for (let i = 0; i < 100; i++) entities.set(`k${i}`, i % 2 === 0 ? { a: i } : 64 + (i % 64));
    expect(roundTrip(entities)).toStrictEqual(entities);
  });

  it('more shapes than record ids: ids are reused, every object reads back with its own keys', () => {
    const entities = new Map<string, unknown>();
    for (let i = 0; i < 200; i++) {
      const o: Record<string, number> = {};
      o[`f${i % 50}`] = i;
      if (i % 3 === 0) o['g'] = -i;
      entities.set(`k${i}`, o);
    }
    expect(roundTrip(entities)).toStrictEqual(entities);
  });

  it('objects after a Map or Set of objects (msgpackr numbers its own records) read back right', () => {
    const entities = new Map<string, unknown>([
      ['a', { x: 1 }],
      ['b', new Map([['m', { y: 2 }]])],
      ['c', { x: 3 }],
      ['d', new Set([{ z: 4 }])],
      ['e', { y: 5 }],
      ['f', { x: 6 }],
    ]);
    expect(roundTrip(entities)).toStrictEqual(entities);
  });

  it('keys and strings of every length and script', () => {
    const long = 'x'.repeat(70_000);
    const entities = new Map<string, unknown>([
      ['', ''],
      ['é', 'ü€😀'],
      ['k'.repeat(31), 'v'.repeat(31)],
      ['k'.repeat(32), 'v'.repeat(255)],
      ['k'.repeat(256), 'v'.repeat(65_535)],
      [long, long],
      ['obj', { [long]: 1, ü: 'é' }],
    ]);
    expect(roundTrip(entities)).toStrictEqual(entities);
  });

  it('any nesting of plain objects, arrays and primitives reads back the same, through a fresh Unpackr too', () => {
    const leaf = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string({ unit: 'binary' }),
      fc.boolean(),
      fc.constant(null),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(
          fc.string().filter((k) => k !== '__proto__'),
          tie('node'),
          { maxKeys: 4, noNullPrototype: true },
        ),
      ),
    })).node;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), tree), { maxLength: 30 }), (pairs) => {
        const entities = new Map(pairs);
        const bytes = encodeEntities(entities, undefined, 'p');
        expect(decodeEntities(bytes, undefined, 'p')).toStrictEqual(entities);
        const flat = new Unpackr({ moreTypes: true }).unpack(Uint8Array.from(bytes)) as unknown[];
        expect(
          new Map(
            Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]),
          ),
        ).toStrictEqual(entities);
      }),
      { numRuns: 300 },
    );
  });
});
