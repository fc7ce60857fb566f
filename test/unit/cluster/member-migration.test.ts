/**
 * A member's part in a reconfiguration (runtime/cluster/member-migration.ts):
 * which groups move, which leave this worker, whether it leaves, its thread
 * moves, and the state each leaving group ships.
 */
import { describe, expect, it } from 'vitest';
import type { MigrateControlMessage, Snapshot, WireMember } from '../../../protocols/index.js';
import { groupsToShip, planMemberMigration } from '../../../runtime/cluster/member-migration.js';

const member = (name: string, port: number): WireMember => ({
  name,
  threads: 2,
  control: { host: '127.0.0.1', port },
  data: { host: '127.0.0.1', port: port + 1 },
});
const a = member('a', 7000);
const b = member('b', 7002);
const c = member('c', 7004);

/** A `migrate` to `members` with partition 'p' owned as `owners`, and thread `moves`. */
const migrate = (
  members: WireMember[],
  owners: number[],
  moves: MigrateControlMessage['moves'] = [],
): MigrateControlMessage => ({
  type: 'migrate',
  version: 1,
  id: 4,
  members,
  routing: { version: 2, partitions: [{ name: 'p', owners }] },
  moves,
});

describe('planMemberMigration', () => {
  it('a grow: the groups the joiner takes move; those this worker owned leave it', () => {
    // Before: a owns 0, 1; b owns 2, 3. After: c takes 1 (from a) and 3 (from b).
    const m = migrate([a, b, c], [0, 2, 1, 2]);
    const plan = planMemberMigration(m, {
      name: 'a',
      me: 0,
      before: [a, b],
      owners: [[0, 0, 1, 1]],
    });
    expect(plan.moving).toEqual([
      { partition: 0, keyGroup: 1 },
      { partition: 0, keyGroup: 3 },
    ]);
    expect(plan.leaving).toEqual([{ partition: 0, keyGroup: 1 }]);
    expect(plan.quitting).toBe(false);
    expect(plan.gone).toEqual([]);
    expect([...plan.threadMoves]).toEqual([]);
    // The other old member sees the same moving groups, and ships its own.
    const forB = planMemberMigration(m, {
      name: 'b',
      me: 1,
      before: [a, b],
      owners: [[0, 0, 1, 1]],
    });
    expect(forB.moving).toEqual(plan.moving);
    expect(forB.leaving).toEqual([{ partition: 0, keyGroup: 3 }]);
  });

  it('a shrink: the leaving worker ships all it owns, quits, and is gone for the others', () => {
    // Before: a, b, c; c leaves, its groups 2 and 5 go to a and b.
    const m = migrate([a, b], [0, 1, 0, 0, 1, 1]);
    const before = [a, b, c];
    const owners = [[0, 1, 2, 0, 1, 2]];
    const forC = planMemberMigration(m, { name: 'c', me: 2, before, owners });
    expect(forC.quitting).toBe(true);
    expect(forC.leaving).toEqual([
      { partition: 0, keyGroup: 2 },
      { partition: 0, keyGroup: 5 },
    ]);
    expect(forC.gone).toEqual([2]);
    const forA = planMemberMigration(m, { name: 'a', me: 0, before, owners });
    expect(forA.quitting).toBe(false);
    expect(forA.leaving).toEqual([]);
    expect(forA.moving).toEqual(forC.moving);
    expect(forA.gone).toEqual([2]);
  });

  it('a thread rebalance: the owner stays, the moved groups move and leave their worker', () => {
    const m = migrate(
      [a, b],
      [0, 0, 1, 1],
      [
        { worker: 'a', partition: 'p', keyGroup: 1, thread: 1 },
        { worker: 'b', partition: 'p', keyGroup: 2, thread: 0 },
      ],
    );
    const plan = planMemberMigration(m, {
      name: 'a',
      me: 0,
      before: [a, b],
      owners: [[0, 0, 1, 1]],
    });
    expect(plan.moving).toEqual([
      { partition: 0, keyGroup: 1 },
      { partition: 0, keyGroup: 2 },
    ]);
    expect(plan.leaving).toEqual([{ partition: 0, keyGroup: 1 }]);
    // Only its own thread moves, by partition name.
    expect([...plan.threadMoves]).toEqual([['p/1', 1]]);
  });
});

describe('groupsToShip', () => {
  it("takes each group's state from the snapshot, empty when it holds none, named by partition", () => {
    const snapshot: Snapshot = {
      application: 'A',
      applicationHash: 'h',
      worker: 'a',
      checkpointId: 4,
      createdAt: '2026-01-01T00:00:00.000Z',
      sources: {},
      sinks: {},
      partitions: [
        { name: 'p', keyGroups: [{ keyGroup: 1, entities: 3, state: Uint8Array.of(9, 9) }] },
      ],
    };
    expect(
      groupsToShip(
        snapshot,
        [
          { partition: 0, keyGroup: 1 },
          { partition: 0, keyGroup: 2 },
        ],
        [{ name: 'p' }],
      ),
    ).toEqual([
      { partition: 'p', keyGroup: 1, entities: 3, state: Uint8Array.of(9, 9) },
      { partition: 'p', keyGroup: 2, entities: 0, state: new Uint8Array(0) },
    ]);
  });
});
