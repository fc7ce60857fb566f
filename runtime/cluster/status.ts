/**
 * What the external channel reports about a worker: its status, where its
 * key groups and keys are (partition query), and how many state entities it
 * holds (entity counts): the records' shapes, and how they are built. The
 * partition query and entity counts are in status-partitions.ts (re-exported
 * here); this file has the status itself and the collectors of all three.
 *
 * Decide in pure functions, act at the edge: `buildStatus`,
 * `buildPartitionQuery` and `buildEntityCounts` turn facts (the plan, the
 * placement, the threads' counters and keys) into plain JSON-ready records.
 * Only the three `collect...` functions at the bottom do I/O (they ask a
 * running engine for its facts). Checking a record that came over the wire
 * is in status-check.ts; the tables `roo status` prints are in
 * status-format.ts.
 *
 * Every record names the worker each fact is about, and the status lists the
 * cluster's members, so the same shapes serve a cluster of several workers.
 */
import { workerEvents } from '../engine/worker-events.js';
import type { EngineStats } from '../engine/engine.js';
import type { ClusterView } from './cluster-node.js';
import type { StatusMetrics } from './status-latency.js';

export type { LatencySummary, StatusMetrics } from './status-latency.js';
import {
  buildEntityCounts,
  buildPartitionQuery,
  sum,
  type EntityCounts,
  type PartitionQuery,
} from './status-partitions.js';

// The partition query and entity counts, where callers have always taken them.
export {
  buildEntityCounts,
  buildPartitionQuery,
  DEFAULT_KEYS_PER_GROUP,
  keysPerGroupArg,
  MAX_KEYS_PER_GROUP,
  type EntityCount,
  type EntityCounts,
  type KeyGroupReport,
  type PartitionFacts,
  type PartitionQuery,
  type PartitionReport,
} from './status-partitions.js';
import type { KeyGroupKeys } from '../engine/thread-control.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';

// ---------------------------------------------------------------------------
// Records.

/** A member of the cluster, as the status reports it. */
export interface MemberStatus {
  readonly name: string;
  /** Its external channel address, if it has one. */
  readonly external: string | null;
  /** True for the worker that answered. */
  readonly self: boolean;
  /** Key groups it owns, as the answering worker's routing table says. */
  readonly keyGroups: number;
}

/** The cluster around the answering worker. */
export interface ClusterStatus {
  /** The id its workers agreed on at start-up ('' for a worker alone). */
  readonly id: string;
  readonly members: readonly MemberStatus[];
  /** The reconfiguration (grow, shrink) under way: its barrier id, phase, and on the initializer the key groups that move. */
  readonly reconfiguration: {
    readonly id: number;
    readonly phase: string;
    readonly moving?: number;
  } | null;
}

/** Where the answering worker is in its lifecycle (runtime/cluster/worker-lifecycle.ts). */
export interface LifecycleStatus {
  /** starting, joining, recovering, running, reconfiguring, leaving, shutting-down or stopped. */
  readonly phase: string;
  /** alone, initializer, member or joiner. */
  readonly role: string;
  /** The phase in words, with what it is about (`recovering (checkpoint 7)`). */
  readonly description: string;
}

/** One scheduler thread's counters. */
export interface ThreadStatus {
  readonly thread: number;
  readonly actors: number;
  readonly idle: boolean;
  /** Share of time busy since the thread started, 0..1. */
  readonly utilization: number;
  readonly turns: number;
  readonly delivered: number;
  /** Of `delivered`: handed to an idle actor at once, without its mailbox. */
  readonly direct: number;
  /** Messages waiting in the thread's mailboxes now, and in its deepest one. */
  readonly queued: number;
  readonly deepestMailbox: number;
  /** Garbage collection pauses of the thread so far: total and longest, ms. */
  readonly gcMs: number;
  readonly gcLongestMs: number;
  readonly sentLocal: number;
  readonly sentRemote: number;
  readonly batchesIn: number;
  readonly batchesOut: number;
  readonly parks: number;
  /** State entities on this thread, over all partitions. */
  readonly entities: number;
  /** Messages this thread sent to other workers over data channels. */
  readonly sentToWorkers: number;
  /** Messages received from other workers (on the thread that listens for data). */
  readonly receivedFromWorkers: number;
}

/** A source of the application on this worker. */
export interface SourceStatus {
  readonly name: string;
  readonly kind: string;
  /** Bound address of a TCP source. */
  readonly listening: string | null;
  readonly threads: readonly number[];
  readonly received: number;
  readonly bytes: number;
  readonly mutes: number;
  readonly finished: boolean;
}

/** A sink of the application on this worker. */
export interface SinkStatus {
  readonly id: number;
  readonly name: string;
  readonly kind: string;
  /** Where it writes: an address, a path, `stdout`, or null for a null sink. */
  readonly target: string | null;
  /** Thread of its writer. */
  readonly thread: number;
  readonly outputs: number;
  readonly bytes: number;
}

