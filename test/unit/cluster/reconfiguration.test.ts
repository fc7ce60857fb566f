/**
 * The pure reconfiguration coordinator (runtime/cluster/reconfiguration.ts):
 * minimal-move rebalancing of key groups, which workers a shrink request
 * removes, and the grow/shrink state machine driven by observed reports.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { WireGroupState, WorkerDirectory } from '../../../protocols/index.js';
import type { Member } from '../../../runtime/cluster/coordinator.js';
import {
  idleReconfiguration,
  memberNames,
  reconfigure,
  type Layout,
  type ReconfigurationDecision,
  type ReconfigurationEvent,
  type ReconfigurationState,
} from '../../../runtime/cluster/reconfiguration.js';
import {
  ALONE_MESSAGE,
  eligibleToLeave,
  planShrink,
} from '../../../runtime/cluster/shrink-plan.js';
import { rebalanceOwners } from '../../../runtime/routing/index.js';

// ---------------------------------------------------------------------------
// Shared helpers

const member = (name: string, port = 7000): Member => ({
  name,
  threads: 2,
  control: { host: '127.0.0.1', port },
  data: { host: '127.0.0.1', port: port + 1 },
});

/** A directory told apart by `tag` (its sink writer's actor id); `sources` instances of source 0. */
const directory = (tag: number, sources = 0): WorkerDirectory => ({
  keyGroups: [],
  parallel: {},
  sinkWriters: { '0': tag },
  sources: sources > 0 ? { '0': sources } : {},
});

/** Applies `events` in order; the final state and every decision. */
function run(state: ReconfigurationState, events: readonly ReconfigurationEvent[]) {
  const decisions: ReconfigurationDecision[] = [];
  for (const e of events) {
    const r = reconfigure(state, e);
    state = r.state;
    decisions.push(...r.decisions);
  }
  return { state, decisions };
}

/** Every name in `names` reports it is prepared for reconfiguration `id`, at `nowMs`. */
function prepared(
  state: ReconfigurationState,
  names: readonly string[],
  id: number,
  nowMs = 0,
): { state: ReconfigurationState; decisions: ReconfigurationDecision[] } {
  return run(
    state,
    names.map((name): ReconfigurationEvent => ({ kind: 'prepared', name, id, nowMs })),
  );
}

