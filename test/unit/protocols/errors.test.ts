import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  asRooError,
  ErrorCode,
  type ErrorCodeValue,
  type ErrorRecord,
  RooError,
} from '../../../protocols/index.js';

const codes = Object.values(ErrorCode);
const code: fc.Arbitrary<ErrorCodeValue> = fc.constantFrom(...codes);
/** Details as they travel: plain, structured-cloneable data. */
const details = fc.option(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), {
  nil: undefined,
});

function expectSameError(actual: RooError, expected: RooError): void {
  expect(actual).toBeInstanceOf(RooError);
  expect(actual).toBeInstanceOf(Error);
  expect(actual.name).toBe('RooError');
  expect(actual.code).toBe(expected.code);
  expect(actual.message).toBe(expected.message);
  expect(actual.details).toEqual(expected.details);
}

describe('ErrorCode', () => {
  it('has unique ROO_ERR_ codes', () => {
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^ROO_ERR_[A-Z_]+$/);
  });
});

describe('RooError wire record', () => {
  it('round-trips through toRecord / fromRecord', () => {
    fc.assert(
      fc.property(code, fc.string(), details, (c, message, d) => {
        const error = new RooError(c, message, d);
        expectSameError(RooError.fromRecord(error.toRecord()), error);
      }),
    );
  });

  it('round-trips through structuredClone of the record, as between threads', () => {
    fc.assert(
      fc.property(code, fc.string(), details, (c, message, d) => {
        const error = new RooError(c, message, d);
        const record: ErrorRecord = structuredClone(error.toRecord());
        expectSameError(RooError.fromRecord(record), error);
      }),
    );
  });

  it('is a plain record, while the error itself loses its class when cloned', () => {
    const error = new RooError(ErrorCode.QueueFull, 'queue full', { capacity: 8 });
    expect(error.toRecord()).toEqual({
      name: 'RooError',
      code: 'ROO_ERR_QUEUE_FULL',
      message: 'queue full',
      details: { capacity: 8 },
    });
    // Why the record exists: a cloned Error is a plain Error without its code.
    const cloned = structuredClone(error) as unknown as Record<string, unknown>;
    expect(cloned).not.toBeInstanceOf(RooError);
    expect(cloned['code']).toBeUndefined();
  });

  it('leaves details out of the record when there are none', () => {
    const record = new RooError(ErrorCode.BadFlag, 'bad --in').toRecord();
    expect(Object.keys(record).sort()).toEqual(['code', 'message', 'name']);
    expect(RooError.fromRecord(structuredClone(record)).details).toBeUndefined();
  });
});

describe('asRooError', () => {
  it('returns a RooError unchanged', () => {
    const error = new RooError(ErrorCode.BadMessage, 'bad');
    expect(asRooError(error, ErrorCode.ComputationFailed, 'step')).toBe(error);
  });

  it('wraps an Error with the given code and context', () => {
    const wrapped = asRooError(
      new TypeError('x is undefined'),
      ErrorCode.ComputationFailed,
      'split',
    );
    expect(wrapped).toBeInstanceOf(RooError);
    expect(wrapped.code).toBe(ErrorCode.ComputationFailed);
    expect(wrapped.message).toBe('split: x is undefined');
  });

  it('wraps anything thrown that is not an Error', () => {
    const cases: [unknown, string][] = [
      ['a string', 'ctx: a string'],
      [42, 'ctx: 42'],
      [undefined, 'ctx: undefined'],
      [null, 'ctx: null'],
      [{ toString: () => 'custom' }, 'ctx: custom'],
      [Symbol('s'), 'ctx: Symbol(s)'],
      [10n, 'ctx: 10'],
    ];
    for (const [thrownValue, message] of cases) {
      const wrapped = asRooError(thrownValue, ErrorCode.DecoderFailed, 'ctx');
      expect(wrapped).toBeInstanceOf(RooError);
      expect(wrapped.code).toBe(ErrorCode.DecoderFailed);
      expect(wrapped.message).toBe(message);
    }
  });

  it('wraps any value into a RooError with the given code', () => {
    fc.assert(
      fc.property(fc.anything(), code, fc.string(), (thrownValue, c, context) => {
        const wrapped = asRooError(thrownValue, c, context);
        expect(wrapped).toBeInstanceOf(RooError);
        expect(wrapped.code).toBe(c);
        expect(wrapped.message.startsWith(`${context}: `)).toBe(true);
      }),
    );
  });

  // Known bug in protocols/errors.ts (not owned by this change): String() of a
  // thrown value without a usable toString throws a TypeError, so asRooError
  // itself throws instead of wrapping. Flip to `it` when errors.ts is fixed.
  it('wraps a thrown value that has no usable toString', () => {
    for (const thrownValue of [
      Object.create(null),
      {
        toString() {
          throw new Error('no');
        },
      },
    ]) {
      expect(asRooError(thrownValue, ErrorCode.ComputationFailed, 'ctx')).toBeInstanceOf(RooError);
    }
  });
});
