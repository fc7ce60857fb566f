/**
 * The routing table's owners: which worker owns each key group of each
 * partition, at start-up and after a reconfiguration. Pure.
 */
import type { Plan } from '../topology/plan.js';

/**
 * Key groups round robin over workers: group g belongs to worker g mod W.
 * (The routing table is versioned; later issues move groups between workers.)
 */
export function assignKeyGroups(plan: Plan, workers: number): number[][] {
  return plan.partitions.map((p) =>
    Array.from({ length: p.grouper.groups }, (_, g) => g % workers),
  );
}

/**
 * New owners for the members `after` (names), moving as few key groups as
 * possible: per partition, each member ends with ⌊n/W⌋ or ⌈n/W⌉ of the n
 * groups; a member keeps what it owns up to its quota (the members owning
 * the most get the larger quotas), and only the groups of leaving members
 * and the surplus of the fullest move, to the members under their quota.
 */
export function rebalanceOwners(
  owners: readonly (readonly number[])[],
  before: readonly string[],
  after: readonly string[],
): number[][] {
  if (after.length === 0) throw new Error('a cluster needs at least one worker');
  const index = new Map(after.map((n, i) => [n, i]));
  return owners.map((row) => {
    const n = row.length;
    const w = after.length;
    const counts = new Array<number>(w).fill(0);
    for (const o of row) {
      const i = index.get(before[o] ?? '');
      if (i !== undefined) counts[i] = (counts[i] ?? 0) + 1;
    }
    // The members owning the most get the ⌈n/W⌉ quotas: fewer groups move.
    const order = counts.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const quota = new Array<number>(w).fill(Math.floor(n / w));
    for (let k = 0; k < n % w; k++) {
      const i = (order[k] as readonly [number, number])[1];
      quota[i] = (quota[i] ?? 0) + 1;
    }
    const kept = new Array<number>(w).fill(0);
    const next = new Array<number>(n).fill(-1);
    row.forEach((o, g) => {
      const i = index.get(before[o] ?? '');
      if (i !== undefined && (kept[i] as number) < (quota[i] as number)) {
        next[g] = i;
        kept[i] = (kept[i] as number) + 1;
      }
    });
    let target = 0;
    for (let g = 0; g < n; g++) {
      if (next[g] !== -1) continue;
      while ((kept[target] as number) >= (quota[target] as number)) target = (target + 1) % w;
      next[g] = target;
      kept[target] = (kept[target] as number) + 1;
      target = (target + 1) % w;
    }
    return next;
  });
}
