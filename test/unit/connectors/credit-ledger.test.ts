/**
 * Credit accounting of a data channel (runtime/connectors/credit-ledger.ts),
 * as properties over any sequence of sends, deliveries, hand-backs and
 * reconnects between a sender and a receiver: outstanding credit is never
 * negative and never exceeds the window (or one frame larger than it, alone),
 * every byte is either on the wire, held by the receiver or on its way back,
 * nothing is lost on a reconnect, and everything comes back once the wires
 * drain. Then the refusals: a sender that ignores the window, a receiver that
 * hands back what was never sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MAX_DATA_LANES, RooError } from '../../../protocols/index.js';
import { ReceiveCredit, SendCredit } from '../../../runtime/connectors/credit-ledger.js';

type Op =
  | { readonly kind: 'send'; readonly lane: number; readonly size: number }
  | { readonly kind: 'deliver' }
  | { readonly kind: 'release'; readonly lane: number }
  | { readonly kind: 'credit' }
  | { readonly kind: 'reconnect' }
  | { readonly kind: 'open' };

const LANES = 4;
const laneArb = fc.nat({ max: LANES - 1 });
const opArb = (window: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({
          lane: laneArb,
          // Mostly below the window, sometimes larger than all of it.
          size: fc.oneof(
            fc.integer({ min: 1, max: window }),
            fc.integer({ min: 1, max: 3 * window }),
          ),
        })
        .map((o) => ({ kind: 'send' as const, ...o })),
    },
    { weight: 3, arbitrary: fc.constant({ kind: 'deliver' as const }) },
    { weight: 2, arbitrary: laneArb.map((lane) => ({ kind: 'release' as const, lane })) },
    { weight: 3, arbitrary: fc.constant({ kind: 'credit' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'open' as const }) },
  );

/** A sender and a receiver joined by two wires, played op by op, checking every invariant. */
class Pair {
  readonly sender = new SendCredit();
  receiver: ReceiveCredit;
  /** Frames on the wire to the receiver, and credits on the wire back. */
  wire: { lane: number; size: number }[] = [];
  back: { lane: number; bytes: number }[] = [];
  /** The largest frame sent per lane on this connection (the bound's other term). */
  largest = new Map<number, number>();
  /** The receiver has told its window on the current connection. */
  told = false;

  constructor(readonly window: number) {
    this.receiver = new ReceiveCredit(window);
  }

  play(op: Op): void {
    switch (op.kind) {
      case 'send':
        if (this.sender.mayCharge(op.lane, op.size)) {
          this.sender.charge(op.lane, op.size);
          this.wire.push({ lane: op.lane, size: op.size });
          this.largest.set(op.lane, Math.max(this.largest.get(op.lane) ?? 0, op.size));
        }
        break;
      case 'deliver': {
        const f = this.wire.shift();
        if (f !== undefined) this.receiver.received(f.lane, f.size);
        break;
      }
      case 'release': {
        const n = this.receiver.release(op.lane);
        if (n > 0) this.back.push({ lane: op.lane, bytes: n });
        break;
      }
      case 'credit': {
        const c = this.back.shift();
        if (c !== undefined) this.sender.credit(c.lane, c.bytes);
        break;
      }
      case 'reconnect':
        // What was on either wire is gone with the connection.
        this.wire = [];
        this.back = [];
        this.largest = new Map();
        this.receiver = new ReceiveCredit(this.window);
        this.sender.reset();
        this.told = false;
        break;
      case 'open':
        if (!this.told) {
          this.sender.open(this.window);
          this.told = true;
          // No credit lost with the old connection: every lane has the whole window.
          for (let lane = 0; lane < LANES; lane++) {
            expect(this.sender.mayCharge(lane, this.window)).toBe(true);
          }
        }
        break;
    }
    this.check();
  }