/** A state partition in the status. */
export interface PartitionSummary {
  readonly name: string;
  readonly keyGroups: number;
  readonly entities: number;
}

/** The answer to `status`. */
export interface WorkerStatus {
  readonly worker: string;
  readonly application: string;
  readonly pid: number;
  /** When the worker became ready, ISO 8601. */
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly threads: number;
  /** Version of the routing table (key group -> owner). */
  readonly routingVersion: number;
  /** Its lifecycle; null from a worker of an older build. */
  readonly lifecycle: LifecycleStatus | null;
  readonly cluster: ClusterStatus;
  readonly totals: {
    readonly received: number;
    readonly written: number;
    readonly encoded: number;
    readonly entities: number;
  };
  readonly threadStats: readonly ThreadStatus[];
  readonly sources: readonly SourceStatus[];
  readonly sinks: readonly SinkStatus[];
  readonly partitions: readonly PartitionSummary[];
  /** Errors by code and place. */
  readonly errors: Readonly<Record<string, number>>;
  /** The newest checkpoint this worker knows committed (0: none, or no resilience). */
  readonly lastCheckpoint: number;
  /** The last metrics period; null before the first (2 s after start) or from a worker without it. */
  readonly metrics: StatusMetrics | null;
}

// ---------------------------------------------------------------------------
// Pure builders.

/** What the status is made of. */
export interface StatusFacts {
  readonly worker: string;
  readonly pid: number;
  readonly startedAtMs: number;
  readonly nowMs: number;
  /** This worker's external address, if any. */
  readonly external: string | null;
  readonly plan: Pick<Plan, 'application' | 'stages' | 'partitions' | 'sinks'>;
  readonly placement: Placement;
  /** TCP sources' bound addresses by source name. */
  readonly listening: Readonly<Record<string, string>>;
  readonly stats: EngineStats;
  /** Names of every worker of the cluster (default: this worker alone). */
  readonly members?: readonly string[];
  /** The cluster as this worker knows it, when it is in one. */
  readonly cluster?: ClusterView;
  /** External addresses of the members, by name, as the control channel told them. */
  readonly externals?: Readonly<Record<string, string>>;
  /** The newest committed checkpoint (default 0). */
  readonly lastCheckpoint?: number;
  /** The last metrics period, if any. */
  readonly metrics?: StatusMetrics;
  /** Where the worker is in its lifecycle. */
  readonly lifecycle?: LifecycleStatus;
}

function sinkTarget(config: Plan['sinks'][number]['config']): string | null {
  switch (config.kind) {
    case 'tcp-sink':
      return `${config.address.host}:${config.address.port}`;
    case 'file-sink':
      return config.path;
    case 'stdout-sink':
      return 'stdout';
    case 'null-sink':
      return null;
  }
}

/** Builds the answer to `status` from a worker's facts. */
export function buildStatus(f: StatusFacts): WorkerStatus {
  const threads = f.stats.threads;
  const sources: SourceStatus[] = [];
  for (const stage of f.plan.stages) {
    if (stage.kind !== 'source') continue;
    const name = stage.source.name;
    const mine = threads.flatMap((t) => t.sources.filter((s) => s.name === name));
    sources.push({
      name,
      kind: stage.source.kind,
      listening: f.listening[name] ?? null,
      threads: [...(f.placement.sourceThreads.get(stage.id) ?? [])],
      received: sum(mine.map((s) => s.received)),
      bytes: sum(mine.map((s) => s.bytes)),
      mutes: sum(mine.map((s) => s.mutes)),
      finished: mine.length > 0 && mine.every((s) => s.finished),
    });
  }
  const sinks: SinkStatus[] = f.plan.sinks.map((sink) => {
    const mine = threads.flatMap((t) => t.sinks.filter((s) => s.id === sink.id));
    return {
      id: sink.id,
      name: sink.config.name,
      kind: sink.config.kind,
      target: sinkTarget(sink.config),
      thread: f.placement.sinkThread[sink.id] ?? 0,
      outputs: sum(mine.map((s) => s.outputs)),
      bytes: sum(mine.map((s) => s.bytes)),
    };
  });
  const partitions: PartitionSummary[] = f.plan.partitions.map((p) => ({
    name: p.name,
    keyGroups: p.grouper.groups,
    entities: sum(threads.map((t) => t.entities[p.name] ?? 0)),
  }));
  return {
    worker: f.worker,
    application: f.plan.application,
    pid: f.pid,
    startedAt: new Date(f.startedAtMs).toISOString(),
    uptimeMs: Math.max(0, Math.round(f.nowMs - f.startedAtMs)),
    threads: threads.length,
    routingVersion: f.cluster?.routingVersion ?? f.placement.version,
    lifecycle: f.lifecycle ?? null,
    cluster: {
      id: f.cluster?.clusterId ?? '',
      members: (f.members ?? [f.worker]).map((name) => ({
        name,
        external: name === f.worker ? f.external : (f.externals?.[name] ?? null),
        self: name === f.worker,
        keyGroups:
          f.cluster === undefined
            ? sum(f.placement.keyGroupOwner.map((row) => row.filter((t) => t >= 0).length))
            : (f.cluster.keyGroups[name] ?? 0),
      })),
      reconfiguration: f.cluster?.reconfiguration ?? null,
    },
    totals: {
      received: f.stats.received,
      written: f.stats.written,
      encoded: f.stats.encoded,
      entities: sum(partitions.map((p) => p.entities)),
    },
    threadStats: threads.map((t) => ({
      thread: t.thread,
      actors: t.actors,
      idle: t.idle,
      utilization: t.loop.utilization,
      turns: t.scheduler.turns,
      delivered: t.scheduler.delivered,
      direct: t.scheduler.direct,
      queued: t.mailboxes.queued,
      deepestMailbox: t.mailboxes.deepest,
      gcMs: t.gc.minor.ms + t.gc.major.ms + t.gc.other.ms,
      gcLongestMs: Math.max(t.gc.minor.maxMs, t.gc.major.maxMs, t.gc.other.maxMs),
      sentLocal: t.scheduler.sentLocal,
      sentRemote: t.scheduler.sentRemote,
      batchesIn: t.scheduler.batchesIn,
      batchesOut: t.scheduler.batchesOut,
      parks: t.loop.parks,
      entities: sum(Object.values(t.entities)),
      sentToWorkers: sum(t.dataChannel.sent),
      receivedFromWorkers: t.dataChannel.received,
    })),
    sources,
    sinks,
    partitions,
    errors: { ...f.stats.errors },
    lastCheckpoint: f.lastCheckpoint ?? 0,
    metrics: f.metrics ?? null,
  };
}

