import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BATCH_VERSION, BatchEncoder, decodeBatch } from '../../../protocols/batch-codec.js';
import { ErrorCode, RooError } from '../../../protocols/errors.js';

type Message = [number, number, unknown, unknown];

/** Values the codec carries: its own kinds, and structured values for the side list. */
const value = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constant(-0),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  // Own `__proto__` keys are renamed by msgpackr on purpose (prototype
  // pollution protection); a separate test pins that down.
  fc.dictionary(
    fc.string().filter((k) => k !== '__proto__'),
    fc.oneof(fc.integer(), fc.string(), fc.boolean()),
  ),
  fc.array(fc.oneof(fc.integer(), fc.string())),
  fc.uint8Array({ maxLength: 64 }),
);
const message = fc.tuple(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  value,
  value,
);

function encode(messages: readonly Message[]): Buffer {
  const enc = new BatchEncoder(64);
  for (const [d, t, a, b] of messages) enc.add(d, t, a, b);
  return enc.finish();
}

function decode(bytes: Uint8Array): Message[] {
  const out: Message[] = [];
  decodeBatch(bytes, (d, t, a, b) => out.push([d, t, a, b]));
  return out;
}

describe('batch codec', () => {
  it('round-trips any batch of messages', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 40 }), (messages) => {
        expect(decode(encode(messages))).toEqual(messages);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps -0 and the same object for b === a', () => {
    const shared = { n: 1 };
    const [m] = decode(encode([[1, 2, shared, shared]]));
    expect(m?.[2]).toEqual(shared);
    expect(m?.[3]).toBe(m?.[2]);
    expect(Object.is(decode(encode([[0, 0, -0, 1]]))[0]?.[2], -0)).toBe(true);
  });

  it('is reusable: finish resets the encoder', () => {
    const enc = new BatchEncoder(16);
    enc.add(1, 1, 'a', { x: 1 });
    const first = enc.finish();
    enc.add(2, 2, 'b', 2);
    const second = enc.finish();
    expect(decode(first)).toEqual([[1, 1, 'a', { x: 1 }]]);
    expect(decode(second)).toEqual([[2, 2, 'b', 2]]);
  });

  it('refuses every truncation of a valid batch with ROO_ERR_BATCH_CORRUPT', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 10 }), (messages) => {
        const bytes = encode(messages);
        for (let cut = 0; cut < bytes.length; cut++) {
          let thrown: unknown;
          try {
            decode(bytes.subarray(0, cut));
          } catch (err) {
            thrown = err;
          }
          expect(thrown).toBeInstanceOf(RooError);
          expect((thrown as RooError).code).toBe(ErrorCode.BatchCorrupt);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('throws nothing but ROO_ERR_BATCH_CORRUPT on garbage, and never hangs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(RooError);
          expect((err as RooError).code).toBe(ErrorCode.BatchCorrupt);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a count that cannot fit before allocating or looping', () => {
    const bytes = Buffer.alloc(20);
    bytes[0] = BATCH_VERSION;
    bytes.writeUInt32LE(0xffffffff, 1);
    expect(() => decode(bytes)).toThrow(/does not fit/);
  });

  it('refuses corrupted bytes inside a valid batch with a RooError', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (messages, where, flip) => {
          const bytes = Buffer.from(encode(messages));
          const at = where % bytes.length;
          bytes[at] = (bytes[at] as number) ^ flip;
          try {
            decode(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(RooError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('batch codec: decoded values own their memory', () => {
  // Regression: binary values came back as views into the input, which is
  // ring memory reused once a batch is read; a sink chunk waiting in a
  // mailbox was overwritten by later batches (garbage in sink output).
  it('returns bytes and strings that survive the input being overwritten', () => {
    const chunk = Buffer.from('word => 1\nword => 2\n');
    const bytes = encode([
      [1, 0, chunk, 3],
      [2, 0, 'key', { nested: Buffer.from('abc') }],
    ]);
    const input = Buffer.from(bytes);
    const got = decode(input);
    input.fill(0xee);
    expect(Buffer.from(got[0]?.[2] as Uint8Array).toString()).toBe('word => 1\nword => 2\n');
    expect(got[1]?.[2]).toBe('key');
    expect(Buffer.from((got[1]?.[3] as { nested: Uint8Array }).nested).toString()).toBe('abc');
  });
});

describe('batch codec: structured values', () => {
  it('never lets a decoded object set its prototype (own __proto__ keys are renamed)', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
    const [m] = decode(encode([[0, 0, evil, null]]));
    const got = m?.[2] as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(got['x']).toBe(1);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('batch codec: bytes', () => {
  it('carries a view as just its bytes, decoded as a copy of the same type', () => {
    const u8 = new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3);
    const [m] = decode(encode([[1, 0, u8, undefined]]));
    expect(Buffer.isBuffer(m?.[2])).toBe(false);
    expect(m?.[2]).toEqual(new Uint8Array([2, 3]));
  });

  it('carries a Buffer view as a Buffer that does not alias the batch', () => {
    const backing = Buffer.from('0123456789');
    const view = backing.subarray(3, 7);
    const bytes = encode([[1, 0, view, 4]]);
    const [m] = decode(bytes);
    const got = m?.[2] as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.toString()).toBe('3456');
    bytes.fill(0);
    expect(got.toString()).toBe('3456');
  });

  it('refuses bytes whose length runs past the batch', () => {
    const bytes = encode([[1, 0, Buffer.from('abcd'), undefined]]);
    // The u32 length sits right after the kind byte of the first value.
    const at = bytes.indexOf(Buffer.from([11, 4, 0, 0, 0]));
    expect(at).toBeGreaterThan(0);
    bytes.writeUInt32LE(1000, at + 1);
    expect(() => decode(bytes)).toThrow(RooError);
  });
});