  check(): void {
    for (let lane = 0; lane < LANES; lane++) {
      const out = this.sender.outstandingOf(lane);
      const bound = Math.max(this.window, this.largest.get(lane) ?? 0);
      expect(out).toBeGreaterThanOrEqual(0);
      expect(out).toBeLessThanOrEqual(bound);
      expect(this.receiver.heldOf(lane)).toBeLessThanOrEqual(bound);
      // Every outstanding byte is on the wire, held by the receiver, or on its way back.
      const onWire = this.wire.filter((f) => f.lane === lane).reduce((a, f) => a + f.size, 0);
      const onBack = this.back.filter((c) => c.lane === lane).reduce((a, c) => a + c.bytes, 0);
      expect(out).toBe(onWire + this.receiver.heldOf(lane) + onBack);
    }
    if (!this.sender.isOpen)
      for (let lane = 0; lane < LANES; lane++) {
        expect(this.sender.mayCharge(lane, 1)).toBe(false);
      }
  }

  /** Delivers everything, hands everything back, applies every credit. */
  drain(): void {
    while (this.wire.length > 0) this.play({ kind: 'deliver' });
    for (let lane = 0; lane < LANES; lane++) this.play({ kind: 'release', lane });
    while (this.back.length > 0) this.play({ kind: 'credit' });
  }
}

describe('credit accounting of a data channel', () => {
  it('is never negative, never past its bound, and every byte is accounted for', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 4096 })
          .chain((w) => fc.tuple(fc.constant(w), fc.array(opArb(w), { maxLength: 200 }))),
        ([window, ops]) => {
          const pair = new Pair(window);
          for (const op of ops) pair.play(op);
          // Everything comes back once the wires drain: the lanes are free again.
          pair.drain();
          for (let lane = 0; lane < LANES; lane++) {
            expect(pair.sender.outstandingOf(lane)).toBe(0);
            expect(pair.sender.mayCharge(lane, window)).toBe(pair.sender.isOpen);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('sends nothing before the window, and everything once it is told, whatever came before', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), laneArb, fc.nat(), (window, lane, size) => {
        const s = new SendCredit();
        expect(s.mayCharge(lane, 1)).toBe(false);
        s.open(window);
        s.charge(lane, size + 1);
        s.reset();
        expect(s.mayCharge(lane, 1)).toBe(false);
        s.open(window);
        expect(s.outstandingOf(lane)).toBe(0);
        expect(s.mayCharge(lane, window)).toBe(true);
      }),
    );
  });

  it('lets a frame larger than the window go alone, and nothing after it until it is back', () => {
    const s = new SendCredit();
    s.open(100);
    expect(s.mayCharge(0, 250)).toBe(true);
    s.charge(0, 250);
    expect(s.mayCharge(0, 1)).toBe(false);
    expect(s.mayCharge(1, 100)).toBe(true); // other lanes go on
    const r = new ReceiveCredit(100);
    r.received(0, 250);
    expect(r.release(0)).toBe(250);
    s.credit(0, 250);
    expect(s.mayCharge(0, 100)).toBe(true);
  });

  it('refuses a frame a sender could not have sent: past the window, or on a lane out of range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1 << 20 }), laneArb, (window, lane) => {
        const r = new ReceiveCredit(window);
        r.received(lane, window - 1);
        const e = (() => {
          try {
            r.received(lane, 2);
          } catch (err) {
            return err;
          }
          return undefined;
        })();
        expect(e).toBeInstanceOf(RooError);
        expect((e as RooError).code).toBe(ErrorCode.BadMessage);
        // Counted nothing: what was held is still what it was.
        expect(r.heldOf(lane)).toBe(window - 1);
      }),
    );
    const r = new ReceiveCredit(10);
    for (const lane of [-1, MAX_DATA_LANES, 1.5]) {
      expect(() => r.received(lane, 1)).toThrow(RooError);
    }
  });

  it('refuses a credit for more than is outstanding, or before the window', () => {
    const s = new SendCredit();
    expect(() => s.credit(0, 1)).toThrow(/before its window/);
    s.open(1000);
    s.charge(3, 400);
    expect(() => s.credit(3, 401)).toThrow(RooError);
    expect(() => s.credit(2, 1)).toThrow(RooError);
    expect(s.outstandingOf(3)).toBe(400);
    s.credit(3, 150);
    expect(s.outstandingOf(3)).toBe(250);
  });

  it('refuses a window that is no positive count', () => {
    for (const w of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SendCredit().open(w)).toThrow(RooError);
      expect(() => new ReceiveCredit(w)).toThrow(RooError);
    }
  });
});
