/**
 * A worker's part in a cluster, on its main thread (the cluster actor of
 * docs/architecture.md section 2). Every worker, the initializer included,
 * goes through the same steps when the initializer says so:
 *   assign  -> spawn the actors of its share, report them (`spawned`);
 *   wire    -> compile routes with the whole cluster's directory, open data
 *              channels to every other worker (`wired`);
 *   start   -> start its sources (`ready`);
 * and later, when the cluster grows, shrinks or rebalances, the steps of a
 * reconfiguration (migrate, migrate-in, reconfigure, resume).
 * member.ts holds what a worker does on each word; member-node.ts connects a
 * member to the initializer; initializer-node.ts runs the control server,
 * the start-up coordinator (coordinator.ts), the reconfigurations
 * (reconfiguration-driver.ts) and, with resilience, the checkpoint driver.
 * The initializer takes part itself without a socket: its own messages are
 * handled in process. There is no central manager on the data path.
 */
import {
  ErrorCode,
  formatAddress,
  RooError,
  type Address,
  type ShrinkOutcome,
  type ShrinkRequest,
  type WireThreadMove,
} from '../../protocols/index.js';
import type { SnapshotStore } from '../checkpoint/snapshot-store.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import type { ChannelSecurity } from '../security/index.js';
import type { WorkerLifecycle } from './lifecycle-executor.js';
import { imbalance, planThreadMoves, threadLoads } from '../topology/rebalance.js';
import { startInitializerNode } from './initializer-node.js';
import { ClusterMember } from './member.js';
import { startMemberNode } from './member-node.js';
import type { RebalanceOutcome } from './reconfiguration-driver.js';

/** How this worker takes part. */
export interface ClusterNodeOptions {
  readonly name: string;
  readonly engine: Engine;
  readonly log: Logger;
  /**
   * The worker's one lifecycle: the node reports rollbacks, places,
   * restores, reconfigurations, leaves and the cluster's shutdown to it, and
   * does nothing it refuses. Its `shut-down` (initializer) and
   * `relay-shutdown` (member) decisions are the node's to carry out.
   */
  readonly lifecycle: WorkerLifecycle;
  /**
   * Initializer: listen here (none for a worker alone without --control:
   * a cluster of one that nobody can join). Others: the initializer's
   * control address (joining: any member's).
   */
  readonly control: Address | undefined;
  /** This worker's data address (the initializer's --data, others' --my-data; none: no data channel). */
  readonly data: Address | undefined;
  /** This worker's control address (others' --my-control; informational). */
  readonly myControl: Address | undefined;
  /** This worker's external address (`--external`, when its port is given), told to every member. */
  readonly external?: Address;
  /** Set on the initializer: workers to wait for, itself included. */
  readonly initializer: { readonly workerCount: number } | undefined;
  /** Where cluster information is kept (`--resilience-dir`). */
  readonly resilienceDir: string;
  /** True when this worker found its cluster information: a restart, rejoining. */
  readonly rejoin: boolean;
  /**
   * The cluster's id (`--cluster-id`, or the one saved by an earlier run). The
   * initializer gives a new cluster this id, or makes one up; a member
   * refuses a cluster of another id.
   */
  readonly clusterId?: string;
  /** Started with --join: asks to join the running cluster at `control` (any member's control address). */
  readonly join?: boolean;
  /** With `join`: how many workers join together (their `--worker-count`); 1 alone. */
  readonly joinCount?: number;
  /**
   * Called when the cluster is formed and this worker's sources run (again,
   * after a rollback): the lifecycle's `joined`.
   */
  readonly onReady: () => void;
  /** Aborts joining (a member still connecting to the initializer gives up at once). */
  readonly signal?: AbortSignal;
  /** Called when the cluster cannot form or tells this worker to stop. */
  readonly onFatal: (error: RooError) => void;
  /** Set with `--run-with-resilience`. */
  readonly resilience?: ClusterResilience;
  /** The cluster secret and TLS of the control channel (the data channels have theirs from the engine). */
  readonly security?: ChannelSecurity;
  /** `--heartbeat-timeout`, ms. */
  readonly heartbeatTimeoutMs?: number;
}

/** What a worker needs for checkpoints and rollbacks. */
export interface ClusterResilience {
  readonly store: SnapshotStore;
  /** `--time-between-checkpoints`, in ms (used by the coordinator). */
  readonly intervalMs: number;
  /** Drops the running engine and prepares a fresh one (a rollback). */
  readonly replaceEngine: () => Promise<Engine>;
  /** A restarted initializer: the cluster's workers in their saved order. */
  readonly order?: readonly string[];
}

