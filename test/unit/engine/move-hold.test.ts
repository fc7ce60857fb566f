/**
 * The hold of messages for moving key groups (runtime/engine/move-hold.ts):
 * only messages sent after the barrier (by their epoch bit) to a moving
 * group wait; they are released in send order; parallel output after the
 * barrier skips leaving workers; pressure is added past the bound and
 * removed on release.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cursor } from '../../../runtime/engine/epochs.js';
import { HOLD_PRESSURE, MoveHold } from '../../../runtime/engine/move-hold.js';

describe('MoveHold', () => {
  it('holds only what is sent after the barrier to a moving group', () => {
    const hold = new MoveHold();
    expect(hold.active).toBe(false);
    hold.begin(1, [{ partition: 0, keyGroup: 3 }], [8, 4], [2]);
    expect(hold.active).toBe(true);
    cursor.bit = 0; // before the barrier
    expect(hold.holds(0, 3)).toBe(false);
    expect(hold.skips(2)).toBe(false);
    cursor.bit = 1; // after it
    expect(hold.holds(0, 3)).toBe(true);
    expect(hold.holds(0, 2)).toBe(false);
    expect(hold.holds(1, 3)).toBe(false);
    expect(hold.skips(2)).toBe(true);
    expect(hold.skips(1)).toBe(false);
    cursor.bit = 0;
  });

  it('releases every held message once, in send order, and ends the hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 7 }))),
        (sends) => {
          const hold = new MoveHold();
          hold.begin(0, [], [8, 8], []);
          sends.forEach(([p, g], i) => hold.hold(p, g, 100 + i, `k${i}`, i));
          expect(hold.size).toBe(sends.length);
          const out: unknown[] = [];
          const n = hold.release((p, g, tag, key, value) => out.push([p, g, tag, key, value]));
          expect(n).toBe(sends.length);
          expect(out).toEqual(sends.map(([p, g], i) => [p, g, 100 + i, `k${i}`, i]));
          expect(hold.active).toBe(false);
          expect(hold.size).toBe(0);
          expect(hold.release(() => expect.fail('released twice'))).toBe(0);
        },
      ),
    );
  });

  it('adds one unit of pressure past its bound, as a holder of the bit after the barrier, and removes it on release', () => {
    for (const after of [0, 1]) {
      const deltas: [number, number][] = [];
      const hold = new MoveHold((d, bit) => deltas.push([d, bit]));
      hold.begin(after, [{ partition: 0, keyGroup: 0 }], [1], []);
      for (let i = 0; i <= HOLD_PRESSURE; i++) hold.hold(0, 0, 1, 'k', i);
      expect(deltas).toEqual([[1, after]]);
      hold.release(() => undefined);
      expect(deltas).toEqual([
        [1, after],
        [-1, after],
      ]);
    }
  });
});
