/**
 * A worker's stream engine, main-thread side: loads and plans the
 * application, starts the scheduler threads, has each spawn the actors placed
 * on it, hands every thread the merged directory, and starts the sources.
 * The main thread does no per-message work; it coordinates and reports.
 * Beside it: its settings and summed counters (engine-options.ts), the
 * assembly and split of snapshots (engine-snapshot.ts) and where moved key
 * groups go between threads (engine-moves.ts).
 */
import { availableParallelism } from 'node:os';
import { ThreadPool } from '../../actors/index.js';
import { createHash } from 'node:crypto';
import {
  ErrorCode,
  RooError,
  type Address,
  type Snapshot,
  type WorkerDirectory,
} from '../../protocols/index.js';
import type { ThreadCheckpoint, ThreadRestore } from './thread-checkpoint.js';
import { assignKeyGroups, mergeDirectories } from '../routing/index.js';
import { buildPlan, describePlan, type Plan } from '../topology/plan.js';
import {
  placePlan,
  placeWorkerShare,
  runsSourceOn,
  type Placement,
} from '../topology/placement.js';
import type { GroupLoad } from '../topology/rebalance.js';
import { buildApplication, loadApplicationModule } from './app-loader.js';
import {
  metricsByDefault,
  sumStats,
  threadEntry,
  type EngineOptions,
  type EngineStats,
} from './engine-options.js';
import { placeMovedIn, placeMovedOut, threadsOf } from './engine-moves.js';
import { assembleSnapshot, placeRestored, threadRestores } from './engine-snapshot.js';
import {
  type KeyGroupKeys,
  type ThreadControl,
  type ThreadMetricsTake,
  type Wiring,
} from './thread-control.js';
import type { ThreadAppData } from './thread-main.js';
import { OPEN_CHANNELS } from '../security/index.js';

// Callers import the engine's settings and totals from here.
export { metricsByDefault, type EngineOptions, type EngineStats } from './engine-options.js';

/** A worker's engine: its scheduler threads and the actors of its share of the plan. */
export class Engine {
  /** TCP sources' bound addresses, by source name (after `startSources`). */
  listening: Record<string, string> = {};
  /** Where this worker's share is placed (after `spawn`). */
  placement: Placement;
  /** The wiring of the last `wire` (a rebalance rewires with new directories). */
  private wiring: Wiring | undefined;
  /** Each key group's message count at the last `resetLoads`. */
  private readonly loadBase = new Map<string, number>();

  private constructor(
    /** The plan every thread runs. */
    readonly plan: Plan,
    private readonly pool: ThreadPool<ThreadControl>,
    /** Scheduler threads of this worker. */
    readonly threads: number,
    /** Set when a scheduler thread died: it answers no more calls. */
    private readonly failed: { readonly thread: boolean },
    /** The worker's reaction to an error it cannot go on with (EngineOptions.onFatal). */
    private readonly onFatal: (error: Error & { code?: string }) => void = () => undefined,
  ) {
    this.placement = placePlan(plan, threads);
  }

  /**
   * A fingerprint of the application's plan (stages, routes, partitions and
   * their key groups, sinks): workers of one cluster must agree on it.
   */
  get applicationHash(): string {
    const h = createHash('sha256');
    for (const line of describePlan(this.plan)) h.update(line + '\n');
    for (const p of this.plan.partitions) h.update(`${p.name}:${p.grouper.groups}\n`);
    return h.digest('hex').slice(0, 16);
  }