/** The cluster as a worker knows it, for `roo status`. */
export interface ClusterView {
  readonly clusterId: string;
  /** The routing table's version. */
  readonly routingVersion: number;
  /** Key groups each member owns, by name. */
  readonly keyGroups: Readonly<Record<string, number>>;
  /** owners[partition][keyGroup] = index of the owning member (the routing table), for metrics. */
  readonly owners?: readonly (readonly number[])[];
  /** The members' external addresses, by name (those that have one). */
  readonly externals?: Readonly<Record<string, string>>;
  /** The reconfiguration under way, if any (with the key groups that move, on the initializer). */
  readonly reconfiguration: {
    readonly id: number;
    readonly phase: string;
    readonly moving?: number;
  } | null;
}

/** A running cluster node. */
export interface ClusterNode {
  /** This worker's bound data and control addresses (none when it does not listen there). */
  readonly data: Address | undefined;
  readonly control: Address | undefined;
  /** Names of the cluster's workers, by worker index (empty before assignment). */
  members(): readonly string[];
  /** This worker's engine now (a rollback replaces it). */
  engine(): Engine;
  /** The cluster as this worker knows it. */
  view(): ClusterView;
  /** Spreads this worker's key groups over its threads by measured load (a reconfiguration). */
  rebalance(): Promise<RebalanceOutcome>;
  /** Asks the coordinator to shrink the cluster (or only which workers may leave). */
  shrink(request: ShrinkRequest): Promise<ShrinkOutcome>;
  /**
   * `roo shutdown` asked at this worker: the coordinator's answer (refused:
   * why not), and what to do once the asker has it (the initializer begins
   * the shutdown then; a member has nothing left to do, the initializer
   * orders every member to stop).
   */
  shutdown(reason: string): Promise<ShutdownAnswer>;
  /** Closes the control channel. */
  close(): Promise<void>;
}

/** The answer to `roo shutdown` asked at a worker. */
export interface ShutdownAnswer {
  /** Why the cluster does not shut down now (its coordinator's lifecycle refused). */
  readonly refused?: RooError;
  /** To run once the asker has been answered (not named `then`: the answer is awaited). */
  readonly afterAnswer: () => void;
}

/** What both kinds of node share: the data address, the member, and the planner of thread moves. */
export interface NodeShared {
  readonly data: Address | undefined;
  readonly member: ClusterMember;
  /** Plans this worker's thread moves from its measured loads and has `run` carry them out. */
  readonly rebalanceWith: (
    run: (moves: WireThreadMove[]) => Promise<RebalanceOutcome>,
  ) => Promise<RebalanceOutcome>;
}

/** Joins (or, on the initializer, forms) the cluster. */
export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const { log } = o;
  const data = o.data === undefined ? undefined : await o.engine.listenData(o.data);
  if (data !== undefined) log.info(`data channel listening on ${formatAddress(data)}`);
  const member = new ClusterMember(o, data);
  const rebalanceWith: NodeShared['rebalanceWith'] = async (run) => {
    const e = member.engine;
    const groups = await e.groupLoads();
    const before = imbalance(threadLoads(groups, e.threads));
    const moves = planThreadMoves(groups, e.threads).map((m) => ({
      worker: o.name,
      partition: e.plan.partitions[m.partition]?.name ?? '',
      keyGroup: m.keyGroup,
      thread: m.to,
    }));
    if (moves.length === 0)
      return {
        ok: true,
        message: `nothing to move: the busiest thread carries ${before.toFixed(2)}x the mean load`,
      };
    log.info(
      `rebalancing threads: the busiest carries ${before.toFixed(2)}x the mean load; moving ${moves.length} key groups`,
    );
    const outcome = await run(moves);
    if (!outcome.ok) return outcome;
    await e.resetLoads();
    const message = `the busiest thread carried ${before.toFixed(2)}x the mean load; ${outcome.message}`;
    return { ...outcome, message };
  };
  const shared = { data, member, rebalanceWith };
  if (o.initializer !== undefined)
    return startInitializerNode(o, shared, o.initializer.workerCount);
  if (o.control === undefined)
    throw new RooError(
      ErrorCode.BadFlag,
      'a member needs the control address of its cluster (--control, or --join)',
    );
  return startMemberNode(o, shared, o.control);
}

/** The control channel's heartbeat setting, as the transport takes it. */
export function heartbeatOf(o: ClusterNodeOptions): { heartbeatTimeoutMs?: number } {
  return o.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: o.heartbeatTimeoutMs };
}

/** An error as the RooError a node reports. */
export function asFatal(err: unknown): RooError {
  return err instanceof RooError ? err : new RooError(ErrorCode.Internal, (err as Error).message);
}
