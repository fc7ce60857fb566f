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
 * Encoded with msgpackr as plain maps, like data messages (data-message.ts),
 * and validated deeply on decode: the bytes come from another process, and
 * an index or actor id out of range would otherwise surface far from here.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { Address } from './address.js';
import { ErrorCode, type ErrorCodeValue, RooError } from './errors.js';
import { Checker } from './control-checker.js';
import {
  LIVENESS_FIELDS,
  validateLivenessMessage,
  type LivenessMessage,
} from './control-liveness.js';
import {
  RECONFIGURATION_FIELDS,
  validateReconfigurationMessage,
  type ReconfigurationMessage,
  type ResumeControlMessage,
} from './control-reconfigure.js';
import { asRecord, bad, clip, describe, field, versionField, unpackWire } from './validate.js';

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

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in ControlMessageType]: readonly string[] } = {
  hello: [
    'name',
    'application',
    'applicationHash',
    'threads',
    'control',
    'data',
    'rejoin',
    'joinRunning',
    'joinCount',
    'restorable',
    'external',
  ],
  refuse: ['code', 'message'],
  assign: ['clusterId', 'workerIndex', 'generation', 'members', 'routing'],
  spawned: ['name', 'directory'],
  wire: ['directory'],
  wired: ['name'],
  start: [],
  ready: ['name'],
  shutdown: ['reason'],
  ping: ['nonce'],
  pong: ['nonce'],
  rollback: ['checkpoint', 'generation'],
  checkpoint: ['id'],
  'checkpoint-done': ['name', 'id', 'error'],
  commit: ['id'],
  resume: ['id'],
  ...RECONFIGURATION_FIELDS,
  ...LIVENESS_FIELDS,
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a control message (validated first, so a malformed one fails at
 * the sender). Returns a plain Uint8Array of exactly the encoding's size with
 * a buffer of its own: msgpackr packs into a shared buffer that its next call
 * overwrites.
 */
export function encodeControlMessage(message: ControlMessage): Uint8Array {
  const valid = validateControlMessage(message);
  return new Uint8Array(packr.pack(valid));
}

/**
 * Decodes and validates one encoded control message. Throws RooError
 * ROO_ERR_BAD_VERSION for another protocol version (details: `version`,
 * `supported`, and the peer's `type` and `name` when readable, so a refusal
 * can say who) and ROO_ERR_BAD_MESSAGE for anything else malformed: bytes
 * msgpackr cannot read, a truncated or padded encoding, or a value that is
 * not a valid message.
 */
export function decodeControlMessage(bytes: Uint8Array): ControlMessage {
  const value = unpackWire((b) => unpackr.unpack(b), bytes, 'control message');
  return validateControlMessage(value);
}

/**
 * Checks that `value` is a control message of the current version and
 * returns it as a fresh deep copy holding only its fields. Counts and indices
 * are non-negative safe integers, thread counts at least 1, names non-empty
 * well-formed strings (worker names as `--name` accepts them), ports 1 to
 * 65535; an `assign` is checked for consistency (unique member and partition
 * names, every index within `members`). Unknown fields are refused at every
 * level (a new field means a new version). Throws like
 * {@link decodeControlMessage}.
 */
export function validateControlMessage(value: unknown): ControlMessage {
  const record = asRecord(value, 'control message');
  const version = versionField(record, 'control message');
  if (version !== CONTROL_PROTOCOL_VERSION) {
    const type = field(record, 'type');
    const name = field(record, 'name');
    throw new RooError(
      ErrorCode.BadVersion,
      `control message version ${version} is not supported (this worker speaks version ${CONTROL_PROTOCOL_VERSION})`,
      {
        version,
        supported: CONTROL_PROTOCOL_VERSION,
        ...(typeof type === 'string' ? { type: clip(type) } : {}),
        ...(typeof name === 'string' ? { name: clip(name) } : {}),
      },
    );
  }
  const type = field(record, 'type');
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    throw bad(`unknown control message type ${describe(type)}`);
  }
  const kind = type as ControlMessageType;
  const c = new Checker(`'${kind}' control message`);
  c.onlyFields(record, ['type', 'version', ...FIELDS[kind]], '');
  switch (kind) {
    case 'hello':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        application: c.text(field(record, 'application'), 'application'),
        applicationHash: c.text(field(record, 'applicationHash'), 'applicationHash'),
        threads: c.positive(field(record, 'threads'), 'threads'),
        control: c.address(field(record, 'control'), 'control'),
        data: c.address(field(record, 'data'), 'data'),
        rejoin: c.boolean(field(record, 'rejoin'), 'rejoin'),
        joinRunning: c.boolean(field(record, 'joinRunning'), 'joinRunning'),
        joinCount: c.count(field(record, 'joinCount'), 'joinCount'),
        restorable: Array.from(c.array(field(record, 'restorable'), 'restorable'), (x, i) =>
          c.count(x, `restorable[${i}]`),
        ),
        ...optionalAddress(c, record, 'external', 'external'),
      };
    case 'refuse':
      return {
        type: kind,
        version,
        code: c.errorCode(field(record, 'code'), 'code'),
        message: c.text(field(record, 'message'), 'message'),
      };
    case 'assign':
      return validateAssign(record, version, c);
    case 'spawned':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        directory: c.directory(field(record, 'directory'), 'directory'),
      };
    case 'wire': {
      const list = c.array(field(record, 'directory'), 'directory');
      if (list.length === 0) throw c.fail('directory', 'must list at least one worker');
      return {
        type: kind,
        version,
        directory: Array.from(list, (d, i) => c.directory(d, `directory[${i}]`)),
      };
    }
    case 'wired':
    case 'ready':
      return { type: kind, version, name: c.workerName(field(record, 'name'), 'name') };
    case 'start':
      return { type: kind, version };
    case 'shutdown':
      return { type: kind, version, reason: c.text(field(record, 'reason'), 'reason') };
    case 'ping':
    case 'pong':
      return { type: kind, version, nonce: c.count(field(record, 'nonce'), 'nonce') };
    case 'rollback':
      return {
        type: kind,
        version,
        checkpoint: c.count(field(record, 'checkpoint'), 'checkpoint'),
        generation: c.count(field(record, 'generation'), 'generation'),
      };
    case 'checkpoint':
    case 'commit':
    case 'resume':
      return { type: kind, version, id: c.count(field(record, 'id'), 'id') };
    case 'migrate-out':
    case 'migrate-in':
    case 'migrate-prepared':
    case 'migrate-barrier':
    case 'migrate-spawned':
    case 'reconfigured':
    case 'leave':
    case 'redirect':
    case 'shrink-request':
    case 'shrink-reply':
    case 'rebalance-request':
    case 'rebalance-reply':
    case 'migrate':
    case 'reconfigure':
      return validateReconfigurationMessage(kind, record, version, c, validateAssign);
    case 'heartbeat':
    case 'dropped':
      return validateLivenessMessage(kind, record, version, c);
    case 'checkpoint-done': {
      const error = field(record, 'error');
      if (typeof error !== 'string' || error.length > 4096)
        throw c.fail('error', 'must be text of at most 4096 characters');
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        id: c.count(field(record, 'id'), 'id'),
        error,
      };
    }
  }
}

