/**
 * The control API between a worker's main thread and its scheduler threads
 * (comlink RPC over each thread's MessagePort). Control only: data travels
 * over the rings.
 */
import type { GcStats, SchedulerStats } from '../../actors/index.js';
import type { Address } from '../../protocols/index.js';
import type { LocalDirectory, Wiring } from '../routing/index.js';

export type { LocalDirectory, Wiring } from '../routing/index.js';
import type { Placement } from '../topology/placement.js';
import type { ErrorCounts } from '../logging/error-reporter.js';
import type { ThreadCheckpoint, ThreadRestore } from './thread-checkpoint.js';
import type { PeerTraffic } from '../connectors/data-channel.js';
import type { RecorderTake } from './thread-metrics.js';

/** One thread's counters. */
export interface ThreadStats {
  readonly thread: number;
  readonly scheduler: SchedulerStats;
  /** Run-loop iterations, times parked, and the share of time the thread was busy since it started. */
  readonly loop: {
    readonly iterations: number;
    readonly parks: number;
    readonly utilization: number;
  };
  readonly actors: number;
  /** This thread's garbage collections so far. */
  readonly gc: GcStats;
  /** Messages waiting in the thread's mailboxes, and its deepest mailbox. */
  readonly mailboxes: {
    readonly queued: number;
    readonly deepest: number;
    readonly deepestActor: string;
  };
  readonly sources: readonly {
    name: string;
    /** The source's stage in the plan. */
    stage: number;
    received: number;
    bytes: number;
    mutes: number;
    /** True while backpressure keeps it from taking input. */
    muted: boolean;
    finished: boolean;
  }[];
  readonly sinks: readonly { id: number; outputs: number; bytes: number }[];
  readonly encoded: readonly { id: number; received: number; shipped: number }[];
  /** State entities per partition on this thread. */
  readonly entities: Record<string, number>;
  readonly errors: ErrorCounts;
  /** True if nothing is queued or runnable on this thread right now. */
  readonly idle: boolean;
  /**
   * Data channels: messages this thread sent to each worker (by index), and
   * received from others; and the same per peer, by name, with bytes.
   */
  readonly dataChannel: {
    readonly sent: readonly number[];
    readonly received: number;
    readonly out: readonly PeerTraffic[];
    readonly in: readonly PeerTraffic[];
  };
}

/** What a thread hands the main thread once per metrics period (`ThreadControl.metrics`). */
export interface ThreadMetricsTake {
  readonly stats: ThreadStats;
  /** The recorder's histograms since the last take; undefined when metrics are off. */
  readonly recorder: RecorderTake | undefined;
  /** Share of the time since the last take that the thread was busy, 0..1. */
  readonly utilization: number;
}

/** The keys of one key group hosted on a thread (for the external channel's partition query). */
export interface KeyGroupKeys {
  /** Index of the state partition in the plan. */
  readonly partition: number;
  readonly keyGroup: number;
  /** State entities in the group. */
  readonly count: number;
  /** The first `limit` keys of the group, in creation order. */
  readonly keys: readonly string[];
}

/** What each scheduler thread exposes to the main thread. */
export interface ThreadControl {
  /** Spawns the actors placed on this thread, with their state restored from a checkpoint if given. */
  spawn(
    placement: Placement,
    restore?: ThreadRestore,
    generation?: number,
  ): Promise<LocalDirectory>;
  /** Listens for other workers' data channels (one thread per worker does). */
  listenData(address: Address): Promise<Address>;
  /**
   * Compiles every route once the whole cluster's directory is known; in a
   * reconfiguration, then sends on what was held for the moving groups.
   */
  wire(wiring: Wiring): void;
  /** Starts this thread's sources; returns TCP sources' bound addresses by name. */
  start(): Promise<Record<string, string>>;
  /**
   * Takes this thread's part of checkpoint `id`: sources inject the barrier;
   * resolves once every actor here that records something has recorded it.
   * With `holdInput` (a worker leaving the cluster) sources then take no
   * more input until `resumeSources`.
   */
  checkpoint(
    id: number,
    holdInput?: boolean,
    /** Only these key groups ('partition/group') encode their state; the others align only. */
    only?: readonly string[],
  ): Promise<ThreadCheckpoint>;
  /**
   * Prepares a reconfiguration: after the next barrier, what this thread
   * sends to one of `moving` waits here until `wire` installs the new
   * table, and parallel output skips the workers of `leaving`.
   */
  prepareMove(
    moving: readonly { partition: number; keyGroup: number }[],
    leaving: readonly number[],
  ): void;
  /** The epoch bit this thread's actors stamp now. */
  epoch(): number;
  /** Drops key groups that moved to another thread or worker (their actors get no more messages). */
  drop(groups: readonly { partition: number; keyGroup: number }[]): void;
  /**
   * Spawns key groups moved here, their entities restored; returns this
   * thread's actors now. With `epoch` (a joiner, whose actors took no
   * barrier yet) every actor here first takes that epoch bit, so that its
   * actors agree with the cluster's.
   */
  adopt(groups: ThreadRestore['keyGroups'], epoch?: number): LocalDirectory;
  /** Every key group hosted here with the messages it took so far (its load). */
  groupLoads(): { partition: number; keyGroup: number; received: number }[];
  /** Sources read again after a reconfiguration (`checkpoint` with `holdInput`). */
  resumeSources(): void;
  /** Checkpoint `id` committed: sources acknowledge it, exactly-once sinks release its output. */
  commit(id: number): void;
  /** Counters. */
  stats(): ThreadStats;
  /** Counters, and the latency histograms and utilisation since the last call (one caller: the worker's metrics). */
  metrics(): ThreadMetricsTake;
  /** Every key group hosted here with its entity count and first `limit` keys. */
  keys(limit: number): KeyGroupKeys[];
  /**
   * Closes this thread's sources (no new input); with `fatal`, acknowledging
   * senders are told first that nothing more will be acknowledged, and why.
   */
  stopSources(fatal?: { readonly code: string; readonly message: string }): Promise<void>;
  /** Flushes and closes sinks, then stops the run loop. */
  stop(): Promise<void>;
}
