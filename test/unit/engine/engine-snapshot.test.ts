/**
 * A worker's snapshot and its placement (runtime/engine/engine-snapshot.ts):
 * assembling records the thread of each key group and the thread count; a
 * restore places each group back on its recorded thread (only for the same
 * thread count, and only groups this worker owns), whatever the start-up
 * placement was; and what a worker assembles, written and read back,
 * restores exactly the placement it was taken under.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../../../protocols/index.js';
import {
  application,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  type KeyedPipeline,
} from '../../../runtime/api/index.js';
import {
  assembleSnapshot,
  placeRestored,
  threadRestores,
} from '../../../runtime/engine/engine-snapshot.js';
import type { ThreadCheckpoint } from '../../../runtime/engine/thread-checkpoint.js';
import { placeWorkerShare, type Placement } from '../../../runtime/topology/placement.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

/** Two partitions: 'P' of 8 key groups, 'Q' of 4. */
const plan = (() => {
  const app = application('placed');
  const count = stateComputation<string, { n: number }, string>('count', (w, s) => `${w}${++s.n}`);
  const pipe = app.pipeline(generatorSource<string>({ name: 'words', generate: (i) => `w${i}` }));
  const p = (pipe.keyBy((w) => w) as KeyedPipeline<string>).toStateful(
    count,
    statePartition('P', { initial: () => ({ n: 0 }), keyGroups: 8 }),
  );
  (p.keyBy((w) => w) as KeyedPipeline<string>)
    .toStateful(count, statePartition('Q', { initial: () => ({ n: 0 }), keyGroups: 4 }))
    .toSink(nullSink());
  return buildPlan(app.build());
})();

/** Worker `me` of `workers` (owning g mod workers = me), on `threads` threads, placed as at start-up. */
function startUp(me: number, workers: number, threads: number): Placement {
  return placeWorkerShare(plan, {
    me,
    threads: Array.from({ length: workers }, () => threads),
    owners: plan.partitions.map((p) =>
      Array.from({ length: p.grouper.groups }, (_, g) => g % workers),
    ),
    runsSource: () => false,
  });
}

/** The parts each thread of `placement` would hand in at barrier `id` (a byte of state per group). */
function partsOf(placement: Placement, id: number): ThreadCheckpoint[] {
  const parts: ThreadCheckpoint[] = Array.from({ length: placement.threads }, () => ({
    id,
    keyGroups: [],
    sources: [],
    sinks: [],
    errors: [],
  }));
  placement.keyGroupOwner.forEach((row, partition) =>
    row.forEach((thread, keyGroup) => {
      if (thread >= 0)
        parts[thread]!.keyGroups.push({
          partition,
          keyGroup,
          count: 1,
          state: Uint8Array.of(partition, keyGroup),
        });
    }),
  );
  return parts;
}

/** `snapshot` without its placement, as a format 1 file holds it. */
function unplaced(snapshot: Snapshot): Snapshot {
  const { threads: _threads, ...rest } = snapshot;
  return {
    ...rest,
    partitions: snapshot.partitions.map((p) => ({
      name: p.name,
      keyGroups: p.keyGroups.map(({ thread: _thread, ...g }) => g),
    })),
  };
}

