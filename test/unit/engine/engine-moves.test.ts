/**
 * Where moved key groups go between an engine's threads
 * (runtime/engine/engine-moves.ts): groups moving away are found on their
 * threads and leave the placement; groups moving in go to the thread asked
 * for, or else to the thread of the partition hosting the fewest.
 */
import { describe, expect, it } from 'vitest';
import { placeMovedIn, placeMovedOut, threadsOf } from '../../../runtime/engine/engine-moves.js';
import type { Placement } from '../../../runtime/topology/placement.js';

/** Two threads; partition 0's four key groups on threads 0, 1, 0, -1 (group 3 not here). */
const placement: Placement = {
  version: 1,
  threads: 2,
  keyGroupOwner: [[0, 1, 0, -1]],
  sourceThreads: new Map(),
  sinkThread: [],
};
const state = (n: number) => new Uint8Array(n);

describe('engine moves', () => {
  it('threadsOf: each group under its hosting thread; groups not here are left out', () => {
    const groups = [0, 1, 2, 3].map((keyGroup) => ({ partition: 0, keyGroup }));
    expect(threadsOf(placement, 2, groups)).toEqual([
      [
        { partition: 0, keyGroup: 0 },
        { partition: 0, keyGroup: 2 },
      ],
      [{ partition: 0, keyGroup: 1 }],
    ]);
  });

  it('placeMovedOut: the groups are owned by no thread; the placement given is untouched', () => {
    const out = placeMovedOut(placement, [{ partition: 0, keyGroup: 1 }]);
    expect(out.keyGroupOwner).toEqual([[0, -1, 0, -1]]);
    expect(placement.keyGroupOwner).toEqual([[0, 1, 0, -1]]);
  });

  it('placeMovedIn: to the thread asked for, else to the least loaded thread', () => {
    const g = { partition: 0, keyGroup: 3, count: 2, state: state(3) };
    const asked = placeMovedIn(placement, 2, [g], () => 0);
    expect(asked.placement.keyGroupOwner).toEqual([[0, 1, 0, 0]]);
    expect(asked.perThread).toEqual([[g], []]);
    // Thread 0 hosts two groups, thread 1 one: an unasked (or out of range) group goes to 1.
    for (const threadOf of [() => undefined, () => 5]) {
      const r = placeMovedIn(placement, 2, [g], threadOf);
      expect(r.placement.keyGroupOwner).toEqual([[0, 1, 0, 1]]);
      expect(r.perThread).toEqual([[], [g]]);
    }
  });
});
