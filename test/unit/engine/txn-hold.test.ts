/**
 * What an exactly-once sink holds (runtime/engine/txn-hold.ts): the rules
 * one by one, then a model of a sink, a lossy connection and a receiver
 * that applies each epoch once: whatever is lost in flight, once the
 * connection is back every committed transaction reaches the receiver
 * exactly once, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { RESEND_WITHOUT_ACKS, TxnHold } from '../../../runtime/engine/txn-hold.js';

const body = (n: number): Uint8Array => new Uint8Array(n);

/** Writes everything {@link TxnHold.next} offers; returns the epochs written. */
function writeAll(hold: TxnHold): number[] {
  const epochs: number[] = [];
  for (let t = hold.next(); t !== undefined; t = hold.next()) {
    epochs.push(t.epoch);
    hold.wrote();
  }
  return epochs;
}

describe('TxnHold', () => {
  it('holds taken output until commit, then offers it in order', () => {
    const hold = new TxnHold();
    hold.take(1, body(1), 1);
    hold.take(2, body(2), 2);
    expect(hold.next()).toBeUndefined();
    hold.commit(1);
    expect(writeAll(hold)).toEqual([1]);
    hold.commit(5);
    expect(writeAll(hold)).toEqual([2]);
    expect(hold.size).toBe(2);
    expect(hold.bytes).toBe(3);
  });

  it('counts outputs the first time a transaction is written, not when written again', () => {
    const hold = new TxnHold();
    hold.take(1, body(1), 7);
    hold.commit(1);
    expect(hold.wrote()).toBe(7);
    hold.connected();
    expect(hold.wrote()).toBe(0);
  });

  it('an ack forgets what it covers; a reconnect offers every other one again', () => {
    const hold = new TxnHold();
    for (let k = 1; k <= 6; k++) hold.take(k, body(1), 1);
    hold.commit(6);
    expect(writeAll(hold)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(hold.ack(2)).toBe(2);
    expect(hold.acks).toBe('acks');
    expect(writeAll(hold)).toEqual([]);
    hold.disconnected();
    hold.connected();
    expect(hold.acks).toBe('unknown');
    expect(writeAll(hold)).toEqual([3, 4, 5, 6]);
    expect(hold.ack(null)).toBe(0);
    expect(hold.size).toBe(4);
  });

  it('without acks keeps only the newest written transactions', () => {
    const hold = new TxnHold();
    for (let k = 1; k <= 8; k++) hold.take(k, body(1), 1);
    hold.commit(8);
    expect(writeAll(hold)).toHaveLength(8);
    hold.noAcks();
    expect(hold.size).toBe(RESEND_WITHOUT_ACKS);
    hold.connected();
    expect(hold.acks).toBe('unknown');
    expect(writeAll(hold)).toEqual([6, 7, 8]);
    // A receiver that acknowledges after all (a newer one on the same port) is believed.
    hold.ack(6);
    expect(hold.acks).toBe('acks');
    hold.noAcks();
    expect(hold.acks).toBe('acks');
    expect(hold.size).toBe(2);
  });

  it('is full at the bound of held bytes; pending output does not count', () => {
    const hold = new TxnHold(10);
    hold.take(1, body(6), 1);
    hold.take(2, body(6), 1);
    expect(hold.full).toBe(false);
    hold.commit(1);
    expect(hold.full).toBe(false);
    hold.commit(2);
    expect(hold.full).toBe(true);
    hold.ack(1);
    expect(hold.full).toBe(false);
  });

  it('snapshot() holds the held and the pending, oldest first', () => {
    const hold = new TxnHold();
    hold.take(1, body(1), 1);
    hold.take(2, body(1), 1);
    hold.commit(1);
    hold.take(3, body(1), 1);
    expect(hold.snapshot().map(([k]) => k)).toEqual([1, 2, 3]);
    hold.ack(1);
    expect(hold.snapshot().map(([k]) => k)).toEqual([2, 3]);
  });

  it('restore() holds a checkpoint’s transactions as committed, skipping any it holds', () => {
    const hold = new TxnHold();
    hold.restore([
      [4, body(1)],
      [5, body(1)],
    ]);
    hold.restore([[5, body(1)]]);
    expect(writeAll(hold)).toEqual([4, 5]);
  });

  it('refuses a checkpoint taken out of order, and a bound that is not a positive integer', () => {
    const hold = new TxnHold();
    hold.take(3, body(1), 1);
    expect(() => hold.take(3, body(1), 1)).toThrow(RooError);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      let err: unknown;
      try {
        new TxnHold(bad);
      } catch (e) {
        err = e;
      }
      expect((err as RooError).code).toBe(ErrorCode.BadApplication);
    }
  });
});

/** One step of the model: the sink's side, the wire, or the receiver's. */
type Step =
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'commit' }
  | { readonly kind: 'write' }
  | { readonly kind: 'deliver'; readonly n: number }
  | { readonly kind: 'ack' }
  | { readonly kind: 'drop' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ kind: 'checkpoint' } as const),
  fc.constant({ kind: 'commit' } as const),
  fc.constant({ kind: 'write' } as const),
  fc.nat({ max: 4 }).map((n) => ({ kind: 'deliver', n }) as const),
  fc.constant({ kind: 'ack' } as const),
  fc.constant({ kind: 'drop' } as const),
);

describe('TxnHold with a receiver that acknowledges, over a connection that loses what is in flight', () => {
  it('every committed transaction is applied exactly once, in order', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const hold = new TxnHold();
        let taken = 0;
        let committed = 0;
        let inFlight: number[] = [];
        let applied = -1;
        const log: number[] = [];
        const deliver = (n: number): void => {
          for (const epoch of inFlight.splice(0, n)) {
            if (epoch <= applied) continue;
            applied = epoch;
            log.push(epoch);
          }
        };
        const write = (): void => {
          for (let t = hold.next(); t !== undefined; t = hold.next()) {
            inFlight.push(t.epoch);
            hold.wrote();
          }
        };
        for (const s of steps) {
          switch (s.kind) {
            case 'checkpoint':
              hold.take(++taken, body(1), 1);
              break;
            case 'commit':
              committed = taken;
              hold.commit(committed);
              break;
            case 'write':
              write();
              break;
            case 'deliver':
              deliver(s.n);
              break;
            case 'ack':
              hold.ack(applied < 0 ? null : applied);
              break;
            case 'drop':
              inFlight = [];
              hold.disconnected();
              hold.connected();
              break;
          }
        }
        // The connection comes back for good: the receiver's first ack, then everything flows.
        inFlight = [];
        hold.disconnected();
        hold.connected();
        hold.ack(applied < 0 ? null : applied);
        write();
        deliver(Infinity);
        expect(log).toEqual(Array.from({ length: committed }, (_, i) => i + 1));
      }),
      { numRuns: 500 },
    );
  });
});
