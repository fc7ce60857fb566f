/**
 * The `shrink` external command's payloads (protocols/external-message.ts):
 * a ShrinkRequest travels as the request's args and comes back equal; every
 * malformed request is refused with ROO_ERR_BAD_MESSAGE saying why; a
 * ShrinkOutcome is read back from a response's result, only its fields.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeExternalMessage,
  encodeExternalMessage,
  ErrorCode,
  EXTERNAL_PROTOCOL_VERSION,
  makeResponse,
  RooError,
  shrinkArgs,
  shrinkOutcomeOf,
  shrinkRequestOf,
  validateShrinkRequest,
  type ExternalArgs,
  type ShrinkOutcome,
  type ShrinkRequest,
} from '../../../protocols/index.js';

/** The request's args after a trip over the wire, as the worker reads them. */
function overTheWire(request: ShrinkRequest): ShrinkRequest {
  const bytes = encodeExternalMessage({
    type: 'request',
    version: EXTERNAL_PROTOCOL_VERSION,
    id: 3,
    command: 'shrink',
    args: shrinkArgs(request),
  });
  const decoded = decodeExternalMessage(bytes);
  if (decoded.type !== 'request') throw new Error('expected a request');
  expect(decoded.command).toBe('shrink');
  return shrinkRequestOf(decoded.args);
}

/** The RooError `fn` throws. */
function thrown(fn: () => unknown): RooError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RooError);
    return err as RooError;
  }
  throw new Error('expected a throw');
}

const byName: ShrinkRequest = { workers: ['w2', 'w3'], count: 0, query: false };
const byCount: ShrinkRequest = { workers: [], count: 2, query: false };
const query: ShrinkRequest = { workers: [], count: 0, query: true };

describe('a shrink request over the external channel', () => {
  it('comes back equal: by names, by count, and a query', () => {
    for (const r of [byName, byCount, query]) expect(overTheWire(r)).toEqual(r);
  });

  it('comes back equal for any valid request', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    const valid = fc.oneof(
      fc
        .uniqueArray(name, { minLength: 1, maxLength: 8 })
        .map((workers) => ({ workers, count: 0, query: false })),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((count) => ({
        workers: [],
        count,
        query: false,
      })),
      fc.constant(query),
    );
    fc.assert(
      fc.property(valid, (r) => {
        expect(overTheWire(r)).toEqual(r);
      }),
    );
  });

  it('carries exactly workers, count and query as args (query a boolean)', () => {
    expect(shrinkArgs(byName)).toEqual({ workers: ['w2', 'w3'], count: 0, query: false });
    expect(shrinkArgs(query)).toEqual({ workers: [], count: 0, query: true });
  });

  it('is a fresh copy: changing the original afterwards changes nothing', () => {
    const workers = ['w2'];
    const copy = validateShrinkRequest({ workers, count: 0, query: false });
    workers.push('w3');
    expect(copy.workers).toEqual(['w2']);
  });

  const refusals: [string, unknown, RegExp][] = [
    ['no args at all', undefined, /takes args \{ workers, count, query \}/],
    ['args that are a list', ['w2'], /takes args/],
    ['workers missing', { count: 2, query: false }, /'args\.workers'.*list of names/],
    ['count missing', { workers: ['w2'], query: false }, /'args\.count'/],
    ['query missing', { workers: ['w2'], count: 0 }, /'args\.query'.*boolean/],
    ['workers as one string', { workers: 'w2,w3', count: 0, query: false }, /'args\.workers'/],
    ['a name that is not a string', { workers: ['w2', 7], count: 0, query: false }, /workers\[1\]/],
    ['an empty name', { workers: ['w2', ''], count: 0, query: false }, /workers\[1\].*non-empty/],
    ['a name given twice', { workers: ['w2', 'w2'], count: 0, query: false }, /twice/],
    ['a lone surrogate in a name', { workers: ['w\uD800'], count: 0, query: false }, /UTF-16/],
    ['a count as a string', { workers: [], count: '2', query: false }, /'args\.count'/],
    ['a negative count', { workers: [], count: -1, query: false }, /'args\.count'.*whole number/],
    ['a fractional count', { workers: [], count: 1.5, query: false }, /'args\.count'/],
    ['an unsafe count', { workers: [], count: 2 ** 53, query: false }, /'args\.count'/],
    ['query as a number', { workers: [], count: 0, query: 1 }, /'args\.query'/],
    ['both workers and a count', { workers: ['w2'], count: 1, query: false }, /both/],
    ['a query with workers', { workers: ['w2'], count: 0, query: true }, /query changes nothing/],
    ['a query with a count', { workers: [], count: 3, query: true }, /query changes nothing/],
    ['nothing asked', { workers: [], count: 0, query: false }, /must give workers/],
    ['an unknown field', { workers: [], count: 0, query: true, force: true }, /unexpected field/],
  ];

  it.each(refusals)('is refused with ROO_ERR_BAD_MESSAGE: %s', (_, args, why) => {
    const err = thrown(() => shrinkRequestOf(args as ExternalArgs));
    expect(err.code).toBe(ErrorCode.BadMessage);
    expect(err.message).toMatch(why);
    expect(err.message).not.toContain('\n');
    // The sending side refuses it too, before anything is sent.
    expect(thrown(() => shrinkArgs(args as ShrinkRequest)).code).toBe(ErrorCode.BadMessage);
  });

  it('is refused as args even when the message itself decodes (the worker answers it)', () => {
    const bytes = encodeExternalMessage({
      type: 'request',
      version: EXTERNAL_PROTOCOL_VERSION,
      id: 4,
      command: 'shrink',
      args: { workers: ['w2'], count: 1, query: false },
    });
    const decoded = decodeExternalMessage(bytes);
    if (decoded.type !== 'request') throw new Error('expected a request');
    expect(thrown(() => shrinkRequestOf(decoded.args)).code).toBe(ErrorCode.BadMessage);
  });
});

describe('a shrink outcome read from a response', () => {
  const outcome: ShrinkOutcome = {
    ok: true,
    message: 'workers w2 and w3 left the cluster',
    leaving: ['w2', 'w3'],
    eligible: ['w2', 'w3', 'w4'],
    members: ['initializer', 'w4'],
  };

  it('comes back equal over the wire', () => {
    const decoded = decodeExternalMessage(encodeExternalMessage(makeResponse(3, { ...outcome })));
    if (decoded.type !== 'response' || !decoded.ok) throw new Error('expected an ok response');
    expect(shrinkOutcomeOf(decoded.result)).toEqual(outcome);
  });

  it('keeps only its fields', () => {
    expect(shrinkOutcomeOf({ ...outcome, epoch: 4 })).toEqual(outcome);
  });

  it('refuses a malformed answer with ROO_ERR_BAD_MESSAGE', () => {
    for (const bad of [
      null,
      'ok',
      [],
      { ...outcome, ok: 'yes' },
      { ...outcome, message: undefined },
      { ...outcome, leaving: 'w2' },
      { ...outcome, eligible: [1] },
      { ...outcome, members: undefined },
    ]) {
      const err = thrown(() => shrinkOutcomeOf(bad));
      expect(err.code, JSON.stringify(bad)).toBe(ErrorCode.BadMessage);
      expect(err.message).toMatch(/^malformed shrink answer: /);
    }
  });
});