// ---------------------------------------------------------------------------
// Collecting from a running engine (the only I/O here).

/** What the collectors need of a running engine ({@link Engine} has it). */
export interface StatusEngine {
  readonly plan: Plan;
  readonly placement: Placement;
  readonly listening: Readonly<Record<string, string>>;
  stats(): Promise<EngineStats>;
  keys(limit: number): Promise<{ thread: number; groups: KeyGroupKeys[] }[]>;
}

/** Who is answering, for the collectors. */
export interface WorkerIdentity {
  readonly worker: string;
  readonly startedAtMs: number;
  readonly external: string | null;
  /** The cluster's members, when this worker is part of a cluster. */
  readonly members?: () => readonly string[];
  /** The cluster as this worker knows it, when it is part of one. */
  readonly cluster?: () => ClusterView;
  /** The members' external addresses by name, when this worker is part of a cluster. */
  readonly externals?: () => Readonly<Record<string, string>>;
  /** The last metrics period (the worker's metrics collector). */
  readonly metrics?: () => StatusMetrics | undefined;
  /** Where the worker is in its lifecycle. */
  readonly lifecycle?: () => LifecycleStatus;
}

/** Asks the engine for its counters and builds the status. */
export async function collectStatus(
  engine: StatusEngine,
  me: WorkerIdentity,
): Promise<WorkerStatus> {
  const stats = await engine.stats();
  return buildStatus({
    worker: me.worker,
    pid: process.pid,
    startedAtMs: me.startedAtMs,
    nowMs: Date.now(),
    external: me.external,
    plan: engine.plan,
    placement: engine.placement,
    listening: engine.listening,
    stats,
    ...(me.members === undefined ? {} : { members: me.members() }),
    ...(me.cluster === undefined ? {} : { cluster: me.cluster() }),
    ...(me.externals === undefined ? {} : { externals: me.externals() }),
    ...optional('metrics', me.metrics?.()),
    ...optional('lifecycle', me.lifecycle?.()),
    lastCheckpoint: workerEvents.lastCommitted,
  });
}

/** `{ [key]: value }`, or nothing for undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]: V });
}

/** Asks every thread for its key groups and builds the partition query. */
export async function collectPartitionQuery(
  engine: StatusEngine,
  me: WorkerIdentity,
  keysPerGroup: number,
): Promise<PartitionQuery> {
  const threads = await engine.keys(keysPerGroup);
  return buildPartitionQuery({
    worker: me.worker,
    plan: engine.plan,
    placement: engine.placement,
    keysPerGroup,
    threads,
  });
}

/** Asks the engine for its counters and builds the entity counts. */
export async function collectEntityCounts(
  engine: StatusEngine,
  me: WorkerIdentity,
): Promise<EntityCounts> {
  return buildEntityCounts(me.worker, engine.plan, await engine.stats());
}

/**
 * Re-exported for readers that take the status shapes and the check from one
 * place (runtime/cli/demo-inspect.ts); the check itself is in status-check.ts.
 */
export { parseWorkerStatus } from './status-check.js';
