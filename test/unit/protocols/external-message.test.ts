import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  decodeExternalMessage,
  encodeExternalMessage,
  ErrorCode,
  EXTERNAL_COMMANDS,
  EXTERNAL_PROTOCOL_VERSION,
  type ExternalMessage,
  type ExternalResultValue,
  makeErrorResponse,
  makeResponse,
  MAX_RESULT_DEPTH,
  RooError,
  validateExternalMessage,
} from '../../../protocols/index.js';

/** Packs raw values the way a peer would, to build malformed messages. */
const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

const version = fc.constant(EXTERNAL_PROTOCOL_VERSION);
const id = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
/** Keys that travel unchanged (msgpackr renames `__proto__`). */
const key = text.filter((k) => k !== '__proto__');
/** Finite numbers as msgpack carries them: -0 arrives as 0. */
const finite = fc
  .oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
  .map((x) => (x === 0 ? 0 : x));

const args = fc.dictionary(
  key,
  fc.oneof(text, finite, fc.boolean(), fc.array(text, { maxLength: 4 })),
  { maxKeys: 4 },
);
const request = fc.record(
  {
    type: fc.constant('request' as const),
    version,
    id,
    command: fc.constantFrom(...EXTERNAL_COMMANDS),
    args,
  },
  { requiredKeys: ['type', 'version', 'id', 'command'] },
);
const resultValue: fc.Arbitrary<ExternalResultValue> = fc.letrec<{
  value: ExternalResultValue;
}>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    finite,
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const ok = fc.record({
  type: fc.constant('response' as const),
  version,
  id,
  ok: fc.constant(true as const),
  result: resultValue,
});
const failed = fc.record({
  type: fc.constant('response' as const),
  version,
  id,
  ok: fc.constant(false as const),
  error: fc.record({ code: fc.constantFrom(...Object.values(ErrorCode)), message: text }),
});
const message: fc.Arbitrary<ExternalMessage> = fc.oneof(request, ok, failed);
/** Messages with small results: every prefix is tried, and a big result only repeats one case. */
const scalar = fc.oneof(fc.constant(null), fc.boolean(), finite, text);
const shortMessage: fc.Arbitrary<ExternalMessage> = fc.oneof(
  request,
  failed,
  ok.chain((m) =>
    fc
      .oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(key, scalar, { maxKeys: 3 }))
      .map((result) => ({ ...m, result })),
  ),
);

const samples = {
  request: { type: 'request', version: 1, id: 7, command: 'status' },
  withArgs: {
    type: 'request',
    version: 1,
    id: 8,
    command: 'shrink',
    args: { workers: ['w1', 'w2'], count: 2, mode: 'drain' },
  },
  ok: { type: 'response', version: 1, id: 7, ok: true, result: { workers: [{ name: 'w1' }] } },
  failed: {
    type: 'response',
    version: 1,
    id: 7,
    ok: false,
    error: { code: 'ROO_ERR_UNKNOWN_REQUEST', message: 'no such command' },
  },
} satisfies Record<string, ExternalMessage>;
const sampleList: readonly ExternalMessage[] = Object.values(samples);

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