/** Per partition and per after-member, how many groups each owns. */
function countsOf(row: readonly number[], w: number): number[] {
  const counts = new Array<number>(w).fill(0);
  for (const o of row) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

/** Groups whose owner (by name) differs between `before` and `after`, per partition. */
function movedGroups(
  owners: readonly (readonly number[])[],
  beforeNames: readonly string[],
  next: readonly (readonly number[])[],
  afterNames: readonly string[],
): { pi: number; g: number }[] {
  const moved: { pi: number; g: number }[] = [];
  owners.forEach((row, pi) =>
    row.forEach((o, g) => {
      if (beforeNames[o] !== afterNames[next[pi]![g]!]) moved.push({ pi, g });
    }),
  );
  return moved;
}

/** The fewest groups that must move, computed independently from the counts. */
function minimumMoves(row: readonly number[], before: readonly string[], after: readonly string[]) {
  const n = row.length;
  const w = after.length;
  const stays = new Set(after);
  let leaverGroups = 0;
  const counts = new Map<string, number>(after.map((a) => [a, 0]));
  for (const o of row) {
    const name = before[o]!;
    if (stays.has(name)) counts.set(name, counts.get(name)! + 1);
    else leaverGroups++;
  }
  const floor = Math.floor(n / w);
  const ceil = Math.ceil(n / w);
  const sorted = [...counts.values()].sort((a, b) => b - a);
  const surplus = sorted.reduce(
    (a, c, i) => a + Math.max(0, c - (i < n % w ? floor + 1 : floor)),
    0,
  );
  const lowerBound = [...counts.values()].reduce((a, c) => a + Math.max(0, c - ceil), 0);
  return { exact: leaverGroups + surplus, lowerBound: leaverGroups + lowerBound };
}

/** A small deterministic PRNG, to shuffle report orders from one fast-check seed. */
function shuffler(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return <T>(xs: readonly T[]): T[] => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
}

// ---------------------------------------------------------------------------
// rebalanceOwners

/** A random owner table, joins and leaves. */
const scenario = fc
  .integer({ min: 1, max: 8 })
  .chain((nBefore) => {
    const index = fc.nat({ max: nBefore - 1 });
    // Rows either uniform over every member or concentrated on a few (so some are over quota).
    const row = fc.integer({ min: 1, max: 512 }).chain((n) =>
      fc.oneof(
        fc.array(index, { minLength: n, maxLength: n }),
        fc
          .uniqueArray(index, { minLength: 1, maxLength: nBefore })
          .chain((few) => fc.array(fc.constantFrom(...few), { minLength: n, maxLength: n })),
      ),
    );
    return fc.record({
      before: fc.constant(Array.from({ length: nBefore }, (_, i) => `w${i}`)),
      owners: fc.array(row, { minLength: 1, maxLength: 3 }),
      leaving: fc.uniqueArray(index, { maxLength: nBefore }),
      joins: fc.integer({ min: 0, max: 4 }),
      seed: fc.integer(),
    });
  })
  .map(({ before, owners, leaving, joins, seed }) => {
    const staying = before.filter((_, i) => !leaving.includes(i));
    const joiners = Array.from({ length: joins }, (_, i) => `j${i}`);
    if (staying.length + joiners.length === 0) joiners.push('j0');
    // Any order: the function must not rely on joiners coming last.
    const after =
      seed % 2 === 0 ? [...staying, ...joiners] : shuffler(seed)([...staying, ...joiners]);
    return { owners, before, after };
  });

describe('rebalanceOwners', () => {
  it('gives every group an owner in `after`, each member floor(n/W) or ceil(n/W) of a partition', () => {
    fc.assert(
      fc.property(scenario, ({ owners, before, after }) => {
        const next = rebalanceOwners(owners, before, after);
        expect(next.map((r) => r.length)).toEqual(owners.map((r) => r.length));
        next.forEach((row) => {
          const n = row.length;
          const w = after.length;
          for (const o of row) {
            if (!Number.isInteger(o) || o < 0 || o >= w) expect.fail(`owner ${o} of ${w} workers`);
          }
          const counts = countsOf(row, w);
          for (const c of counts) expect([Math.floor(n / w), Math.ceil(n / w)]).toContain(c);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a staying owner its groups up to its quota; an owner that loses gains nothing', () => {
    fc.assert(
      fc.property(scenario, ({ owners, before, after }) => {
        const next = rebalanceOwners(owners, before, after);
        owners.forEach((row, pi) => {
          const n = row.length;
          const w = after.length;
          const final = countsOf(next[pi]!, w);
          const had = after.map((a) => row.filter((o) => before[o] === a).length);
          const kept = after.map(
            (a, i) => row.filter((o, g) => before[o] === a && next[pi]![g] === i).length,
          );
          after.forEach((_, i) => {
            // Keeps all it had up to its final count (its quota); loses only its surplus.
            expect(kept[i]).toBe(Math.min(had[i]!, final[i]!));
          });
          // The ceil quotas went to the members owning most.
          if (n % w !== 0) {
            const ceil = Math.ceil(n / w);
            const big = had.filter((_, i) => final[i] === ceil);
            const small = had.filter((_, i) => final[i] !== ceil);
            expect(big).toHaveLength(n % w);
            if (small.length > 0)
              expect(Math.min(...big)).toBeGreaterThanOrEqual(Math.max(...small));
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it("moves the fewest groups possible (leavers' groups plus staying surplus over quota)", () => {
    fc.assert(
      fc.property(scenario, ({ owners, before, after }) => {
        const next = rebalanceOwners(owners, before, after);
        owners.forEach((row, pi) => {
          const moved = movedGroups([row], before, [next[pi]!], after).length;
          const { exact, lowerBound } = minimumMoves(row, before, after);
          expect(moved).toBe(exact);
          expect(moved).toBeGreaterThanOrEqual(lowerBound);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('moves no fewer than an exhaustive search over every balanced assignment (small cases)', () => {
    const small = fc
      .integer({ min: 1, max: 3 })
      .chain((nBefore) =>
        fc.record({
          nBefore: fc.constant(nBefore),
          row: fc.array(fc.nat({ max: nBefore - 1 }), { minLength: 1, maxLength: 6 }),
          leaving: fc.uniqueArray(fc.nat({ max: nBefore - 1 }), { maxLength: nBefore }),
          joins: fc.integer({ min: 0, max: 2 }),
        }),
      )
      .filter(({ nBefore, leaving, joins }) => nBefore - leaving.length + joins >= 1);
    fc.assert(
      fc.property(small, ({ nBefore, row, leaving, joins }) => {
        const before = Array.from({ length: nBefore }, (_, i) => `w${i}`);
        const after = [
          ...before.filter((_, i) => !leaving.includes(i)),
          ...Array.from({ length: joins }, (_, i) => `j${i}`),
        ];
        const n = row.length;
        const w = after.length;
        let best = Infinity;
        const assignment = new Array<number>(n).fill(0);
        for (let k = 0; k < w ** n; k++) {
          let x = k;
          for (let g = 0; g < n; g++) {
            assignment[g] = x % w;
            x = Math.floor(x / w);
          }
          const counts = countsOf(assignment, w);
          if (counts.some((c) => c < Math.floor(n / w) || c > Math.ceil(n / w))) continue;
          const moved = row.filter((o, g) => before[o] !== after[assignment[g]!]).length;
          best = Math.min(best, moved);
        }
        const next = rebalanceOwners([row], before, after);
        expect(movedGroups([row], before, next, after)).toHaveLength(best);
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic and leaves its input alone', () => {
    fc.assert(
      fc.property(scenario, ({ owners, before, after }) => {
        const copy = structuredClone(owners);
        const a = rebalanceOwners(owners, before, after);
        const b = rebalanceOwners(copy, [...before], [...after]);
        expect(b).toEqual(a);
        expect(owners).toEqual(copy);
      }),
      { numRuns: 100 },
    );
  });

  it('grows 256 groups from 2 to 3 workers by moving 85, and shrinks back by moving 85', () => {
    for (const owners of [
      Array.from({ length: 256 }, (_, g) => g % 2),
      Array.from({ length: 256 }, (_, g) => (g < 128 ? 0 : 1)),
    ]) {
      const two = ['initializer', 'w2'];
      const three = ['initializer', 'w2', 'w3'];
      const grown = rebalanceOwners([owners], two, three);
      expect(movedGroups([owners], two, grown, three)).toHaveLength(85);
      // Tied at 128, the first member takes the one larger quota.
      expect(countsOf(grown[0]!, 3)).toEqual([86, 85, 85]);
      const shrunk = rebalanceOwners(grown, three, two);
      expect(movedGroups(grown, three, shrunk, two)).toHaveLength(85);
      expect(countsOf(shrunk[0]!, 2)).toEqual([128, 128]);
    }
  });

  it('moves nothing when membership does not change, and refuses an empty cluster', () => {
    const owners = [[0, 0, 0, 1], [1]];
    expect(rebalanceOwners(owners, ['a', 'b'], ['a', 'b'])).toEqual([[0, 0, 1, 1], [1]]);
    expect(rebalanceOwners([[0, 1, 0, 1]], ['a', 'b'], ['b', 'a'])).toEqual([[1, 0, 1, 0]]);
    expect(() => rebalanceOwners(owners, ['a', 'b'], [])).toThrow(/at least one worker/);
  });
});

// ---------------------------------------------------------------------------
// eligibleToLeave / planShrink

describe('eligibleToLeave', () => {
  it('is every member but the initializer and those running a source, in member order', () => {
    const names = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), {
      minLength: 1,
      maxLength: 8,
    });
    const dirOrNone = fc.option(
      fc.record({
        keyGroups: fc.constant([]),
        parallel: fc.constant({}),
        sinkWriters: fc.constant({}),
        sources: fc.dictionary(fc.constantFrom('0', '1', '2'), fc.nat({ max: 3 })),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(names, fc.array(dirOrNone, { maxLength: 8 }), fc.nat(), (ns, dirs, pick) => {
        const layout: Layout = { version: 1, members: ns.map((n) => member(n)), owners: [] };
        const initializer = ns[pick % ns.length]!;
        const eligible = eligibleToLeave(layout, dirs, initializer);
        expect(eligible).not.toContain(initializer);
        const expected = ns.filter(
          (n, i) => n !== initializer && !Object.values(dirs[i]?.sources ?? {}).some((c) => c > 0),
        );
        expect(eligible).toEqual(expected);
      }),
    );
  });

  it('keeps a member whose sources are all at 0 instances, drops one with any instance', () => {
    const layout: Layout = {
      version: 1,
      members: ['initializer', 'a', 'b', 'c'].map((n) => member(n)),
      owners: [],
    };
    const dirs = [
      directory(1),
      { ...directory(2), sources: { '0': 0, '1': 0 } },
      { ...directory(3), sources: { '0': 0, '1': 2 } },
      undefined,
    ];
    expect(eligibleToLeave(layout, dirs, 'initializer')).toEqual(['a', 'c']);
  });
});

describe('planShrink', () => {
  it('a cluster of one (a worker alone): none may leave; a query says why, a request is refused', () => {
    const one: Layout = { version: 1, members: [member('solo')], owners: [[0, 0]] };
    const ask = (r: { workers: string[]; count: number; query: boolean }) =>
      planShrink(one, [directory(1)], 'solo', r);
    expect(ask({ workers: [], count: 0, query: true })).toEqual({
      ok: true,
      message: ALONE_MESSAGE,
      leaving: [],
      eligible: [],
    });
    for (const r of [
      { workers: [], count: 1, query: false },
      { workers: ['solo'], count: 0, query: false },
    ])
      expect(ask(r)).toEqual({
        ok: false,
        message: `${ALONE_MESSAGE}; nothing was changed`,
        leaving: [],
        eligible: [],
      });
  });

  // Joined in this order; w3 runs a source.
  const layout: Layout = {
    version: 4,
    members: ['initializer', 'w2', 'w3', 'w4', 'w5'].map((n, i) => member(n, 7000 + 2 * i)),
    owners: [[0, 1, 2, 3, 4, 0]],
  };
  const dirs = [directory(1), directory(2), directory(3, 1), directory(4), directory(5)];
  const plan = (request: { workers?: string[]; count?: number; query?: boolean }) =>
    planShrink(layout, dirs, 'initializer', {
      workers: request.workers ?? [],
      count: request.count ?? 0,
      query: request.query ?? false,
    });

  it('accepts eligible named workers', () => {
    expect(plan({ workers: ['w4', 'w2'] })).toEqual({
      ok: true,
      message: 'w4, w2 will leave',
      leaving: ['w4', 'w2'],
      eligible: ['w2', 'w4', 'w5'],
    });
  });

  it('never lets the initializer leave, by name or by count', () => {
    const r = plan({ workers: ['initializer'] });
    expect(r.ok).toBe(false);
    expect(r.leaving).toEqual([]);
    expect(r.message).toContain('initializer is the initializer');
    expect(plan({ count: 100 }).leaving).not.toContain('initializer');
    // Even with no sources anywhere.
    const free = planShrink(layout, [], 'initializer', { workers: [], count: 9, query: false });
    expect(free.leaving).toEqual(['w5', 'w4', 'w3', 'w2']);
  });

  it('refuses a worker that runs a source, the whole request', () => {
    const r = plan({ workers: ['w2', 'w3'] });
    expect(r).toMatchObject({ ok: false, leaving: [], eligible: ['w2', 'w4', 'w5'] });
    expect(r.message).toContain("'w3' may not leave");
    expect(r.message).toContain('w3 runs a source');
    expect(r.message).not.toContain("'w2'");
    expect(r.message).toContain('nothing was changed');
  });

  it('refuses unknown names, the whole request, naming each unknown one', () => {
    const r = plan({ workers: ['w2', 'nope', 'ghost'] });
    expect(r).toMatchObject({ ok: false, leaving: [] });
    expect(r.message).toMatch(/^no worker named 'nope', 'ghost' in the cluster /);
    expect(r.message).not.toContain("'w2'");
    expect(r.message).toContain('nothing was changed');
  });

  it('refuses a worker named twice', () => {
    const r = plan({ workers: ['w2', 'w4', 'w2'] });
    expect(r).toMatchObject({ ok: false, leaving: [] });
    expect(r.message).toContain("'w2' is named twice");
  });

  it('takes a count from the last to join first', () => {
    expect(plan({ count: 1 })).toMatchObject({ ok: true, leaving: ['w5'] });
    const two = plan({ count: 2 });
    expect(two).toMatchObject({ ok: true, leaving: ['w5', 'w4'], message: 'w5, w4 will leave' });
    expect(plan({ count: 3 })).toMatchObject({
      ok: true,
      leaving: ['w5', 'w4', 'w2'],
      message: 'w5, w4, w2 will leave',
    });
  });

  it('shrinks a count above the eligible number by as many as may leave, and says so', () => {
    const r = plan({ count: 7 });
    expect(r.ok).toBe(true);
    expect(r.leaving).toEqual(['w5', 'w4', 'w2']);
    expect(r.message).toContain('asked for 7');
    expect(r.message).toContain('only 3 may');
    expect(r.message).toContain('w5, w4, w2 will leave');
  });

  it('refuses a count below 1, and a count when no worker may leave', () => {
    for (const count of [0, -1]) {
      const r = plan({ count });
      expect(r).toMatchObject({ ok: false, leaving: [] });
      expect(r.message).toContain('name the workers to leave, or how many');
    }
    // Two workers, the other running a source: none may leave.
    const pinned: Layout = {
      version: 1,
      members: [member('initializer'), member('w2', 7002)],
      owners: [[0, 1]],
    };
    const r = planShrink(pinned, [directory(1), directory(2, 1)], 'initializer', {
      workers: [],
      count: 1,
      query: false,
    });
    expect(r).toMatchObject({ ok: false, leaving: [], eligible: [] });
    expect(r.message).toContain('no worker may leave now');
  });

  it('answers a query with the eligible workers and plans no change', () => {
    const before = structuredClone({ layout, dirs });
    for (const q of [
      { query: true },
      { query: true, count: 2 },
      { query: true, workers: ['w2'] },
    ]) {
      const r = plan(q);
      expect(r).toEqual({
        ok: true,
        message: '3 of 5 workers may leave: w2, w4, w5',
        leaving: [],
        eligible: ['w2', 'w4', 'w5'],
      });
    }
    expect({ layout, dirs }).toEqual(before);
    const pinned: Layout = {
      version: 1,
      members: [member('initializer'), member('w2', 7002)],
      owners: [[0, 1]],
    };
    expect(
      planShrink(pinned, [directory(1), directory(2, 1)], 'initializer', {
        workers: [],
        count: 0,
        query: true,
      }),
    ).toMatchObject({ ok: true, leaving: [], eligible: [], message: 'no worker may leave now' });
  });

  it('property: an accepted plan leaves only eligible, distinct workers; a refusal leaves none', () => {
    const names = ['initializer', 'w2', 'w3', 'w4', 'w5', 'nope'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...names), { maxLength: 5 }),
        fc.integer({ min: -1, max: 8 }),
        fc.boolean(),
        (workers, count, query) => {
          const r = plan({ workers, count, query });
          expect(r.eligible).toEqual(['w2', 'w4', 'w5']);
          if (!r.ok || query) expect(r.leaving).toEqual([]);
          for (const n of r.leaving) expect(r.eligible).toContain(n);
          expect(new Set(r.leaving).size).toBe(r.leaving.length);
          if (r.ok && !query && workers.length > 0) expect(r.leaving).toEqual(workers);
          if (r.ok && !query && workers.length === 0)
            expect(r.leaving).toHaveLength(Math.min(count, 3));
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------
// reconfigure: the state machine

const PARTITIONS = ['counts', 'letters'];
/** Two workers; 'counts' has 12 groups, 'letters' 5. */
const twoWorkers: Layout = {
  version: 3,
  members: [member('initializer', 7000), member('w2', 7002)],
  owners: [
    [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
    [0, 0, 0, 1, 1],
  ],
};
const threeWorkers: Layout = {
  version: 5,
  members: [member('initializer', 7000), member('w2', 7002), member('w3', 7004)],
  owners: [
    [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
    [0, 1, 2, 2, 1],
  ],
};

/** The state a worker ships for group (pi, g): bytes told apart by partition and group. */
const groupState = (
  pi: number,
  g: number,
  partitions: readonly string[] = PARTITIONS,
): WireGroupState => ({
  partition: partitions[pi]!,
  keyGroup: g,
  entities: g + 1,
  state: Uint8Array.from({ length: (g % 4) + pi }, (_, k) => 16 * pi + g + k),
});

/** The groups `name` loses between `before` and `after`, as it would ship them. */
function shippedBy(
  name: string,
  before: Layout,
  after: Layout,
  partitions: readonly string[] = PARTITIONS,
): WireGroupState[] {
  const out: WireGroupState[] = [];
  before.owners.forEach((row, pi) =>
    row.forEach((o, g) => {
      const nextOwner = after.members[after.owners[pi]![g]!]!.name;
      if (before.members[o]!.name === name && nextOwner !== name)
        out.push(groupState(pi, g, partitions));
    }),
  );
  return out;
}

/** The groups `name` gains between `before` and `after`. */
function takenBy(name: string, before: Layout, after: Layout): WireGroupState[] {
  const out: WireGroupState[] = [];
  after.owners.forEach((row, pi) =>
    row.forEach((o, g) => {
      const old = before.members[before.owners[pi]![g]!]!.name;
      if (after.members[o]!.name === name && old !== name) out.push(groupState(pi, g));
    }),
  );
  return out;
}

const byGroup = (a: WireGroupState, b: WireGroupState) =>
  a.partition.localeCompare(b.partition) || a.keyGroup - b.keyGroup;

describe('reconfigure: growing', () => {
  it('walks grow -> joining -> pausing -> shipping -> rewiring -> idle with the right decisions', () => {
    const s0 = idleReconfiguration(twoWorkers, PARTITIONS);
    const joiner = member('w3', 7004);

    // grow: the joiner is told the cluster as it is (owning nothing); nothing pauses yet.
    let r = reconfigure(s0, { kind: 'grow', joiners: [joiner], id: 7, nowMs: 1000 });
    expect(r.decisions).toEqual([
      {
        kind: 'assign-joiner',
        name: 'w3',
        layout: { ...twoWorkers, members: [...twoWorkers.members, joiner] },
      },
    ]);
    expect(r.state.phase).toBe('joining');
    expect(r.state.id).toBe(7);
    expect([...r.state.waiting]).toEqual(['w3']);
    const after = r.state.after;
    expect(after.version).toBe(4);
    expect(memberNames(after)).toEqual(['initializer', 'w2', 'w3']);
    expect(after.owners).toEqual(
      rebalanceOwners(twoWorkers.owners, ['initializer', 'w2'], ['initializer', 'w2', 'w3']),
    );
    expect(r.state.before).toBe(twoWorkers);

    // The joiner spawned: every old member pauses at barrier 7 and ships what leaves it.
    r = reconfigure(r.state, {
      kind: 'joiner-spawned',
      name: 'w3',
      directory: directory(30),
      nowMs: 1500,
    });
    expect(r.decisions).toEqual([
      { kind: 'migrate', to: ['initializer', 'w2'], id: 7, after, moves: [] },
    ]);
    expect(r.state.phase).toBe('preparing');
    expect([...r.state.waiting].sort()).toEqual(['initializer', 'w2']);
    // The barrier goes out only once every old member holds what moves after it.
    r = prepared(r.state, ['w2'], 7, 1400);
    expect(r.decisions).toEqual([]);
    expect(r.state.phase).toBe('preparing');
    r = prepared(r.state, ['initializer'], 7, 1500);
    expect(r.decisions).toEqual([{ kind: 'barrier', to: ['initializer', 'w2'], id: 7 }]);
    expect(r.state.phase).toBe('pausing');
    expect(r.state.pausedAtMs).toBe(1500);
    expect([...r.state.waiting].sort()).toEqual(['initializer', 'w2']);

    // Old owners ship; nothing is handed out until the last one has.
    const fromInit = shippedBy('initializer', twoWorkers, after);
    const fromW2 = shippedBy('w2', twoWorkers, after);
    expect(fromInit.length + fromW2.length).toBeGreaterThan(0);
    r = reconfigure(r.state, {
      kind: 'shipped',
      name: 'w2',
      id: 7,
      groups: fromW2,
      last: true,
      epoch: 1,
    });
    expect(r.decisions).toEqual([]);
    expect(r.state.phase).toBe('pausing');
    r = reconfigure(r.state, {
      kind: 'shipped',
      name: 'initializer',
      id: 7,
      groups: fromInit,
      last: true,
      epoch: 1,
    });
    expect(r.state.phase).toBe('shipping');
    expect(r.decisions.map((d) => d.kind)).toEqual(['migrate-in', 'migrate-in', 'migrate-in']);
    for (const d of r.decisions) {
      if (d.kind !== 'migrate-in') continue;
      expect(d.id).toBe(7);
      expect([...d.groups].sort(byGroup)).toEqual(takenBy(d.name, twoWorkers, after).sort(byGroup));
    }
    expect(r.decisions.map((d) => (d.kind === 'migrate-in' ? d.name : ''))).toEqual([
      'initializer',
      'w2',
      'w3',
    ]);
    // A grow hands groups only to the joiner.
    const w3 = r.decisions.find((d) => d.kind === 'migrate-in' && d.name === 'w3');
    expect(w3?.kind === 'migrate-in' && w3.groups.length).toBe(fromInit.length + fromW2.length);

    // Every new member spawned: one reconfigure with all directories, by member index.
    r = run(r.state, [
      { kind: 'spawned', name: 'w3', id: 7, directory: directory(31) },
      { kind: 'spawned', name: 'initializer', id: 7, directory: directory(11) },
    ]);
    expect(r.decisions).toEqual([]);
    r = reconfigure(r.state, { kind: 'spawned', name: 'w2', id: 7, directory: directory(21) });
    expect(r.decisions).toEqual([
      {
        kind: 'reconfigure',
        id: 7,
        after,
        directories: [directory(11), directory(21), directory(31)],
      },
    ]);
    expect(r.state.phase).toBe('rewiring');

    // Every new member rewired: done.
    r = run(r.state, [
      { kind: 'rewired', name: 'initializer', id: 7, nowMs: 1900 },
      { kind: 'rewired', name: 'w3', id: 7, nowMs: 1950 },
    ]);
    expect(r.decisions).toEqual([]);
    r = reconfigure(r.state, { kind: 'rewired', name: 'w2', id: 7, nowMs: 2042 });
    const all = [...fromInit, ...fromW2];
    expect(r.decisions).toEqual([
      {
        kind: 'done',
        id: 7,
        to: ['initializer', 'w2', 'w3'],
        leaving: [],
        joined: ['w3'],
        moved: {
          groups: all.length,
          entities: all.reduce((a, g) => a + g.entities, 0),
          bytes: all.reduce((a, g) => a + g.state.byteLength, 0),
        },
        pausedMs: 542,
        after,
      },
    ]);
    // 17 groups from 2 to 3 workers: 'counts' 12 -> 4 each moves 4, 'letters' 5 -> 2,2,1 moves 1.
    expect(all).toHaveLength(5);
    expect(r.state).toEqual(idleReconfiguration(after, PARTITIONS));
  });

  it('grows by joiners that join together in one reconfiguration, waiting for the last to spawn', () => {
    const s0 = idleReconfiguration(twoWorkers, PARTITIONS);
    let r = reconfigure(s0, {
      kind: 'grow',
      joiners: [member('w3'), member('w4')],
      id: 4,
      nowMs: 0,
    });
    const joining = { ...twoWorkers, members: [...twoWorkers.members, member('w3'), member('w4')] };
    expect(r.decisions).toEqual([
      { kind: 'assign-joiner', name: 'w3', layout: joining },
      { kind: 'assign-joiner', name: 'w4', layout: joining },
    ]);
    expect(memberNames(r.state.after)).toEqual(['initializer', 'w2', 'w3', 'w4']);
    r = reconfigure(r.state, {
      kind: 'joiner-spawned',
      name: 'w4',
      directory: directory(4),
      nowMs: 1,
    });
    expect(r.decisions).toEqual([]);
    expect(r.state.phase).toBe('joining');
    r = reconfigure(r.state, {
      kind: 'joiner-spawned',
      name: 'w3',
      directory: directory(3),
      nowMs: 2,
    });
    expect(r.state.phase).toBe('preparing');
    const done = complete(s0, {
      kind: 'grow',
      joiners: [member('w3'), member('w4')],
      id: 4,
      nowMs: 0,
    });
    expect(done.done.joined).toEqual(['w3', 'w4']);
    // Per partition, the four workers' shares differ by at most one, and both joiners own some.
    for (const row of done.after.owners) {
      const counts = countsOf(row, 4);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      expect(counts[2]).toBeGreaterThan(0);
      expect(counts[3]).toBeGreaterThan(0);
    }
    // Each group moved at most once: the joiners' groups came from the old members.
    for (const m of done.migrateIns)
      if (m.name === 'w3' || m.name === 'w4') expect(m.groups.length).toBeGreaterThan(0);
      else expect(m.groups).toEqual([]);
  });

  it('refuses a grow by a worker already in the cluster, or the same joiner twice', () => {
    const s0 = idleReconfiguration(twoWorkers, PARTITIONS);
    for (const joiners of [[member('w2')], [member('w3'), member('w3')], []]) {
      const r = reconfigure(s0, { kind: 'grow', joiners, id: 4, nowMs: 0 });
      expect(r.state).toBe(s0);
      expect(r.decisions.map((d) => d.kind)).toEqual(['refuse']);
    }
  });

  it('reports a pause of 0 ms if the clock went back', () => {
    const r = complete(
      idleReconfiguration(twoWorkers, PARTITIONS),
      {
        kind: 'grow',
        joiners: [member('w3')],
        id: 1,
        nowMs: 0,
      },
      { pausedAt: 5000, rewiredAt: 4000 },
    );
    expect(r.done.pausedMs).toBe(0);
  });
});

describe('reconfigure: shrinking', () => {
  it('walks shrink -> pausing -> shipping -> rewiring -> idle; the leaver ships but is not resumed', () => {
    const s0 = idleReconfiguration(threeWorkers, PARTITIONS);
    let r = reconfigure(s0, { kind: 'shrink', leaving: ['w2'], id: 12, nowMs: 100 });
    const after = r.state.after;
    expect(memberNames(after)).toEqual(['initializer', 'w3']);
    expect(after.version).toBe(6);
    expect(after.owners).toEqual(
      rebalanceOwners(threeWorkers.owners, ['initializer', 'w2', 'w3'], ['initializer', 'w3']),
    );
    // Every old member, the leaver included, pauses and ships.
    expect(r.decisions).toEqual([
      { kind: 'migrate', to: ['initializer', 'w2', 'w3'], id: 12, after, moves: [] },
    ]);
    expect(r.state.phase).toBe('preparing');
    r = prepared(r.state, ['w3', 'w2', 'initializer'], 12, 100);
    expect(r.decisions).toEqual([{ kind: 'barrier', to: ['initializer', 'w2', 'w3'], id: 12 }]);
    expect(r.state.phase).toBe('pausing');
    expect(r.state.pausedAtMs).toBe(100);

    const fromW2 = shippedBy('w2', threeWorkers, after);
    expect(fromW2).toHaveLength(4 + 2); // every group w2 owned
    r = run(r.state, [
      { kind: 'shipped', name: 'w2', id: 12, groups: fromW2, last: true, epoch: 1 },
      {
        kind: 'shipped',
        name: 'w3',
        id: 12,
        groups: shippedBy('w3', threeWorkers, after),
        last: true,
        epoch: 1,
      },
      {
        kind: 'shipped',
        name: 'initializer',
        id: 12,
        groups: shippedBy('initializer', threeWorkers, after),
        last: true,
        epoch: 1,
      },
    ]);
    // Only the members that stay take groups in.
    expect(r.decisions.map((d) => (d.kind === 'migrate-in' ? d.name : d.kind))).toEqual([
      'initializer',
      'w3',
    ]);
    for (const d of r.decisions) {
      if (d.kind !== 'migrate-in') continue;
      expect([...d.groups].sort(byGroup)).toEqual(
        takenBy(d.name, threeWorkers, after).sort(byGroup),
      );
    }
    // The leaver's spawned/rewired reports are not awaited.
    r = run(r.state, [
      { kind: 'spawned', name: 'w2', id: 12, directory: directory(99) },
      { kind: 'spawned', name: 'w3', id: 12, directory: directory(3) },
      { kind: 'spawned', name: 'initializer', id: 12, directory: directory(1) },
    ]);
    expect(r.decisions).toEqual([
      { kind: 'reconfigure', id: 12, after, directories: [directory(1), directory(3)] },
    ]);
    r = run(r.state, [
      { kind: 'rewired', name: 'w2', id: 12, nowMs: 300 },
      { kind: 'rewired', name: 'w3', id: 12, nowMs: 300 },
    ]);
    expect(r.decisions).toEqual([]);
    r = reconfigure(r.state, { kind: 'rewired', name: 'initializer', id: 12, nowMs: 350 });
    expect(r.decisions).toEqual([
      expect.objectContaining({
        kind: 'done',
        id: 12,
        to: ['initializer', 'w3'],
        leaving: ['w2'],
        joined: [],
        pausedMs: 250,
        after,
      }),
    ]);
    const done = r.decisions[0]!;
    expect(done.kind === 'done' && done.moved.groups).toBe(6);
    expect(r.state).toEqual(idleReconfiguration(after, PARTITIONS));
  });
});

/**
 * Runs a grow or shrink to its end with every member reporting as it should
 * (report order shuffled by `shuffle`); the final state and the done decision.
 */
function complete(
  s: ReconfigurationState,
  start: Extract<ReconfigurationEvent, { kind: 'grow' | 'shrink' }>,
  opts: { pausedAt?: number; rewiredAt?: number; shuffle?: <T>(xs: readonly T[]) => T[] } = {},
) {
  const shuffle = opts.shuffle ?? (<T>(xs: readonly T[]) => [...xs]);
  const before = s.before;
  let r = reconfigure(s, start);
  if (start.kind === 'grow') {
    for (const joiner of start.joiners)
      r = reconfigure(r.state, {
        kind: 'joiner-spawned',
        name: joiner.name,
        directory: directory(0),
        nowMs: opts.pausedAt ?? 10,
      });
  }
  r = prepared(r.state, shuffle(memberNames(before)), start.id, opts.pausedAt ?? 10);
  const after = r.state.after;
  const migrateIns: Extract<ReconfigurationDecision, { kind: 'migrate-in' }>[] = [];
  for (const name of shuffle(memberNames(before))) {
    const step = reconfigure(r.state, {
      kind: 'shipped',
      name,
      id: start.id,
      groups: shippedBy(name, before, after, s.partitions),
      last: true,
      epoch: 1,
    });
    r = step;
    for (const d of step.decisions) if (d.kind === 'migrate-in') migrateIns.push(d);
  }
  for (const name of shuffle(memberNames(after)))
    r = reconfigure(r.state, {
      kind: 'spawned',
      name,
      id: start.id,
      directory: directory(after.members.findIndex((m) => m.name === name)),
    });
  const decisions: ReconfigurationDecision[] = [];
  for (const name of shuffle(memberNames(after))) {
    r = reconfigure(r.state, { kind: 'rewired', name, id: start.id, nowMs: opts.rewiredAt ?? 20 });
    decisions.push(...r.decisions);
  }
  const done = decisions.find((d) => d.kind === 'done');
  if (done?.kind !== 'done') throw new Error(`no done: ${JSON.stringify(decisions)}`);
  return { state: r.state, done, migrateIns, after };
}

describe('reconfigure: one at a time', () => {
  /** A state in each phase of a grow and of a shrink. */
  function phases(): ReconfigurationState[] {
    const out: ReconfigurationState[] = [];
    let s = reconfigure(idleReconfiguration(twoWorkers, PARTITIONS), {
      kind: 'grow',
      joiners: [member('w3')],
      id: 3,
      nowMs: 0,
    }).state;
    out.push(s); // joining
    s = reconfigure(s, {
      kind: 'joiner-spawned',
      name: 'w3',
      directory: directory(3),
      nowMs: 1,
    }).state;
    out.push(s); // preparing
    s = prepared(s, ['initializer', 'w2'], 3, 1).state;
    out.push(s); // pausing
    const after = s.after;
    s = run(s, [
      { kind: 'shipped', name: 'initializer', id: 3, groups: [], last: true, epoch: 1 },
      {
        kind: 'shipped',
        name: 'w2',
        id: 3,
        groups: shippedBy('w2', twoWorkers, after),
        last: true,
        epoch: 1,
      },
    ]).state;
    out.push(s); // shipping
    s = run(
      s,
      ['initializer', 'w2', 'w3'].map((name, i): ReconfigurationEvent => ({
        kind: 'spawned',
        name,
        id: 3,
        directory: directory(i),
      })),
    ).state;
    out.push(s); // rewiring
    const shrinking = reconfigure(idleReconfiguration(threeWorkers, PARTITIONS), {
      kind: 'shrink',
      leaving: ['w3'],
      id: 9,
      nowMs: 0,
    }).state;
    out.push(shrinking); // preparing, by a shrink
    out.push(prepared(shrinking, ['initializer', 'w2', 'w3'], 9).state); // pausing, by a shrink
    expect(out.map((x) => x.phase)).toEqual([
      'joining',
      'preparing',
      'pausing',
      'shipping',
      'rewiring',
      'preparing',
      'pausing',
    ]);
    return out;
  }

  it('refuses a second grow or shrink while one runs, leaving the state as it was', () => {
    for (const s of phases()) {
      for (const e of [
        { kind: 'grow', joiners: [member('w9')], id: 50, nowMs: 5 },
        { kind: 'shrink', leaving: ['w2'], id: 51, nowMs: 5 },
      ] as const) {
        const r = reconfigure(s, e);
        expect(r.state).toBe(s);
        expect(r.decisions).toHaveLength(1);
        const d = r.decisions[0]!;
        expect(d.kind).toBe('refuse');
        expect(d.kind === 'refuse' && d.reason).toContain(`reconfiguration ${s.id}`);
        expect(d.kind === 'refuse' && d.reason).toContain(s.phase);
      }
    }
  });

  it('accepts the next reconfiguration once one is done', () => {
    const first = complete(idleReconfiguration(twoWorkers, PARTITIONS), {
      kind: 'grow',
      joiners: [member('w3')],
      id: 1,
      nowMs: 0,
    });
    const second = complete(first.state, { kind: 'shrink', leaving: ['w2'], id: 2, nowMs: 0 });
    expect(second.done.leaving).toEqual(['w2']);
    expect(second.after.version).toBe(twoWorkers.version + 2);
    expect(memberNames(second.after)).toEqual(['initializer', 'w3']);
  });

  it('ignores reports with a stale id, from members not awaited, twice, or out of phase', () => {
    for (const s of phases()) {
      const member3 = s.after.members.find((m) => !s.before.members.includes(m));
      const notAwaited = [
        'nobody',
        ...((s.phase === 'pausing' || s.phase === 'preparing') && member3 ? [member3.name] : []),
      ];
      const someone = [...s.waiting][0] ?? 'initializer';
      const events: ReconfigurationEvent[] = [
        // Stale (or future) ids from an awaited member.
        {
          kind: 'shipped',
          name: someone,
          id: s.id - 1,
          groups: [groupState(0, 0)],
          last: true,
          epoch: 1,
        },
        { kind: 'shipped', name: someone, id: s.id + 1, groups: [], last: true, epoch: 1 },
        { kind: 'spawned', name: someone, id: s.id + 1, directory: directory(1) },
        { kind: 'rewired', name: someone, id: s.id - 1, nowMs: 9 },
        // Right id, but from a member whose answer is not awaited.
        ...notAwaited.flatMap((name): ReconfigurationEvent[] => [
          { kind: 'shipped', name, id: s.id, groups: [groupState(0, 1)], last: true, epoch: 1 },
          { kind: 'spawned', name, id: s.id, directory: directory(1) },
          { kind: 'rewired', name, id: s.id, nowMs: 9 },
          { kind: 'joiner-spawned', name, directory: directory(1), nowMs: 9 },
        ]),
      ];
      // Reports of the other phases, right id, from an awaited member.
      if (s.phase !== 'preparing')
        events.push({ kind: 'prepared', name: someone, id: s.id, nowMs: 1 });
      else events.push({ kind: 'prepared', name: someone, id: s.id + 1, nowMs: 1 });
      if (s.phase !== 'pausing')
        events.push({ kind: 'shipped', name: someone, id: s.id, groups: [], last: true, epoch: 1 });
      if (s.phase !== 'shipping')
        events.push({ kind: 'spawned', name: someone, id: s.id, directory: directory(1) });
      if (s.phase !== 'rewiring')
        events.push({ kind: 'rewired', name: someone, id: s.id, nowMs: 1 });
      if (s.phase !== 'joining')
        events.push({ kind: 'joiner-spawned', name: someone, directory: directory(1), nowMs: 1 });
      for (const e of events) {
        const r = reconfigure(s, e);
        if (r.state !== s || r.decisions.length > 0)
          expect.fail(`${s.phase}: ${JSON.stringify(e)} was not ignored`);
      }
    }
  });

  it("counts a member's report once: a repeated shipped report neither finishes nor doubles", () => {
    const s0 = prepared(
      reconfigure(idleReconfiguration(threeWorkers, PARTITIONS), {
        kind: 'shrink',
        leaving: ['w3'],
        id: 4,
        nowMs: 0,
      }).state,
      ['initializer', 'w2', 'w3'],
      4,
    ).state;
    const after = s0.after;
    const w3 = shippedBy('w3', threeWorkers, after);
    let r = run(s0, [
      { kind: 'shipped', name: 'w3', id: 4, groups: w3, last: true, epoch: 1 },
      { kind: 'shipped', name: 'w3', id: 4, groups: w3, last: true, epoch: 1 },
      { kind: 'shipped', name: 'initializer', id: 4, groups: [], last: true, epoch: 1 },
    ]);
    expect(r.state.phase).toBe('pausing');
    expect(r.state.shipped).toHaveLength(w3.length);
    r = run(r.state, [{ kind: 'shipped', name: 'w2', id: 4, groups: [], last: true, epoch: 1 }]);
    expect(r.state.phase).toBe('shipping');
    r = run(r.state, [
      { kind: 'spawned', name: 'w2', id: 4, directory: directory(2) },
      { kind: 'spawned', name: 'w2', id: 4, directory: directory(2) },
    ]);
    expect(r.state.phase).toBe('shipping');
  });
});

describe('reconfigure: a member lost', () => {
  it('fails a running reconfiguration when an involved member is lost, back to idle over the old layout', () => {
    const cases: [Layout, ReconfigurationEvent[], string[]][] = [
      // Grow: the joiner, or an old member, in each phase.
      [twoWorkers, [{ kind: 'grow', joiners: [member('w3')], id: 6, nowMs: 0 }], ['w3', 'w2']],
      [
        twoWorkers,
        [
          { kind: 'grow', joiners: [member('w3')], id: 6, nowMs: 0 },
          { kind: 'joiner-spawned', name: 'w3', directory: directory(3), nowMs: 0 },
        ],
        ['w3', 'initializer', 'w2'],
      ],
      // Shrink: the leaver (still shipping) or a staying member.
      [threeWorkers, [{ kind: 'shrink', leaving: ['w2'], id: 6, nowMs: 0 }], ['w2', 'w3']],
    ];
    for (const [layout, events, lost] of cases) {
      const s = run(idleReconfiguration(layout, PARTITIONS), events).state;
      expect(s.phase).not.toBe('idle');
      for (const name of lost) {
        const r = reconfigure(s, { kind: 'lost', name });
        expect(r.decisions).toEqual([
          {
            kind: 'failed',
            id: 6,
            reason: `worker '${name}' was lost during reconfiguration 6`,
            // Nothing paused while only the joiner was starting.
            paused: s.phase !== 'joining',
          },
        ]);
        expect(r.state).toEqual(idleReconfiguration(layout, PARTITIONS));
        expect(r.state.before).toBe(layout);
        // And a new reconfiguration may start.
        const again = reconfigure(r.state, {
          kind: 'grow',
          joiners: [member('w7')],
          id: 8,
          nowMs: 0,
        });
        expect(again.decisions.map((d) => d.kind)).toEqual(['assign-joiner']);
      }
    }
  });

  it('fails in the later phases too', () => {
    const s0 = idleReconfiguration(twoWorkers, PARTITIONS);
    let s = run(s0, [
      { kind: 'grow', joiners: [member('w3')], id: 2, nowMs: 0 },
      { kind: 'joiner-spawned', name: 'w3', directory: directory(3), nowMs: 0 },
      { kind: 'prepared', name: 'initializer', id: 2, nowMs: 0 },
      { kind: 'prepared', name: 'w2', id: 2, nowMs: 0 },
      { kind: 'shipped', name: 'initializer', id: 2, groups: [], last: true, epoch: 1 },
      { kind: 'shipped', name: 'w2', id: 2, groups: [], last: true, epoch: 1 },
    ]).state;
    expect(s.phase).toBe('shipping');
    expect(reconfigure(s, { kind: 'lost', name: 'w3' }).decisions[0]?.kind).toBe('failed');
    s = run(
      s,
      ['initializer', 'w2', 'w3'].map((name): ReconfigurationEvent => ({
        kind: 'spawned',
        name,
        id: 2,
        directory: directory(0),
      })),
    ).state;
    expect(s.phase).toBe('rewiring');
    const r = reconfigure(s, { kind: 'lost', name: 'initializer' });
    expect(r.decisions[0]?.kind).toBe('failed');
    expect(r.state).toEqual(idleReconfiguration(twoWorkers, PARTITIONS));
  });

  it('ignores the loss of an uninvolved worker, and any loss while idle', () => {
    const idle = idleReconfiguration(twoWorkers, PARTITIONS);
    for (const name of ['initializer', 'w2', 'stranger']) {
      const r = reconfigure(idle, { kind: 'lost', name });
      expect(r.state).toBe(idle);
      expect(r.decisions).toEqual([]);
    }
    const running = reconfigure(idle, {
      kind: 'grow',
      joiners: [member('w3')],
      id: 1,
      nowMs: 0,
    }).state;
    const r = reconfigure(running, { kind: 'lost', name: 'stranger' });
    expect(r.state).toBe(running);
    expect(r.decisions).toEqual([]);
  });
});

describe('reconfigure: any sequence of grows and shrinks', () => {
  it('ends each with done, the rebalanced layout, the groups that moved, in any report order', () => {
    const op = fc.oneof(
      fc.constant({ grow: true as const }),
      fc.record({ grow: fc.constant(false as const), pick: fc.nat(), many: fc.nat({ max: 3 }) }),
    );
    const rows = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 2 });
    fc.assert(
      fc.property(
        rows,
        fc.array(op, { minLength: 1, maxLength: 6 }),
        fc.integer(),
        (sizes, ops, seed) => {
          const shuffle = shuffler(seed);
          const partitions = PARTITIONS.slice(0, sizes.length);
          let layout: Layout = {
            version: 1,
            members: [member('initializer'), member('w1')],
            owners: sizes.map((n) => Array.from({ length: n }, (_, g) => g % 2)),
          };
          let state = idleReconfiguration(layout, partitions);
          let joined = 1;
          ops.forEach((o, k) => {
            const names = memberNames(layout);
            let start: Extract<ReconfigurationEvent, { kind: 'grow' | 'shrink' }>;
            let expected: string[];
            if (o.grow) {
              const name = `w${++joined}`;
              start = { kind: 'grow', joiners: [member(name)], id: k + 1, nowMs: 0 };
              expected = [...names, name];
            } else {
              const others = names.slice(1);
              if (others.length === 0) return;
              const leaving = shuffle(others).slice(0, 1 + (o.many % others.length));
              start = { kind: 'shrink', leaving, id: k + 1, nowMs: 0 };
              expected = names.filter((n) => !leaving.includes(n));
            }
            const c = complete(state, start, { shuffle });
            const beforeNames = names;
            expect(memberNames(c.after)).toEqual(expected);
            expect(c.after.version).toBe(layout.version + 1);
            expect(c.after.owners).toEqual(rebalanceOwners(layout.owners, beforeNames, expected));
            const moved = movedGroups(layout.owners, beforeNames, c.after.owners, expected);
            expect(c.done.moved.groups).toBe(moved.length);
            expect(c.migrateIns.map((d) => d.name)).toEqual(expected);
            const handedOut = c.migrateIns.flatMap((d) =>
              d.groups.map((g) => {
                const pi = partitions.indexOf(g.partition);
                expect(expected[c.after.owners[pi]![g.keyGroup]!]).toBe(d.name);
                return `${pi}/${g.keyGroup}`;
              }),
            );
            expect(handedOut.sort()).toEqual(moved.map((m) => `${m.pi}/${m.g}`).sort());
            expect(c.state.phase).toBe('idle');
            layout = c.after;
            state = c.state;
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('waits for every chunk a worker ships: only its last one counts it done', () => {
    const layout = {
      version: 1,
      members: [member('initializer'), member('w2')],
      owners: [Array.from({ length: 8 }, (_, g) => g % 2)],
    };
    let r = reconfigure(idleReconfiguration(layout, ['p']), {
      kind: 'shrink',
      leaving: ['w2'],
      id: 5,
      nowMs: 0,
    });
    r = prepared(r.state, ['initializer', 'w2'], 5);
    const state = (g: number) => ({
      partition: 'p',
      keyGroup: g,
      entities: 1,
      state: new Uint8Array([g]),
    });
    r = reconfigure(r.state, {
      kind: 'shipped',
      name: 'initializer',
      id: 5,
      groups: [],
      last: true,
      epoch: 1,
    });
    r = reconfigure(r.state, {
      kind: 'shipped',
      name: 'w2',
      id: 5,
      groups: [state(1), state(3)],
      last: false,
      epoch: 1,
    });
    expect(r.decisions).toEqual([]);
    expect(r.state.phase).toBe('pausing');
    r = reconfigure(r.state, {
      kind: 'shipped',
      name: 'w2',
      id: 5,
      groups: [state(5), state(7)],
      last: true,
      epoch: 1,
    });
    expect(r.state.phase).toBe('shipping');
    expect(r.decisions).toMatchObject([
      {
        kind: 'migrate-in',
        name: 'initializer',
        groups: [1, 3, 5, 7].map((g) => ({ keyGroup: g })),
      },
    ]);
  });
});
