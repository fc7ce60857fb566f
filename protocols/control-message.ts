/**
 * Control messages: what a worker and the cluster initializer say to each
 * other on the control channel, one per frame (docs/cluster.md).
 *
 * Start-up, in Wallaroo's order:
 *   worker → initializer  `hello`    I am NAME, running APP (plan hash H), here are my addresses
 *   initializer → worker  `refuse`   no (duplicate name, another application, ...): a coded error
 *   initializer → worker  `assign`   the cluster: members, your index, the routing table
 *   worker → initializer  `spawned`  the actors I spawned for my key groups, stages and sinks
 *   initializer → worker  `wire`     every worker's directory, by worker index
 *   worker → initializer  `wired`    my routes are compiled, my data channels are open
 *   initializer → worker  `start`    sources may start
 *   worker → initializer  `ready`    my sources have started
 * and at any time `shutdown` (either way), `heartbeat` (both ways, every
 * interval) and `dropped` (initializer → a member it treats as lost;
 * control-liveness.ts). `ping` / `pong` are defined but not sent.
 *
 * With resilience (docs/resilience.md):
 *   initializer → worker  `checkpoint`       take your part of checkpoint k
 *   worker → initializer  `checkpoint-done`  my snapshot of k is on disk (or why not)
 *   initializer → worker  `commit`           k is committed: record it, ack senders, release output
 *   initializer → worker  `rollback`         drop your engine; the next `assign` restores checkpoint c
 * A restarted worker's `hello` lists the committed checkpoints it can restore.
 *
 * This file holds the version and the messages' shapes; their encoder,
 * decoder and validator are in control-codec.ts. Encoded with msgpackr as
 * plain maps, like data messages (data-message.ts), and validated deeply on
 * decode: the bytes come from another process, and an index or actor id out
 * of range would otherwise surface far from here.
 */
import type { Address } from './address.js';
import type { ErrorCodeValue } from './errors.js';
import type { LivenessMessage } from './control-liveness.js';
import type { ReconfigurationMessage, ResumeControlMessage } from './control-reconfigure.js';

/** Version of the control-message format; a peer speaking another is refused. */
export const CONTROL_PROTOCOL_VERSION = 1;

/** A worker asks the initializer to join the cluster. */
export interface HelloControlMessage {
  readonly type: 'hello';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** The worker's `--name`: 1 to 64 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`. */
  readonly name: string;
  /** Name of the application the worker runs. */
  readonly application: string;
  /** Hash of the application's plan; a worker whose hash differs runs another program and is refused. */
  readonly applicationHash: string;
  /** Scheduler threads of the worker (`--ponythreads`), at least 1. */
  readonly threads: number;
  /** Where the worker listens for control messages (`--my-control`). */
  readonly control: Address;
  /** Where the worker listens for data channels (`--my-data`). */
  readonly data: Address;
  /** A restarted worker that found its resilience files and wants its old place back. */
  readonly rejoin: boolean;
  /** Started with `--join`: joins a running cluster rather than forming one. */
  readonly joinRunning: boolean;
  /** With `--join`: how many workers join together (`--worker-count`; 1 alone). */
  readonly joinCount: number;
  /** Committed checkpoints whose snapshot files this worker found whole (a restarted worker). */
  readonly restorable: readonly number[];
  /**
   * Where its external channel listens (`--external`), so that every member
   * can show every other's (`roo status`). Optional: absent when it has none,
   * or only a port still to be chosen (port 0).
   */
  readonly external?: Address;
}

/** The initializer refuses a `hello`; the worker logs the reason and exits. */
export interface RefuseControlMessage {
  readonly type: 'refuse';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** Why, as a stable code: e.g. ROO_ERR_DUPLICATE_WORKER, ROO_ERR_CLUSTER_MISMATCH. */
  readonly code: ErrorCodeValue;
  /** The reason in words, for the worker's log. */
  readonly message: string;
}

/** One member of the cluster, as the initializer announces it. */
export interface WireMember {
  readonly name: string;
  readonly threads: number;
  readonly control: Address;
  readonly data: Address;
  /** Its external channel's address, as its `hello` gave it (optional, as there). */
  readonly external?: Address;
}

/** The owners of one state partition's key groups. */
export interface WirePartitionOwners {
  /** The partition's name in the plan. */
  readonly name: string;
  /** owners[keyGroup] = index (in `members`) of the worker that owns the key group. */
  readonly owners: readonly number[];
}

