import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  DATA_PROTOCOL_VERSION,
  type DataMessage,
  MAX_DATA_LANES,
  MAX_DATA_WINDOW_BYTES,
  decodeDataMessage,
  encodeDataMessage,
  ErrorCode,
  RooError,
  validateDataMessage,
} from '../../../protocols/index.js';

/** Packs raw values the way a peer would, to build malformed messages. */
const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

const version = fc.constant(DATA_PROTOCOL_VERSION);
const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });

const lane = fc.oneof(fc.nat({ max: 7 }), fc.constant(MAX_DATA_LANES - 1));
const batch = fc.record({
  type: fc.constant('batch' as const),
  version,
  epoch: count,
  sender: name,
  lane,
  bytes: fc.uint8Array({ maxLength: 200 }),
});
const window = fc.record({
  type: fc.constant('window' as const),
  version,
  bytes: fc.integer({ min: 1, max: MAX_DATA_WINDOW_BYTES }),
});
const credit = fc.record({
  type: fc.constant('credit' as const),
  version,
  lane,
  bytes: fc.oneof(
    fc.integer({ min: 1, max: 1 << 24 }),
    fc.integer({ min: 1 }),
    fc.constant(Number.MAX_SAFE_INTEGER),
  ),
});
const message: fc.Arbitrary<DataMessage> = fc.oneof(batch, window, credit);
/** Messages with short batches: every prefix is tried, and long binary only repeats one case. */
const shortMessage: fc.Arbitrary<DataMessage> = message.map((m) =>
  m.type === 'batch' ? { ...m, bytes: m.bytes.subarray(0, 24) } : m,
);

/** Valid messages (one with an empty batch), as templates for malformed ones. */
const samples: readonly DataMessage[] = [
  {
    type: 'batch',
    version: 2,
    epoch: 3,
    sender: 'worker-1',
    lane: 5,
    bytes: Uint8Array.of(1, 2, 3),
  },
  { type: 'batch', version: 2, epoch: 0, sender: 'w', lane: 0, bytes: new Uint8Array(0) },
  { type: 'window', version: 2, bytes: 2 * 1024 * 1024 },
  { type: 'credit', version: 2, lane: 3, bytes: 65_540 },
];

/** Kinds specified before checkpoints existed and never sent; unknown types in this version too. */
const removedKinds: readonly Record<string, unknown>[] = [
  { type: 'barrier', version: 2, epoch: 3, checkpointId: 7 },
  { type: 'epoch', version: 2, epoch: 4 },
  { type: 'eos', version: 2, epoch: 3, sourceId: 'source-0' },
];

/** Runs `f` and returns what it threw (fails the test if it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectCode(f: () => unknown, code: string): RooError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  return e as RooError;
}

/**
 * Decoding arbitrary bytes may only throw a RooError, or return a message that
 * is valid and survives its own round trip (never a half-checked value).
 */