  /** Loads and plans the application and starts the scheduler threads (no actors yet). */
  static async prepare(options: EngineOptions): Promise<Engine> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new RooError(
        ErrorCode.BadFlag,
        `--ponythreads must be an integer from 1 to 256, got ${threads}`,
      );
    }
    const fn = await loadApplicationModule(options.modulePath);
    const plan = buildPlan(buildApplication(fn, options.args));
    const log = options.log;
    log.info(
      `Application '${plan.application}': ${plan.stages.length} stages on ${threads} scheduler threads`,
    );
    for (const line of describePlan(plan)) log.debug(line);
    const { entry, argv } = threadEntry();
    const failed = { thread: false };
    let reported = false;
    const fatal = (err: Error & { code?: string }): void => {
      if (reported) return;
      reported = true;
      options.onFatal?.(err);
    };
    const pool = await ThreadPool.start<ThreadControl, ThreadAppData>({
      threads,
      entry,
      ...(argv === undefined ? {} : { argv }),
      appData: {
        modulePath: options.modulePath,
        args: options.args,
        workerName: options.workerName,
        resilient: options.resilient === true,
        security: options.security ?? OPEN_CHANNELS,
        metrics: options.metrics ?? metricsByDefault(),
      },
      ...(options.ringBytes === undefined ? {} : { ringBytes: options.ringBytes }),
      youngGenerationMb: options.youngGenerationMb ?? Number(process.env['ROO_YOUNG_GEN_MB'] ?? 64),
      onThreadError: (thread, err) => {
        failed.thread = true;
        log.fatal(`scheduler thread ${thread} failed: ${err.message}`);
        options.onFatal?.(err);
      },
      // The thread still runs: the worker stops cleanly, telling its senders why.
      onThreadFatal: (_thread, err) => fatal(err),
    });
    return new Engine(plan, pool, threads, failed, fatal);
  }

  /**
   * Spawns, wires and starts a prepared engine on its own, without a
   * cluster node: the benchmarks' in-process engine. (`roo worker` alone
   * runs the cluster node of a cluster of one, which does the same steps.)
   */
  async runAlone(workerName: string, restore?: Snapshot): Promise<void> {
    const owners = assignKeyGroups(this.plan, 1);
    const directory = await this.spawn(
      placeWorkerShare(this.plan, {
        me: 0,
        threads: [this.threads],
        owners,
        runsSource: (stage) => runsSourceOn(this.plan, stage, 0),
      }),
      0,
      restore,
    );
    await this.wire({
      me: 0,
      members: [{ name: workerName, data: { host: '127.0.0.1', port: 1 }, threads: this.threads }],
      owners,
      directories: [directory],
    });
    await this.startSources();
  }

  /**
   * Spawns the actors of this worker's share, their state restored from
   * `restore` if given; returns this worker's directory. `generation` is the
   * cluster's rollback generation (data of another is refused).
   */
  async spawn(placement: Placement, generation = 0, restore?: Snapshot): Promise<WorkerDirectory> {
    // A restore puts each key group back on the thread it had at its checkpoint.
    const placed =
      restore === undefined
        ? placement
        : placeRestored(this.plan, this.threads, placement, restore);
    this.placement = placed;
    const restores =
      restore === undefined ? undefined : threadRestores(this.plan, this.threads, placed, restore);
    const locals = await Promise.all(
      this.pool.remotes.map((r, t) => r.spawn(placed, restores?.[t], generation)),
    );
    return mergeDirectories(locals);
  }

  /**
   * Takes this worker's part of checkpoint `id`: sources inject barrier `id`
   * in band, and every key group, source and sink writer records its part.
   * Resolves with the snapshot to write; rejects with ROO_ERR_SNAPSHOT_ENCODE_FAILED
   * if a state could not be encoded.
   */
  async checkpoint(id: number, worker: string): Promise<Snapshot> {
    return this.snapshotOf(
      id,
      worker,
      await Promise.all(this.pool.remotes.map((r) => r.checkpoint(id))),
    );
  }

  /** Assembles the threads' parts of barrier `id` into this worker's snapshot. */
  private snapshotOf(id: number, worker: string, parts: readonly ThreadCheckpoint[]): Snapshot {
    const errors = parts.flatMap((p) => p.errors);
    if (errors.length > 0) {
      // No checkpoint can commit while this state is held: the worker stops rather than retry forever.
      const err = new RooError(ErrorCode.SnapshotEncodeFailed, errors[0] as string);
      this.onFatal(err);
      throw err;
    }
    return assembleSnapshot(this.plan, this.applicationHash, id, worker, parts);
  }

  /**
   * Prepares a reconfiguration on every thread: after its barrier, what is
   * sent to one of `moving` waits on the sending thread until `wire`
   * installs the new table, and parallel output skips the workers of
   * `leaving` (indices in the table now). Every worker prepares before any
   * injects the barrier (engine/move-hold.ts).
   */
  async prepareMove(
    moving: readonly { partition: number; keyGroup: number }[],
    leaving: readonly number[],
  ): Promise<void> {
    await Promise.all(this.pool.remotes.map((r) => r.prepareMove(moving, leaving)));
  }

  /**
   * A reconfiguration's barrier: sources inject barrier `id`; resolves,
   * like `checkpoint`, once every actor of this worker has aligned it, with
   * every key group's state (or only `only`'s). With `holdSources` (this
   * worker leaves) sources then take no more input; else they read on.
   */
  async quiesce(
    id: number,
    worker: string,
    /** Only these key groups need their state in the snapshot (all when undefined). */
    only?: readonly { partition: number; keyGroup: number }[],
    holdSources = false,
  ): Promise<Snapshot> {
    const keys = only?.map((g) => `${g.partition}/${g.keyGroup}`);
    return this.snapshotOf(
      id,
      worker,
      await Promise.all(this.pool.remotes.map((r) => r.checkpoint(id, holdSources, keys))),
    );
  }

  /** The epoch bit this worker's actors stamp now (the same on every thread between barriers). */
  async epoch(): Promise<number> {
    return (await this.pool.remotes[0]?.epoch()) ?? 0;
  }

  /** Key groups that moved away: their actors here get no more messages and forget their state. */
  async moveOut(groups: readonly { partition: number; keyGroup: number }[]): Promise<void> {
    const byThread = threadsOf(this.placement, this.threads, groups);
    this.placement = placeMovedOut(this.placement, groups);
    await Promise.all(this.pool.remotes.map((r, t) => r.drop(byThread[t] ?? [])));
  }

  /**
   * Key groups that moved here, with their state: each goes to the thread
   * `threadOf` names, or else to the thread hosting the fewest groups of its
   * partition. Resolves with this worker's whole directory now.
   */
  async moveIn(
    groups: ThreadRestore['keyGroups'],
    threadOf: (partition: number, keyGroup: number) => number | undefined = () => undefined,
    /** The cluster's epoch bit after the barrier (a joiner's actors take it; the others have it). */
    epoch?: number,
  ): Promise<WorkerDirectory> {
    const moved = placeMovedIn(this.placement, this.threads, groups, threadOf);
    this.placement = moved.placement;
    const { perThread } = moved;
    return mergeDirectories(
      await Promise.all(this.pool.remotes.map((r, t) => r.adopt(perThread[t] ?? [], epoch))),
    );
  }

  /**
   * Each key group's load (messages taken since the last `resetLoads`) and
   * thread, for rebalancing.
   */
  async groupLoads(): Promise<GroupLoad[]> {
    const all = await Promise.all(this.pool.remotes.map((r) => r.groupLoads()));
    return all.flatMap((groups, thread) =>
      groups.map((g) => ({
        partition: g.partition,
        keyGroup: g.keyGroup,
        thread,
        load: g.received - (this.loadBase.get(`${g.partition}/${g.keyGroup}`) ?? 0),
      })),
    );
  }

  /** Loads count from now on (after a rebalance). */
  async resetLoads(): Promise<void> {
    const all = await Promise.all(this.pool.remotes.map((r) => r.groupLoads()));
    this.loadBase.clear();
    for (const groups of all)
      for (const g of groups) this.loadBase.set(`${g.partition}/${g.keyGroup}`, g.received);
  }

  /** Ends a reconfiguration: sources that held their input read again. */
  async resumeSources(): Promise<void> {
    await Promise.all(this.pool.remotes.map((r) => r.resumeSources()));
  }

  /** Checkpoint `id` committed: sources acknowledge it, exactly-once sinks release its output. */
  async commit(id: number): Promise<void> {
    await Promise.all(this.pool.remotes.map((r) => r.commit(id)));
  }

  /** Listens for the other workers' data channels (on thread 0); resolves with the bound address. */
  listenData(address: Address): Promise<Address> {
    return (this.pool.remotes[0] as (typeof this.pool.remotes)[number]).listenData(address);
  }

  /** Compiles every thread's routes with the cluster's directory and opens data channels. */
  async wire(wiring: Wiring): Promise<void> {
    this.wiring = wiring;
    await Promise.all(this.pool.remotes.map((r) => r.wire(wiring)));
  }

  /** Starts this worker's sources; resolves once TCP sources listen. */
  async startSources(): Promise<Record<string, string>> {
    const started = await Promise.all(this.pool.remotes.map((r) => r.start()));
    this.listening = Object.assign({}, ...started) as Record<string, string>;
    return this.listening;
  }

  /** Stops the threads at once (a failed start-up). */
  async terminate(): Promise<void> {
    await this.pool.terminate();
  }

  /** Counters summed over threads. */
  async stats(): Promise<EngineStats> {
    const threads = await Promise.all(this.pool.remotes.map((r) => r.stats()));
    return sumStats(threads);
  }

  /**
   * Every thread's counters, latency histograms and utilisation since the
   * last call, by thread. One caller only (the worker's metrics collector,
   * runtime/metrics/): each call starts the threads' next period.
   */
  metrics(): Promise<ThreadMetricsTake[]> {
    return Promise.all(this.pool.remotes.map((r) => r.metrics()));
  }

  /** Per thread, every key group it hosts with its entity count and first `limit` keys. */
  async keys(limit: number): Promise<{ thread: number; groups: KeyGroupKeys[] }[]> {
    const all = await Promise.all(this.pool.remotes.map((r) => r.keys(limit)));
    return all.map((groups, thread) => ({ thread, groups }));
  }

  /**
   * Stops sources, lets queued messages drain (up to `drainMs`), closes
   * sinks, stops threads. With `fatal` (the worker stops for an error a
   * restart would meet again), acknowledging senders are told why first.
   */
  async stop(
    drainMs = 2_000,
    fatal?: { readonly code: string; readonly message: string },
  ): Promise<void> {
    // A dead thread never answers: stop at once rather than wait forever.
    if (this.failed.thread) return this.pool.terminate();
    const reason = fatal === undefined ? undefined : { code: fatal.code, message: fatal.message };
    await Promise.all(this.pool.remotes.map((r) => r.stopSources(reason)));
    const until = Date.now() + drainMs;
    let last = -1;
    while (Date.now() < until) {
      const s = await this.stats();
      if (s.threads.every((t) => t.idle) && s.encoded === last) break;
      last = s.encoded;
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(this.pool.remotes.map((r) => r.stop()));
    await this.pool.terminate();
  }
}