function validateAssign(
  record: Record<string, unknown>,
  version: typeof CONTROL_PROTOCOL_VERSION,
  c: Checker,
): AssignControlMessage {
  const clusterId = c.text(field(record, 'clusterId'), 'clusterId');
  const memberList = c.array(field(record, 'members'), 'members');
  if (memberList.length === 0) throw c.fail('members', 'must list at least one worker');
  const names = new Set<string>();
  const members = Array.from(memberList, (m, i): WireMember => {
    const path = `members[${i}]`;
    const r = c.record(m, path);
    c.onlyFields(r, ['name', 'threads', 'control', 'data', 'external'], path);
    const name = c.workerName(field(r, 'name'), `${path}.name`);
    if (names.has(name)) throw c.fail(`${path}.name`, `repeats the worker name '${name}'`);
    names.add(name);
    return {
      name,
      threads: c.positive(field(r, 'threads'), `${path}.threads`),
      control: c.address(field(r, 'control'), `${path}.control`),
      data: c.address(field(r, 'data'), `${path}.data`),
      ...optionalAddress(c, r, 'external', `${path}.external`),
    };
  });
  const workerIndex = c.index(field(record, 'workerIndex'), 'workerIndex', members.length);
  const routingRecord = c.record(field(record, 'routing'), 'routing');
  c.onlyFields(routingRecord, ['version', 'partitions'], 'routing');
  const partitionNames = new Set<string>();
  const partitionList = c.array(field(routingRecord, 'partitions'), 'routing.partitions');
  const partitions = Array.from(partitionList, (p, i): WirePartitionOwners => {
    const path = `routing.partitions[${i}]`;
    const r = c.record(p, path);
    c.onlyFields(r, ['name', 'owners'], path);
    const name = c.text(field(r, 'name'), `${path}.name`);
    if (partitionNames.has(name)) throw c.fail(`${path}.name`, `repeats the partition '${name}'`);
    partitionNames.add(name);
    const owners = c.array(field(r, 'owners'), `${path}.owners`);
    if (owners.length === 0) throw c.fail(`${path}.owners`, 'must list at least one key group');
    return {
      name,
      owners: Array.from(owners, (o, g) => c.index(o, `${path}.owners[${g}]`, members.length)),
    };
  });
  return {
    type: 'assign',
    version,
    clusterId,
    workerIndex,
    generation: c.count(field(record, 'generation'), 'generation'),
    members,
    routing: { version: c.count(field(routingRecord, 'version'), 'routing.version'), partitions },
  };
}

/** `{ [key]: address }` when `record` has the optional address field `key`, else nothing. */
function optionalAddress(
  c: Checker,
  record: Record<string, unknown>,
  key: 'external',
  path: string,
): { external?: Address } {
  const value = field(record, key);
  return value === undefined ? {} : { [key]: c.address(value, path) };
}