/** The versioned routing table: which worker owns each key group (docs/architecture.md section 6). */
export interface WireRoutingTable {
  /** Bumped on every change of owners. */
  readonly version: number;
  /** One entry per state partition, in plan order; names are unique. */
  readonly partitions: readonly WirePartitionOwners[];
}

/** The initializer tells a worker who is in the cluster and who owns what. */
export interface AssignControlMessage {
  readonly type: 'assign';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** Identifies this cluster; resilience files of another cluster are refused. */
  readonly clusterId: string;
  /** Index of the receiving worker in `members`. */
  readonly workerIndex: number;
  /** The cluster's rollback generation (0 until the first recovery): data channels carry it. */
  readonly generation: number;
  /** Every worker, the initializer included; names are unique. */
  readonly members: readonly WireMember[];
  readonly routing: WireRoutingTable;
}

/**
 * The actors one worker spawned, by role. Actor ids (ActorRef: thread and
 * local id, actors/scheduler.ts) are meaningful on that worker only, hence one
 * directory per worker. Record keys are decimal indices ("0", "17"), as
 * msgpack maps carry them; the shape matches the engine's LocalDirectory.
 */
export interface WorkerDirectory {
  /** keyGroups[partitionIndex][keyGroup] = actor, for the key groups this worker owns. */
  readonly keyGroups: readonly Readonly<Record<string, number>>[];
  /** parallel[stageId][thread] = that thread's replica of the parallel stage. */
  readonly parallel: Readonly<Record<string, readonly number[]>>;
  /** sinkWriters[sinkId] = the sink's writer actor (absent for a sink without one). */
  readonly sinkWriters: Readonly<Record<string, number>>;
  /** sources[stageId] = instances of that source stage this worker runs (each sends barriers). */
  readonly sources: Readonly<Record<string, number>>;
}

/** A worker reports the actors it spawned after `assign`. */
export interface SpawnedControlMessage {
  readonly type: 'spawned';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly directory: WorkerDirectory;
}

/** The initializer sends everyone the merged directory of the cluster. */
export interface WireControlMessage {
  readonly type: 'wire';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** directory[workerIndex] = that worker's actors. */
  readonly directory: readonly WorkerDirectory[];
}

/** A worker has compiled its routes and opened its data channels. */
export interface WiredControlMessage {
  readonly type: 'wired';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
}

/** Every worker is wired: sources may start. */
export interface StartControlMessage {
  readonly type: 'start';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
}

/** A worker's sources have started. */
export interface ReadyControlMessage {
  readonly type: 'ready';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
}

/** The cluster (or this worker) shuts down; `reason` is logged. */
export interface ShutdownControlMessage {
  readonly type: 'shutdown';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly reason: string;
}

/** Liveness probe; the peer answers `pong` with the same nonce. */
export interface PingControlMessage {
  readonly type: 'ping';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
}

/** Answer to a `ping`. */
export interface PongControlMessage {
  readonly type: 'pong';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
}

/**
 * The coordinator rolls the cluster back: the worker drops its running
 * engine and, on the `assign` that follows, restores checkpoint `checkpoint`
 * (0: none, start empty) under rollback generation `generation`.
 */
export interface RollbackControlMessage {
  readonly type: 'rollback';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly checkpoint: number;
  readonly generation: number;
}

/** The coordinator starts checkpoint `id`: sources inject its barrier. */
export interface CheckpointControlMessage {
  readonly type: 'checkpoint';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
}

/** A worker wrote its snapshot of checkpoint `id` (`error` empty), or could not (`error` says why). */
export interface CheckpointDoneControlMessage {
  readonly type: 'checkpoint-done';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly id: number;
  readonly error: string;
}

/** Checkpoint `id` is committed (recorded durably by the coordinator). */
export interface CommitControlMessage {
  readonly type: 'commit';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
}

/** Any message on the control channel, discriminated by `type`. */
export type ControlMessage =
  | HelloControlMessage
  | RefuseControlMessage
  | AssignControlMessage
  | SpawnedControlMessage
  | WireControlMessage
  | WiredControlMessage
  | StartControlMessage
  | ReadyControlMessage
  | ShutdownControlMessage
  | PingControlMessage
  | PongControlMessage
  | RollbackControlMessage
  | CheckpointControlMessage
  | CheckpointDoneControlMessage
  | CommitControlMessage
  | ReconfigurationMessage
  | ResumeControlMessage
  | LivenessMessage;

/** The `type` of each kind of {@link ControlMessage}. */
export type ControlMessageType = ControlMessage['type'];
