/**
 * Spreading one worker's key groups over its scheduler threads by measured
 * load (pure). The load of a key group is the messages it took since the
 * last rebalance; a thread's load is the sum over its groups.
 *
 * The rule: while the busiest thread carries more than REBALANCE_TARGET
 * times the mean, move from it to the least busy thread the heaviest group
 * that still narrows the gap between the two (a group lighter than the gap);
 * stop when no such group exists. Groups move one at a time, so a balanced
 * worker moves nothing and a skewed one moves only the groups it must.
 */

/** The busiest thread may carry this much of the mean before groups move. */
export const REBALANCE_TARGET = 1.1;

/**
 * `--auto-rebalance` acts when, for AUTO_REBALANCE_SAMPLES samples in a row
 * (one every AUTO_REBALANCE_INTERVAL_MS), the busiest thread's load is above
 * AUTO_REBALANCE_TRIGGER times the mean and the worker took at least
 * AUTO_REBALANCE_MIN_MESSAGES messages between two samples.
 */
export const AUTO_REBALANCE_TRIGGER = 1.2;
export const AUTO_REBALANCE_SAMPLES = 3;
export const AUTO_REBALANCE_INTERVAL_MS = 2_000;
export const AUTO_REBALANCE_MIN_MESSAGES = 10_000;

/** A key group where it is now, with its load. */
export interface GroupLoad {
  readonly partition: number;
  readonly keyGroup: number;
  readonly thread: number;
  readonly load: number;
}

/** A key group to move to another thread. */
export interface ThreadMove {
  readonly partition: number;
  readonly keyGroup: number;
  readonly from: number;
  readonly to: number;
}

/** Each thread's load (the sum of its groups'). */
export function threadLoads(groups: readonly GroupLoad[], threads: number): number[] {
  const load = new Array<number>(threads).fill(0);
  for (const g of groups) load[g.thread] = (load[g.thread] ?? 0) + g.load;
  return load;
}

/** The busiest thread's load over the mean (1 when balanced or idle). */
export function imbalance(loads: readonly number[]): number {
  const total = loads.reduce((a, b) => a + b, 0);
  if (total === 0 || loads.length === 0) return 1;
  return Math.max(...loads) / (total / loads.length);
}

/** The moves that bring the busiest thread within `target` times the mean, or as near as single groups allow. */
export function planThreadMoves(
  groups: readonly GroupLoad[],
  threads: number,
  target = REBALANCE_TARGET,
): ThreadMove[] {
  if (threads < 2) return [];
  const load = threadLoads(groups, threads);
  const total = load.reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const mean = total / threads;
  const where = groups.map((g) => ({ ...g }));
  const moves: ThreadMove[] = [];
  for (let guard = 0; guard < groups.length; guard++) {
    let busy = 0;
    let idle = 0;
    for (let t = 1; t < threads; t++) {
      if ((load[t] as number) > (load[busy] as number)) busy = t;
      if ((load[t] as number) < (load[idle] as number)) idle = t;
    }
    if ((load[busy] as number) <= target * mean) break;
    const gap = (load[busy] as number) - (load[idle] as number);
    let best: (typeof where)[number] | undefined;
    for (const g of where)
      if (
        g.thread === busy &&
        g.load > 0 &&
        g.load < gap &&
        (best === undefined || g.load > best.load)
      )
        best = g;
    if (best === undefined) break;
    load[busy] = (load[busy] as number) - best.load;
    load[idle] = (load[idle] as number) + best.load;
    moves.push({ partition: best.partition, keyGroup: best.keyGroup, from: busy, to: idle });
    best.thread = idle;
  }
  // A group moved twice is one move from where it was to where it ends.
  const last = new Map<string, ThreadMove>();
  for (const m of moves) {
    const key = `${m.partition}/${m.keyGroup}`;
    const first = last.get(key);
    last.set(key, first === undefined ? m : { ...m, from: first.from });
  }
  return [...last.values()].filter((m) => m.from !== m.to);
}

/** What `--auto-rebalance` remembers between samples. */
export interface AutoRebalanceState {
  /** Samples in a row above the trigger. */
  readonly streak: number;
  /** Each thread's cumulative load at the last sample. */
  readonly last: readonly number[];
}

/** The state before the first sample (or right after a rebalance: loads count from 0). */
export function autoRebalanceStart(threads: number): AutoRebalanceState {
  return { streak: 0, last: new Array<number>(threads).fill(0) };
}

/**
 * One sample of the threads' cumulative loads: whether to rebalance now.
 * The loads taken since the previous sample must be at least
 * AUTO_REBALANCE_MIN_MESSAGES and skewed past AUTO_REBALANCE_TRIGGER, for
 * AUTO_REBALANCE_SAMPLES samples in a row.
 */
export function autoRebalanceStep(
  state: AutoRebalanceState,
  loads: readonly number[],
): { state: AutoRebalanceState; rebalance: boolean; imbalance: number } {
  const delta = loads.map((l, t) => Math.max(0, l - (state.last[t] ?? 0)));
  const total = delta.reduce((a, b) => a + b, 0);
  const skew = imbalance(delta);
  const hot = total >= AUTO_REBALANCE_MIN_MESSAGES && skew > AUTO_REBALANCE_TRIGGER;
  const streak = hot ? state.streak + 1 : 0;
  if (streak >= AUTO_REBALANCE_SAMPLES)
    return { state: autoRebalanceStart(loads.length), rebalance: true, imbalance: skew };
  return { state: { streak, last: [...loads] }, rebalance: false, imbalance: skew };
}
