import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  DUPLICATE_LOG_INTERVAL_MS,
  DuplicateLogLimiter,
  TxnLedger,
} from '../../../runtime/cli/txn-ledger.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof RooError ? e.code : 'not a RooError';
  }
  return undefined;
}

describe('TxnLedger', () => {
  it('applies each epoch of a sink once, in increasing order, whatever is resent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.nat({ max: 20 })), { maxLength: 60 }),
        (arrivals) => {
          const ledger = new TxnLedger();
          const applied = new Map<string, number[]>();
          for (const [sink, epoch] of arrivals) {
            ledger.register(sink);
            if (ledger.check(sink, epoch) === 'apply') {
              ledger.record(sink, epoch);
              applied.set(sink, [...(applied.get(sink) ?? []), epoch]);
            }
          }
          for (const [sink, epochs] of applied) {
            // Strictly increasing: no epoch twice, none older than one applied.
            expect(epochs).toEqual([...new Set(epochs)].sort((x, y) => x - y));
            expect(ledger.lastApplied(sink)).toBe(epochs.at(-1));
            // Everything up to the last applied is now a duplicate.
            for (let e = 0; e <= epochs.at(-1)!; e++)
              expect(ledger.check(sink, e)).toBe('duplicate');
          }
        },
      ),
    );
  });

  it('keeps sinks apart, and knows no epoch of a sink before its first transaction', () => {
    const ledger = new TxnLedger();
    ledger.register('w1/totals');
    ledger.register('w2/totals');
    expect(ledger.lastApplied('w1/totals')).toBeUndefined();
    expect(ledger.check('w1/totals', 0)).toBe('apply');
    ledger.record('w1/totals', 5);
    expect(ledger.check('w1/totals', 5)).toBe('duplicate');
    expect(ledger.check('w2/totals', 5)).toBe('apply');
    // A second hello of a known sink (a reconnect) keeps what it applied.
    ledger.register('w1/totals');
    expect(ledger.lastApplied('w1/totals')).toBe(5);
    expect(ledger.size).toBe(2);
  });

  it('refuses to record a duplicate or an unknown sink', () => {
    const ledger = new TxnLedger();
    expect(codeOf(() => ledger.record('nobody', 1))).toBe(ErrorCode.Internal);
    ledger.register('s');
    ledger.record('s', 3);
    expect(codeOf(() => ledger.record('s', 3))).toBe(ErrorCode.Internal);
    expect(codeOf(() => ledger.record('s', 2))).toBe(ErrorCode.Internal);
  });

  it('refuses a new sink id at its bound and keeps serving the known ones', () => {
    const ledger = new TxnLedger(2);
    ledger.register('a');
    ledger.register('b');
    expect(codeOf(() => ledger.register('c'))).toBe(ErrorCode.QueueFull);
    ledger.register('a');
    ledger.record('b', 1);
    expect(ledger.size).toBe(2);
    expect(codeOf(() => new TxnLedger(0))).toBe(ErrorCode.BadFlag);
  });
});

describe('DuplicateLogLimiter', () => {
  it('logs the first duplicate, then one line per interval counting the quiet ones', () => {
    const limiter = new DuplicateLogLimiter(1000);
    expect(limiter.note(0)).toBe(1);
    expect(limiter.note(10)).toBe(0);
    expect(limiter.note(999)).toBe(0);
    expect(limiter.note(1000)).toBe(3);
    expect(limiter.note(1500)).toBe(0);
    expect(limiter.note(10_000)).toBe(2);
    expect(new DuplicateLogLimiter().note(123)).toBe(1);
    expect(DUPLICATE_LOG_INTERVAL_MS).toBeGreaterThan(0);
  });

  it('never loses a duplicate from its counts', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 500 }), { maxLength: 100 }), (gaps) => {
        const limiter = new DuplicateLogLimiter(100);
        let now = 0;
        let reported = 0;
        let lines = 0;
        for (const gap of gaps) {
          now += gap;
          const n = limiter.note(now);
          reported += n;
          if (n > 0) lines++;
        }
        // Only the ones after the last line may still be unreported.
        expect(reported).toBeLessThanOrEqual(gaps.length);
        expect(lines).toBeLessThanOrEqual(Math.max(1, Math.ceil(now / 100) + 1));
        if (gaps.length > 0) expect(reported).toBeGreaterThan(0);
      }),
    );
  });
});