/** `depth` arrays nested in each other, around `inner`. */
function nest(depth: number, inner: ExternalResultValue = 1): ExternalResultValue {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * Decoding arbitrary bytes may only throw a RooError, or return a message that
 * is valid and survives its own round trip (never a half-checked value).
 */
function decodeOrRooError(bytes: Uint8Array): void {
  let decoded: ExternalMessage;
  try {
    decoded = decodeExternalMessage(bytes);
  } catch (e) {
    if (!(e instanceof RooError)) expect.fail(`threw ${String(e)}`);
    expect([ErrorCode.BadMessage, ErrorCode.BadVersion, ErrorCode.UnknownRequest]).toContain(
      e.code,
    );
    return;
  }
  expect(validateExternalMessage(decoded)).toEqual(decoded);
  expect(decodeExternalMessage(encodeExternalMessage(decoded))).toEqual(decoded);
}

describe('external message codec', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeExternalMessage(encodeExternalMessage(m))).toEqual(m);
      }),
      { numRuns: 300 },
    );
    for (const m of sampleList) expect(decodeExternalMessage(encodeExternalMessage(m))).toEqual(m);
  });

  it('returns an encoding of exact size that the next encode does not overwrite', () => {
    fc.assert(
      fc.property(message, message, (a, b) => {
        const first = encodeExternalMessage(a);
        const copy = Uint8Array.from(first);
        encodeExternalMessage(b);
        expect(first).toEqual(copy);
        expect(first.byteOffset).toBe(0);
        expect(first.buffer.byteLength).toBe(first.length);
      }),
      { numRuns: 100 },
    );
  });

  it('decodes from a view into a larger buffer', () => {
    fc.assert(
      fc.property(message, fc.uint8Array(), fc.uint8Array(), (m, before, after) => {
        const encoded = encodeExternalMessage(m);
        const whole = new Uint8Array(before.length + encoded.length + after.length);
        whole.set(before);
        whole.set(encoded, before.length);
        whole.set(after, before.length + encoded.length);
        const view = whole.subarray(before.length, before.length + encoded.length);
        expect(decodeExternalMessage(view)).toEqual(m);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses every truncated encoding with a RooError', () => {
    fc.assert(
      fc.property(shortMessage, (m) => {
        const encoded = encodeExternalMessage(m);
        for (let n = 0; n < encoded.length; n++) {
          let outcome: unknown = 'returned';
          try {
            decodeExternalMessage(encoded.subarray(0, n));
          } catch (e) {
            outcome = e;
          }
          // Checked by hand first: thousands of prefixes, and expect() is slow.
          if (!(outcome instanceof RooError && outcome.code === ErrorCode.BadMessage)) {
            expect.fail(`prefix of ${n}/${encoded.length} bytes gave ${String(outcome)}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('refuses an encoding followed by extra bytes', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 20 }), (m, extra) => {
        const encoded = encodeExternalMessage(m);
        const padded = new Uint8Array(encoded.length + extra.length);
        padded.set(encoded);
        padded.set(extra, encoded.length);
        expectCode(() => decodeExternalMessage(padded), ErrorCode.BadMessage);
      }),
      { numRuns: 100 },
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
        const encoded = encodeExternalMessage(m);
        const i = at % encoded.length;
        encoded[i] = encoded[i]! ^ flip;
        decodeOrRooError(encoded);
      }),
      { numRuns: 600 },
    );
  });

  it('on any other msgpack value throws only RooError', () => {
    const anything = fc.anything({ withBigInt: true, withTypedArray: true, withDate: true });
    fc.assert(
      fc.property(anything, (x) => decodeOrRooError(pack(x))),
      { numRuns: 300 },
    );
    // Shaped like a message, with anything in one field or as a result.
    fc.assert(
      fc.property(fc.constantFrom(...sampleList), fc.string(), anything, (m, k, x) => {
        decodeOrRooError(pack({ ...m, [k]: x }));
        decodeOrRooError(pack({ ...samples.ok, result: x }));
        decodeOrRooError(pack({ ...samples.request, args: { a: x } }));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses another version with ROO_ERR_BAD_VERSION', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...sampleList),
        fc
          .oneof(fc.nat({ max: 10 }), fc.maxSafeNat())
          .filter((v) => v !== EXTERNAL_PROTOCOL_VERSION),
        (m, v) => {
          const e = expectCode(
            () => decodeExternalMessage(pack({ ...m, version: v })),
            ErrorCode.BadVersion,
          );
          expect(e.message).toContain(String(v));
          expect(e.details).toMatchObject({ version: v, supported: 1, id: m.id });
        },
      ),
    );
    // A future version may bring commands this one does not know: still a version error.
    expectCode(
      () => decodeExternalMessage(pack({ ...samples.request, version: 2, command: 'grow' })),
      ErrorCode.BadVersion,
    );
  });

  it('refuses a version that is not a count with ROO_ERR_BAD_MESSAGE', () => {
    for (const v of [undefined, null, '1', 1.5, -1, true, [1], Number.NaN]) {
      expectCode(
        () => decodeExternalMessage(pack({ ...samples.request, version: v })),
        ErrorCode.BadMessage,
      );
    }
  });

  it('refuses an unknown type with ROO_ERR_BAD_MESSAGE', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string().filter((t) => t !== 'request' && t !== 'response'),
          fc.constantFrom('toString', '__proto__', 'constructor', 'hello'),
        ),
        (t) => {
          const e = expectCode(
            () => decodeExternalMessage(pack({ ...samples.request, type: t })),
            ErrorCode.BadMessage,
          );
          expect(e.message).toContain('unknown external message type');
        },
      ),
    );
    expectCode(() => decodeExternalMessage(pack({ version: 1, id: 1 })), ErrorCode.BadMessage);
    expectCode(
      () => decodeExternalMessage(pack({ ...samples.request, type: 3 })),
      ErrorCode.BadMessage,
    );
  });

  it('refuses a top-level value that is not a map', () => {
    for (const v of [null, 1, 'status', [samples.request], true, Uint8Array.of(1), new Date(0)]) {
      expectCode(() => decodeExternalMessage(pack(v)), ErrorCode.BadMessage);
    }
  });
});

describe('external requests', () => {
  it('refuses an unknown command with ROO_ERR_UNKNOWN_REQUEST, carrying the id', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string().filter((c) => !(EXTERNAL_COMMANDS as readonly string[]).includes(c)),
          fc.constantFrom('STATUS', 'toString', '__proto__', 'constructor', ''),
        ),
        id,
        (command, i) => {
          const e = expectCode(
            () => decodeExternalMessage(pack({ ...samples.request, id: i, command })),
            ErrorCode.UnknownRequest,
          );
          expect(e.details).toMatchObject({ id: i });
          expect(e.message).toContain('unknown external command');
        },
      ),
    );
    // The server answers with the error, to the request's id.
    const e = expectCode(
      () => decodeExternalMessage(pack({ ...samples.request, id: 41, command: 'grow' })),
      ErrorCode.UnknownRequest,
    );
    const answer = makeErrorResponse(e.details!['id'] as number, e);
    expect(decodeExternalMessage(encodeExternalMessage(answer))).toEqual({
      type: 'response',
      version: 1,
      id: 41,
      ok: false,
      error: { code: 'ROO_ERR_UNKNOWN_REQUEST', message: e.message },
    });
  });

  it('refuses bad fields with ROO_ERR_BAD_MESSAGE, carrying the id once it is readable', () => {
    for (const command of [undefined, null, 3, ['status'], { status: 1 }]) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.request, command })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain("'command'");
      expect(e.details).toMatchObject({ id: 7 });
    }
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, '7', null, undefined, 2n ** 60n]) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.request, id: bad })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain("'id'");
    }
    const badArgs: unknown[] = [
      null,
      [],
      'workers=1',
      5,
      { n: Number.NaN },
      { n: Infinity },
      { n: -Infinity },
      { n: null },
      { n: {} },
      { n: [1] },
      { n: ['a', null] },
      { n: [['a']] },
      { n: 2n ** 60n },
      { n: new Date(0) },
    ];
    for (const a of badArgs) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.withArgs, args: a })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain("'args");
      expect(e.details).toMatchObject({ id: 8 });
      expectCode(
        () => encodeExternalMessage({ ...samples.withArgs, args: a } as ExternalMessage),
        ErrorCode.BadMessage,
      );
    }
  });

  it('refuses what msgpack would alter: lone surrogates and a __proto__ key', () => {
    const cases: unknown[] = [
      { n: 'a\uD800' },
      { n: ['ok', '\uDC00'] },
      { ['k\uD800']: 1 },
      JSON.parse('{"__proto__": "x"}'),
    ];
    for (const a of cases) {
      expectCode(
        () => encodeExternalMessage({ ...samples.withArgs, args: a } as ExternalMessage),
        ErrorCode.BadMessage,
      );
    }
  });

  it('treats args of undefined as none, and keeps a request without args without them', () => {
    const m = { ...samples.request, args: undefined } as unknown as ExternalMessage;
    expect(Object.keys(validateExternalMessage(m))).not.toContain('args');
    expect(decodeExternalMessage(encodeExternalMessage(m))).toStrictEqual(samples.request);
  });

  it('normalizes -0 to 0, as msgpack carries it', () => {
    const m = { ...samples.withArgs, args: { n: -0 } } as ExternalMessage;
    expect(
      Object.is((validateExternalMessage(m) as typeof m & { args: { n: number } }).args.n, 0),
    ).toBe(true);
  });

  it('refuses a field that does not belong to a request', () => {
    for (const extra of ['extra', 'ok', 'result', 'error']) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.request, [extra]: 1 })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain(extra);
    }
  });
});

describe('external responses', () => {
  it('has exactly one of result and error, by ok', () => {
    const { result: _r, ...okWithout } = samples.ok;
    const { error: _e, ...failedWithout } = samples.failed;
    const bad: unknown[] = [
      okWithout,
      { ...samples.ok, error: samples.failed.error },
      { ...samples.ok, result: undefined },
      failedWithout,
      { ...samples.failed, result: 1 },
      { ...samples.ok, ok: 'true' },
      { ...samples.ok, ok: 1 },
      { ...samples.ok, ok: undefined },
    ];
    for (const m of bad) {
      expectCode(() => decodeExternalMessage(pack(m)), ErrorCode.BadMessage);
      expectCode(() => encodeExternalMessage(m as ExternalMessage), ErrorCode.BadMessage);
    }
  });

  it('refuses a bad error record', () => {
    const errors: unknown[] = [
      null,
      'ROO_ERR_INTERNAL',
      [],
      { code: 'ROO_ERR_INTERNAL' },
      { message: 'x' },
      { code: 'ROO_ERR_NOPE', message: 'x' },
      { code: 3, message: 'x' },
      { code: 'ROO_ERR_INTERNAL', message: 3 },
      { code: 'ROO_ERR_INTERNAL', message: 'x', details: {} },
    ];
    for (const error of errors) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.failed, error })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toMatch(/error|details/);
    }
  });

  it('refuses a result that is not JSON-like, naming where', () => {
    const results: [unknown, string][] = [
      [Number.NaN, "'result'"],
      [Infinity, "'result'"],
      [{ a: [1, Number.NaN] }, "'result.a[1]'"],
      [{ a: { b: -Infinity } }, "'result.a.b'"],
      [{ a: undefined }, "'result.a'"],
      [[undefined], "'result[0]'"],
      [{ a: 2n ** 60n }, "'result.a'"],
      [{ a: new Date(0) }, "'result.a'"],
      [{ a: Uint8Array.of(1) }, "'result.a'"],
    ];
    for (const [result, where] of results) {
      const e = expectCode(
        () => decodeExternalMessage(pack({ ...samples.ok, result })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain(where);
    }
    // Values of the caller's own that msgpack could not even carry.
    class Point {
      x = 1;
    }
    for (const result of [new Point(), new Map(), () => 1, Symbol('s'), { a: 'x\uD800' }]) {
      expectCode(
        () => encodeExternalMessage({ ...samples.ok, result } as unknown as ExternalMessage),
        ErrorCode.BadMessage,
      );
    }
  });

  it(`accepts results nested ${MAX_RESULT_DEPTH} deep and refuses deeper ones`, () => {
    const deepest = makeResponse(1, nest(MAX_RESULT_DEPTH));
    expect(decodeExternalMessage(encodeExternalMessage(deepest))).toEqual(deepest);
    const objects = makeResponse(1, nest(MAX_RESULT_DEPTH - 1, { a: 1 }));
    expect(decodeExternalMessage(encodeExternalMessage(objects))).toEqual(objects);
    const tooDeep = { ...deepest, result: nest(MAX_RESULT_DEPTH + 1) };
    expectCode(() => decodeExternalMessage(pack(tooDeep)), ErrorCode.BadMessage);
    expectCode(() => encodeExternalMessage(tooDeep), ErrorCode.BadMessage);
    // Nesting too deep for msgpackr itself (its stack overflows): by hand, 0x91 is an
    // array of one, and the result is the last field.
    const head = pack({ ...deepest, result: null });
    expect(head[head.length - 1]).toBe(0xc0);
    const abyss = new Uint8Array(head.length + 100_000);
    abyss.set(head);
    abyss.fill(0x91, head.length - 1, abyss.length - 1);
    abyss[abyss.length - 1] = 0xc0;
    expectCode(() => decodeExternalMessage(abyss), ErrorCode.BadMessage);
    // A cycle in the caller's value is refused, not a stack overflow.
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expectCode(
      () => encodeExternalMessage({ ...deepest, result: cycle } as unknown as ExternalMessage),
      ErrorCode.BadMessage,
    );
  });
});

describe('makeResponse / makeErrorResponse', () => {
  it('build valid responses that round-trip', () => {
    fc.assert(
      fc.property(id, resultValue, (i, r) => {
        const m = makeResponse(i, r);
        expect(m).toEqual({ type: 'response', version: 1, id: i, ok: true, result: r });
        expect(decodeExternalMessage(encodeExternalMessage(m))).toEqual(m);
      }),
      { numRuns: 100 },
    );
    const e = new RooError(ErrorCode.DuplicateWorker, 'name taken', { name: 'w1' });
    const m = makeErrorResponse(3, e);
    // Only the code and the message travel.
    expect(m).toStrictEqual({
      type: 'response',
      version: 1,
      id: 3,
      ok: false,
      error: { code: 'ROO_ERR_DUPLICATE_WORKER', message: 'name taken' },
    });
    expect(decodeExternalMessage(encodeExternalMessage(m))).toEqual(m);
  });
});

describe('validateExternalMessage', () => {
  it('returns a fresh deep copy of a valid message', () => {
    fc.assert(
      fc.property(message, (m) => {
        const v = validateExternalMessage(m);
        expect(v).toEqual(m);
        expect(v).not.toBe(m);
      }),
      { numRuns: 100 },
    );
    const v = validateExternalMessage(samples.ok) as typeof samples.ok;
    expect(v.result).not.toBe(samples.ok.result);
    expect(v.result.workers[0]).not.toBe(samples.ok.result.workers[0]);
    const w = validateExternalMessage(samples.withArgs) as typeof samples.withArgs;
    expect(w.args.workers).not.toBe(samples.withArgs.args.workers);
  });

  it('ignores fields inherited through the prototype', () => {
    const inherited = Object.create({ ...samples.request }) as unknown;
    expectCode(() => validateExternalMessage(inherited), ErrorCode.BadMessage);
    const result = Object.create({ a: 1 }) as unknown;
    expectCode(() => validateExternalMessage({ ...samples.ok, result }), ErrorCode.BadMessage);
  });
});