function decodeOrRooError(bytes: Uint8Array): void {
  let decoded: DataMessage;
  try {
    decoded = decodeDataMessage(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    expect([ErrorCode.BadMessage, ErrorCode.BadVersion]).toContain((e as RooError).code);
    return;
  }
  expect(validateDataMessage(decoded)).toEqual(decoded);
  expect(decodeDataMessage(encodeDataMessage(decoded))).toEqual(decoded);
}

describe('data message codec', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeDataMessage(encodeDataMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('returns an encoding of exact size that the next encode does not overwrite', () => {
    fc.assert(
      fc.property(message, message, (a, b) => {
        const first = encodeDataMessage(a);
        const copy = Uint8Array.from(first);
        encodeDataMessage(b);
        expect(first).toEqual(copy);
        expect(first.byteOffset).toBe(0);
        expect(first.buffer.byteLength).toBe(first.length);
      }),
    );
  });

  it('decodes batch bytes that do not alias the input', () => {
    const m = samples[0]!;
    const encoded = encodeDataMessage(m);
    const decoded = decodeDataMessage(encoded);
    encoded.fill(0);
    expect(decoded).toEqual(m);
  });

  it('decodes from a view into a larger buffer', () => {
    fc.assert(
      fc.property(message, fc.uint8Array(), fc.uint8Array(), (m, before, after) => {
        const encoded = encodeDataMessage(m);
        const whole = new Uint8Array(before.length + encoded.length + after.length);
        whole.set(before);
        whole.set(encoded, before.length);
        whole.set(after, before.length + encoded.length);
        const view = whole.subarray(before.length, before.length + encoded.length);
        expect(decodeDataMessage(view)).toEqual(m);
      }),
    );
  });

  it('refuses every truncated encoding with a RooError', () => {
    fc.assert(
      fc.property(shortMessage, (m) => {
        const encoded = encodeDataMessage(m);
        for (let n = 0; n < encoded.length; n++) {
          let outcome: unknown = 'returned';
          try {
            decodeDataMessage(encoded.subarray(0, n));
          } catch (e) {
            outcome = e;
          }
          // Checked by hand first: thousands of prefixes, and expect() is slow.
          if (!(outcome instanceof RooError && outcome.code === ErrorCode.BadMessage)) {
            expect.fail(`prefix of ${n}/${encoded.length} bytes gave ${String(outcome)}`);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses an encoding followed by extra bytes', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 20 }), (m, extra) => {
        const encoded = encodeDataMessage(m);
        const padded = new Uint8Array(encoded.length + extra.length);
        padded.set(encoded);
        padded.set(extra, encoded.length);
        expectCode(() => decodeDataMessage(padded), ErrorCode.BadMessage);
      }),
    );
  });

  it('on garbage bytes throws only RooError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodeOrRooError), {
      numRuns: 1000,
    });
  });

  it('on a corrupted encoding throws only RooError', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, flip) => {
        const encoded = encodeDataMessage(m);
        const i = at % encoded.length;
        encoded[i] = encoded[i]! ^ flip;
        decodeOrRooError(encoded);
      }),
      { numRuns: 1000 },
    );
  });

  it('on any other msgpack value throws only RooError', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withTypedArray: true, withDate: true }), (x) => {
        decodeOrRooError(pack(x));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses another version with ROO_ERR_BAD_VERSION', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.oneof(fc.nat({ max: 10 }), fc.maxSafeNat()).filter((v) => v !== DATA_PROTOCOL_VERSION),
        (m, v) => {
          const e = expectCode(
            () => decodeDataMessage(pack({ ...m, version: v })),
            ErrorCode.BadVersion,
          );
          expect(e.message).toContain(String(v));
        },
      ),
    );
    // A future version may bring kinds this one does not know: still a version error.
    expectCode(
      () => decodeDataMessage(pack({ type: 'rebalance', version: 3, epoch: 0 })),
      ErrorCode.BadVersion,
    );
    // Version 1 (no lanes, no credit) is refused as a version, not misread.
    expectCode(
      () =>
        decodeDataMessage(
          pack({ type: 'batch', version: 1, epoch: 0, sender: 'w', bytes: Uint8Array.of(2) }),
        ),
      ErrorCode.BadVersion,
    );
  });

  it('refuses a version that is not a count with ROO_ERR_BAD_MESSAGE', () => {
    for (const v of [undefined, null, '1', 1.5, -1, true, [1]]) {
      expectCode(
        () => decodeDataMessage(pack({ ...samples[0]!, version: v })),
        ErrorCode.BadMessage,
      );
    }
  });

  it('refuses an unknown type with ROO_ERR_BAD_MESSAGE', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string().filter((t) => !['batch', 'window', 'credit'].includes(t)),
          fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty'),
          fc.constantFrom('barrier', 'epoch', 'eos'),
        ),
        (t) => {
          const e = expectCode(
            () => decodeDataMessage(pack({ type: t, version: 2, epoch: 0 })),
            ErrorCode.BadMessage,
          );
          expect(e.message).toContain('unknown data message type');
        },
      ),
    );
    // The kinds removed from version 1 are unknown, whole messages as they were specified.
    for (const m of removedKinds) {
      const e = expectCode(() => decodeDataMessage(pack(m)), ErrorCode.BadMessage);
      expect(e.message).toContain(`unknown data message type "${String(m.type)}"`);
      expectCode(() => validateDataMessage(m), ErrorCode.BadMessage);
    }
    expectCode(() => decodeDataMessage(pack({ version: 2, epoch: 0 })), ErrorCode.BadMessage);
    expectCode(
      () => decodeDataMessage(pack({ type: 3, version: 2, epoch: 0 })),
      ErrorCode.BadMessage,
    );
  });

  it('refuses a bad field of each kind with a message naming it', () => {
    const badCounts: unknown[] = [-1, 1.5, Number.NaN, 2 ** 53, '3', null, 2n ** 60n, undefined];
    const badLanes = [...badCounts, MAX_DATA_LANES, MAX_DATA_LANES + 1];
    const cases: [DataMessage, string, unknown[]][] = [
      [samples[0]!, 'epoch', badCounts],
      [samples[0]!, 'sender', ['', 7, null, undefined, Uint8Array.of(65)]],
      [samples[0]!, 'lane', badLanes],
      [samples[0]!, 'bytes', ['abc', [1, 2], null, undefined, 5]],
      [samples[2]!, 'bytes', [...badCounts, 0, MAX_DATA_WINDOW_BYTES + 1, Uint8Array.of(1)]],
      [samples[3]!, 'lane', badLanes],
      [samples[3]!, 'bytes', [...badCounts, 0, Uint8Array.of(1)]],
    ];
    for (const [m, key, values] of cases) {
      for (const v of values) {
        const e = expectCode(
          () => decodeDataMessage(pack({ ...m, [key]: v })),
          ErrorCode.BadMessage,
        );
        expect(e.message).toContain(`'${key}'`);
      }
    }
  });

  it('refuses a field that does not belong to the kind', () => {
    for (const m of samples) {
      const e = expectCode(() => decodeDataMessage(pack({ ...m, extra: 1 })), ErrorCode.BadMessage);
      expect(e.message).toContain('extra');
    }
    // A batch's fields are unknown on the credit kinds, and the other way round.
    expectCode(() => decodeDataMessage(pack({ ...samples[2]!, lane: 0 })), ErrorCode.BadMessage);
    expectCode(
      () => decodeDataMessage(pack({ ...samples[3]!, sender: 'w' })),
      ErrorCode.BadMessage,
    );
    // The removed kinds' fields are unknown on a batch.
    for (const key of ['checkpointId', 'sourceId']) {
      const e = expectCode(
        () => decodeDataMessage(pack({ ...samples[0]!, [key]: 1 })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain(key);
    }
  });

  it('refuses a top-level value that is not a map', () => {
    for (const v of [null, 1, 'batch', [samples[0]], true, Uint8Array.of(1)]) {
      expectCode(() => decodeDataMessage(pack(v)), ErrorCode.BadMessage);
    }
  });
});

describe('validateDataMessage', () => {
  it('returns a fresh copy of a valid message', () => {
    fc.assert(
      fc.property(message, (m) => {
        const v = validateDataMessage(m);
        expect(v).toEqual(m);
        expect(v).not.toBe(m);
      }),
    );
  });

  it('ignores fields inherited through the prototype', () => {
    const inherited = Object.create({ ...samples[0]! }) as unknown;
    expectCode(() => validateDataMessage(inherited), ErrorCode.BadMessage);
  });

  it('is applied by the encoder, so a bad message fails at the sender', () => {
    const bad = { ...samples[0]!, epoch: -1 };
    expectCode(() => encodeDataMessage(bad), ErrorCode.BadMessage);
    // A name UTF-8 cannot carry would arrive altered, so it is refused.
    const lone = { ...samples[0]!, sender: 'a\uD800b' };
    expectCode(() => encodeDataMessage(lone), ErrorCode.BadMessage);
    const paired = { ...samples[0]!, sender: 'a\uD83D\uDE00b' };
    expect(decodeDataMessage(encodeDataMessage(paired))).toEqual(paired);
  });
});