describe('engine snapshot placement', () => {
  it("assembleSnapshot records each key group's thread (its part's index) and the thread count", () => {
    // Worker 1 of 2 on 2 threads, after a rebalance moved P's group 1 to thread 1.
    const before = startUp(1, 2, 2);
    expect(before.keyGroupOwner).toEqual([
      [-1, 0, -1, 1, -1, 0, -1, 1],
      [-1, 0, -1, 1],
    ]);
    const moved = {
      ...before,
      keyGroupOwner: [
        [-1, 1, -1, 1, -1, 0, -1, 1],
        [-1, 0, -1, 1],
      ],
    };
    const s = assembleSnapshot(plan, 'hash', 7, 'w2', partsOf(moved, 7));
    expect(s.threads).toBe(2);
    expect(s.partitions.map((p) => p.keyGroups.map((g) => [g.keyGroup, g.thread]))).toEqual([
      [
        [5, 0],
        [1, 1],
        [3, 1],
        [7, 1],
      ],
      [
        [1, 0],
        [3, 1],
      ],
    ]);
  });

  it('placeRestored puts each owned group on its recorded thread, and leaves the rest as placed', () => {
    const placement = startUp(1, 2, 2);
    const moved = {
      ...placement,
      keyGroupOwner: [
        [-1, 1, -1, 0, -1, 1, -1, 1],
        [-1, 1, -1, 1],
      ],
    };
    const snapshot = assembleSnapshot(plan, 'hash', 3, 'w2', partsOf(moved, 3));
    const restored = placeRestored(plan, 2, placement, snapshot);
    expect(restored.keyGroupOwner).toEqual(moved.keyGroupOwner);
    expect({ ...restored, keyGroupOwner: [] }).toEqual({ ...placement, keyGroupOwner: [] });
    // The placement given is untouched.
    expect(placement.keyGroupOwner[0]).toEqual([-1, 0, -1, 1, -1, 0, -1, 1]);
    // Each group's state goes to the thread it is placed on.
    const restores = threadRestores(plan, 2, restored, snapshot);
    expect(restores.map((r) => r.keyGroups.map((g) => `${g.partition}/${g.keyGroup}`))).toEqual([
      ['0/3'],
      ['0/1', '0/5', '0/7', '1/1', '1/3'],
    ]);
    // A group the snapshot has but this worker does not own stays unowned (the restore refuses it).
    const foreign: Snapshot = {
      ...snapshot,
      partitions: [
        {
          name: 'P',
          keyGroups: [{ keyGroup: 2, entities: 0, state: new Uint8Array(), thread: 1 }],
        },
      ],
    };
    expect(placeRestored(plan, 2, placement, foreign).keyGroupOwner).toEqual(
      placement.keyGroupOwner,
    );
  });

  it('placeRestored follows only a placement taken with as many threads, and none from a format 1 file', () => {
    const placement = startUp(0, 1, 2);
    const moved = {
      ...placement,
      keyGroupOwner: [
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0],
      ],
    };
    const snapshot = assembleSnapshot(plan, 'hash', 3, 'w1', partsOf(moved, 3));
    expect(placeRestored(plan, 2, placement, snapshot).keyGroupOwner).toEqual(moved.keyGroupOwner);
    // Restarted with 3 threads: the placement of 2 is not followed.
    const three = startUp(0, 1, 3);
    expect(placeRestored(plan, 3, three, snapshot)).toBe(three);
    // No placement recorded: as placed at start-up.
    expect(placeRestored(plan, 2, placement, unplaced(snapshot))).toBe(placement);
    expect(threadRestores(plan, 2, placement, unplaced(snapshot))[0]!.keyGroups).toHaveLength(6);
  });

  it('what a worker assembles, written and read back, restores the placement it was taken under', () => {
    const workers = fc.integer({ min: 1, max: 3 });
    fc.assert(
      fc.property(
        workers.chain((w) =>
          fc.tuple(
            fc.constant(w),
            fc.nat({ max: w - 1 }),
            fc.integer({ min: 1, max: 4 }),
            fc.array(fc.nat({ max: 3 }), { minLength: 12, maxLength: 12 }),
          ),
        ),
        ([w, me, threads, picks]) => {
          const start = startUp(me, w, threads);
          // Any placement of this worker's groups over its threads (a rebalance's, say).
          let i = 0;
          const taken: Placement = {
            ...start,
            keyGroupOwner: start.keyGroupOwner.map((row) =>
              row.map((t) => (t < 0 ? t : (picks[i++ % picks.length] as number) % threads)),
            ),
          };
          const file = encodeSnapshot(assembleSnapshot(plan, 'h', 9, 'w', partsOf(taken, 9)));
          const restored = placeRestored(plan, threads, start, decodeSnapshot(file));
          expect(restored.keyGroupOwner).toEqual(taken.keyGroupOwner);
        },
      ),
      { numRuns: 200 },
    );
  });
});
