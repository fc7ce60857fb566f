/**
 * The cluster map of the metrics UI: which worker and which of its threads
 * own each key group, and which groups are moving, put together from the
 * latest report of every worker of one application. Pure.
 *
 * Every worker reports the whole routing table (owners by worker) but only
 * its own groups' threads, so the map takes the table of the highest version
 * any live worker reports, the threads from each owner's own report at that
 * version, and the moving groups of every report at that version. A thread
 * not yet known (its owner has not reported that version) is -1.
 */
import type { MetricsReport } from '../../protocols/index.js';

/** What the map needs of one worker. */
export interface MapWorker {
  readonly name: string;
  /** Scheduler threads, from its hello. */
  readonly threads: number;
  /** Heard from within its silence limit. */
  readonly live: boolean;
  readonly report: MetricsReport | undefined;
}

/** One member of the map. */
export interface MapMember {
  readonly name: string;
  /** Its thread count, if it has reported (0 otherwise). */
  readonly threads: number;
  readonly live: boolean;
}

/** One partition of the map. */
export interface MapPartition {
  readonly name: string;
  /** owner[g] = index in `members` of group g's owner. */
  readonly owner: readonly number[];
  /** thread[g] = the owner's thread of group g, or -1 while unknown. */
  readonly thread: readonly number[];
  /** Groups moving now, ascending. */
  readonly moving: readonly number[];
}

/** The map of one application. */
export interface ClusterMapView {
  /** The routing table's version. */
  readonly version: number;
  readonly members: readonly MapMember[];
  readonly partitions: readonly MapPartition[];
}

/** The map of the workers' latest reports; undefined when none has reported. */
export function clusterMap(workers: readonly MapWorker[]): ClusterMapView | undefined {
  const reporting = workers.filter((w) => w.report !== undefined);
  const pool = reporting.some((w) => w.live) ? reporting.filter((w) => w.live) : reporting;
  let chosen: MetricsReport | undefined;
  for (const w of pool) {
    const r = w.report!;
    if (
      chosen === undefined ||
      r.routing.version > chosen.routing.version ||
      (r.routing.version === chosen.routing.version && r.at > chosen.at)
    ) {
      chosen = r;
    }
  }
  if (chosen === undefined) return undefined;
  const table = chosen.routing;
  const byName = new Map(workers.map((w) => [w.name, w]));
  const members: MapMember[] = table.members.map((name) => {
    const w = byName.get(name);
    return { name, threads: w?.threads ?? 0, live: w?.live ?? false };
  });
  const atVersion = reporting
    .map((w) => w.report!)
    .filter((r) => r.routing.version === table.version);
  const partitions = table.partitions.map((p): MapPartition => {
    const thread = new Array<number>(p.owners.length).fill(-1);
    const moving = new Set<number>(p.moving);
    for (const r of atVersion) {
      const self = r.routing.members.indexOf(r.worker);
      const mine = r.routing.partitions.find((q) => q.name === p.name);
      if (mine === undefined) continue;
      for (const g of mine.moving) if (g < p.owners.length) moving.add(g);
      if (self < 0 || table.members[self] !== r.worker) continue;
      let k = 0;
      mine.owners.forEach((o, g) => {
        if (o !== self) return;
        const t = mine.threads[k++];
        if (t !== undefined && g < thread.length && p.owners[g] === self) thread[g] = t;
      });
    }
    return {
      name: p.name,
      owner: p.owners,
      thread,
      moving: [...moving].sort((a, b) => a - b),
    };
  });
  return { version: table.version, members, partitions };
}
