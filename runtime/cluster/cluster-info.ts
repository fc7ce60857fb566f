/**
 * A worker's cluster information under `--resilience-dir`: which cluster it
 * belongs to, its place, and the initializer's control address. A worker
 * restarted with the same command finds it and rejoins the running cluster.
 * Files are named after the application and the worker, and carry the
 * application's plan fingerprint, so the leftovers of another cluster (or
 * another build of the application) are detected and refused with a message
 * that says how to clean up. Written atomically (temp file, fsync, rename);
 * removed on a clean shutdown of the cluster.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { workerFileStem, writeDurably } from '../connectors/durable-file.js';
import { ErrorCode, RooError, type Address } from '../../protocols/index.js';
import type { Layout } from './reconfiguration.js';

/** What a worker remembers about its cluster. */
export interface ClusterInfo {
  readonly version: 1;
  readonly application: string;
  readonly applicationHash: string;
  readonly worker: string;
  readonly workerIndex: number;
  readonly workers: readonly string[];
  /** The initializer's control address. */
  readonly control: Address;
  /** The id the cluster's workers agreed on at start-up (absent in files of older builds). */
  readonly clusterId?: string;
  readonly savedAt: string;
}

/** The file of `worker`'s cluster information for `application` in `dir`. */
export function clusterInfoPath(dir: string, application: string, worker: string): string {
  return `${workerFileStem(dir, application, worker)}.cluster.json`;
}

/** Writes the cluster information atomically. */
export function saveClusterInfo(dir: string, info: ClusterInfo): string {
  const path = clusterInfoPath(dir, info.application, info.worker);
  writeDurably(path, JSON.stringify(info, null, 2) + '\n');
  return path;
}

/**
 * Reads this worker's cluster information, if any. Throws
 * ROO_ERR_STALE_RESILIENCE, saying what to remove, for a file that is not
 * readable or belongs to another build of the application.
 */
export function loadClusterInfo(
  dir: string,
  application: string,
  applicationHash: string,
  worker: string,
): ClusterInfo | undefined {
  const path = clusterInfoPath(dir, application, worker);
  if (!existsSync(path)) return undefined;
  const stale = (why: string) =>
    new RooError(
      ErrorCode.StaleResilience,
      `${why} in ${path}; if it is a leftover of an earlier cluster, remove it (rm ${path}) or start with another --resilience-dir`,
      { path },
    );
  let info: unknown;
  try {
    info = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw stale(`unreadable cluster information (${(err as Error).message})`);
  }
  const i = info as Partial<ClusterInfo>;
  if (
    typeof info !== 'object' ||
    info === null ||
    i.version !== 1 ||
    typeof i.applicationHash !== 'string' ||
    typeof i.workerIndex !== 'number' ||
    typeof i.control !== 'object' ||
    !Array.isArray(i.workers)
  ) {
    throw stale('malformed cluster information');
  }
  if (i.applicationHash !== applicationHash || i.worker !== worker) {
    throw stale(
      `cluster information of another cluster (application '${String(i.application)}' build ${i.applicationHash}, worker '${String(i.worker)}', saved ${String(i.savedAt)})`,
    );
  }
  return info as ClusterInfo;
}

/** Removes this worker's cluster information (a clean shutdown). */
export function removeClusterInfo(dir: string, application: string, worker: string): void {
  rmSync(clusterInfoPath(dir, application, worker), { force: true });
}

/** The layout (members, routing table) each committed checkpoint was taken under, by id. */
export interface SavedLayouts {
  readonly version: 1;
  readonly layouts: readonly { readonly checkpoint: number; readonly layout: Layout }[];
}

/** The initializer's file of layouts by checkpoint. */
function layoutsPath(dir: string, application: string): string {
  return clusterInfoPath(dir, application, 'initializer').replace(
    /\.cluster\.json$/,
    '.layouts.json',
  );
}

/**
 * Records, durably, the layout checkpoint `checkpoint` was taken under (the
 * initializer, at each commit), keeping those of `keep` only: a rollback to a
 * checkpoint restores its layout with its state.
 */
export function saveLayout(
  dir: string,
  application: string,
  checkpoint: number,
  layout: Layout,
  keep: readonly number[],
): void {
  const old = loadLayouts(dir, application).filter(
    (x) => x.checkpoint !== checkpoint && keep.includes(x.checkpoint),
  );
  const saved: SavedLayouts = { version: 1, layouts: [...old, { checkpoint, layout }] };
  writeDurably(layoutsPath(dir, application), JSON.stringify(saved) + '\n');
}

/** The layouts recorded by {@link saveLayout} (none if the file is absent or unreadable). */
export function loadLayouts(
  dir: string,
  application: string,
): readonly { readonly checkpoint: number; readonly layout: Layout }[] {
  const path = layoutsPath(dir, application);
  if (!existsSync(path)) return [];
  try {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<SavedLayouts>;
    return saved.version === 1 && Array.isArray(saved.layouts) ? saved.layouts : [];
  } catch {
    return [];
  }
}

/**
 * The layout of checkpoint `checkpoint`: the one recorded at its commit, or
 * else the newest recorded before it (no reconfiguration ran in between).
 */
export function layoutOf(
  layouts: readonly { readonly checkpoint: number; readonly layout: Layout }[],
  checkpoint: number,
): Layout | undefined {
  let best: { checkpoint: number; layout: Layout } | undefined;
  for (const x of layouts)
    if (x.checkpoint <= checkpoint && (best === undefined || x.checkpoint > best.checkpoint))
      best = x;
  return best?.layout;
}

/** Removes the initializer's layouts (a clean shutdown). */
export function removeLayouts(dir: string, application: string): void {
  rmSync(layoutsPath(dir, application), { force: true });
}
