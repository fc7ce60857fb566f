import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTO_REBALANCE_MIN_MESSAGES,
  AUTO_REBALANCE_SAMPLES,
  autoRebalanceStart,
  autoRebalanceStep,
  imbalance,
  planThreadMoves,
  REBALANCE_TARGET,
  threadLoads,
  type GroupLoad,
} from '../../../runtime/topology/rebalance.js';

/** The groups after applying `moves`. */
function apply(
  groups: readonly GroupLoad[],
  moves: ReturnType<typeof planThreadMoves>,
): GroupLoad[] {
  const to = new Map(moves.map((m) => [`${m.partition}/${m.keyGroup}`, m]));
  return groups.map((g) => {
    const m = to.get(`${g.partition}/${g.keyGroup}`);
    if (m === undefined) return g;
    expect(m.from).toBe(g.thread);
    return { ...g, thread: m.to };
  });
}

describe('planThreadMoves', () => {
  it('moves nothing when balanced, idle, or on one thread', () => {
    const even = [0, 1, 2, 3].map((g) => ({ partition: 0, keyGroup: g, thread: g % 2, load: 10 }));
    expect(planThreadMoves(even, 2)).toEqual([]);
    expect(
      planThreadMoves(
        even.map((g) => ({ ...g, load: 0 })),
        2,
      ),
    ).toEqual([]);
    expect(planThreadMoves(even, 1)).toEqual([]);
  });

  it('spreads groups all on one thread over both', () => {
    const skewed = Array.from({ length: 8 }, (_, g) => ({
      partition: 0,
      keyGroup: g,
      thread: 0,
      load: 100,
    }));
    const moves = planThreadMoves(skewed, 2);
    expect(moves).toHaveLength(4);
    expect(threadLoads(apply(skewed, moves), 2)).toEqual([400, 400]);
  });

  it('never makes the busiest thread busier, moves each group at most once, and stops within target or when no single group helps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.array(fc.tuple(fc.nat({ max: 7 }), fc.nat({ max: 10_000 })), {
          minLength: 1,
          maxLength: 200,
        }),
        (threads, list) => {
          const groups = list.map(([t, load], g) => ({
            partition: g % 3,
            keyGroup: g,
            thread: t % threads,
            load,
          }));
          const before = threadLoads(groups, threads);
          const moves = planThreadMoves(groups, threads);
          const keys = moves.map((m) => `${m.partition}/${m.keyGroup}`);
          expect(new Set(keys).size).toBe(keys.length);
          const moved = apply(groups, moves);
          const after = threadLoads(moved, threads);
          expect(Math.max(...after)).toBeLessThanOrEqual(Math.max(...before));
          expect(after.reduce((a, b) => a + b, 0)).toBe(before.reduce((a, b) => a + b, 0));
          if (imbalance(after) > REBALANCE_TARGET) {
            // No group on the busiest thread is lighter than the gap to the idlest.
            const busy = after.indexOf(Math.max(...after));
            const gap = Math.max(...after) - Math.min(...after);
            expect(moved.some((g) => g.thread === busy && g.load > 0 && g.load < gap)).toBe(false);
          }
        },
      ),
    );
  });
});

describe('autoRebalanceStep', () => {
  const per = AUTO_REBALANCE_MIN_MESSAGES;
  it(`rebalances after ${AUTO_REBALANCE_SAMPLES} skewed samples in a row with enough messages`, () => {
    let s = autoRebalanceStart(2);
    for (let i = 1; i < AUTO_REBALANCE_SAMPLES; i++) {
      const r = autoRebalanceStep(s, [per * i, 0]);
      expect(r.rebalance).toBe(false);
      s = r.state;
    }
    const r = autoRebalanceStep(s, [per * AUTO_REBALANCE_SAMPLES, 0]);
    expect(r.rebalance).toBe(true);
    expect(r.state).toEqual(autoRebalanceStart(2));
  });

  it('does not act on skew with too few messages, or on a streak broken by a balanced sample', () => {
    let s = autoRebalanceStart(2);
    for (let i = 1; i <= 5; i++) {
      const r = autoRebalanceStep(s, [i * (per - 1), 0]);
      expect(r.rebalance).toBe(false);
      s = r.state;
    }
    s = autoRebalanceStart(2);
    s = autoRebalanceStep(s, [per, 0]).state;
    s = autoRebalanceStep(s, [2 * per, 0]).state;
    s = autoRebalanceStep(s, [3 * per, per]).state; // balanced sample
    expect(s.streak).toBe(0);
    expect(autoRebalanceStep(s, [4 * per, per]).rebalance).toBe(false);
  });
});
