/**
 * The control messages that grow, shrink and rebalance a running cluster
 * (a reconfiguration), their shapes and their field checks; the union of
 * every control message is in control-message.ts, its codec in control-codec.ts. Pure.
 */
import type { Address } from './address.js';
import type { Checker } from './control-checker.js';
import { field } from './validate.js';
import type {
  AssignControlMessage,
  CONTROL_PROTOCOL_VERSION,
  WireMember,
  WireRoutingTable,
  WorkerDirectory,
} from './control-message.js';

/** A key group's state entities, as a migration ships them from the old owner to the new. */
export interface WireGroupState {
  /** The state partition's name. */
  readonly partition: string;
  readonly keyGroup: number;
  /** Entities in the group. */
  readonly entities: number;
  /** The entities, encoded as a checkpoint encodes them. */
  readonly state: Uint8Array;
}

/**
 * The coordinator starts reconfiguration `id` (a worker joins or leaves, or
 * key groups change threads): each old member prepares every thread to hold,
 * after barrier `id`, what is sent to a key group that moves (and to skip
 * the workers that leave), then answers `migrate-prepared`. `members` and
 * `routing` are the cluster after the change.
 */
export interface MigrateControlMessage {
  readonly type: 'migrate';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
  readonly members: readonly WireMember[];
  readonly routing: WireRoutingTable;
  /** Key groups that stay on their worker but move to another of its threads (a rebalance). */
  readonly moves: readonly WireThreadMove[];
}

/** A member is ready for reconfiguration `id`'s barrier (its threads hold what moves after it). */
export interface MigratePreparedControlMessage {
  readonly type: 'migrate-prepared';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly id: number;
}

/**
 * Every old member is prepared: sources inject barrier `id` (a leaving
 * worker's then hold their input; the others read on); once every actor of
 * the worker has aligned it, the worker ships the key groups that leave it
 * (`migrate-out`).
 */
export interface MigrateBarrierControlMessage {
  readonly type: 'migrate-barrier';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
}

/** A key group moving to another scheduler thread of the worker that owns it. */
export interface WireThreadMove {
  readonly worker: string;
  readonly partition: string;
  readonly keyGroup: number;
  readonly thread: number;
}

/** A worker asks the coordinator to move some of its key groups between its threads. */
export interface RebalanceRequestControlMessage {
  readonly type: 'rebalance-request';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
  readonly name: string;
  readonly moves: readonly WireThreadMove[];
}

/** The coordinator's answer to a rebalance request, once it ran (or was refused). */
export interface RebalanceReplyControlMessage {
  readonly type: 'rebalance-reply';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Key groups that leave a worker in reconfiguration `id`, with their state,
 * in chunks of about MIGRATION_CHUNK_BYTES; `last` marks the worker's last.
 */
export interface MigrateOutControlMessage {
  readonly type: 'migrate-out';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly id: number;
  readonly groups: readonly WireGroupState[];
  readonly last: boolean;
  /** The epoch bit its actors stamp after the barrier (0 or 1). */
  readonly epoch: number;
}

/** Key groups a worker takes over in reconfiguration `id`, with their state, in chunks (`last`: the last). */
export interface MigrateInControlMessage {
  readonly type: 'migrate-in';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
  readonly groups: readonly WireGroupState[];
  readonly last: boolean;
  /** The cluster's epoch bit after the barrier: a joiner's actors start with it. */
  readonly epoch: number;
}

/** State bytes per migration message: chunks stay far below the control channel's limit. */
export const MIGRATION_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Splits key groups into chunks of at most `maxBytes` of state (a group
 * larger than that alone in its chunk), in order; always at least one chunk.
 */
export function chunkGroups(
  groups: readonly WireGroupState[],
  maxBytes = MIGRATION_CHUNK_BYTES,
): WireGroupState[][] {
  const chunks: WireGroupState[][] = [[]];
  let bytes = 0;
  for (const g of groups) {
    const current = chunks[chunks.length - 1] as WireGroupState[];
    if (current.length > 0 && bytes + g.state.byteLength > maxBytes) {
      chunks.push([g]);
      bytes = g.state.byteLength;
    } else {
      current.push(g);
      bytes += g.state.byteLength;
    }
  }
  return chunks;
}

/** A worker has spawned the key groups it took over: its whole directory now. */
export interface MigrateSpawnedControlMessage {
  readonly type: 'migrate-spawned';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly id: number;
  readonly directory: WorkerDirectory;
}

/** Every worker installs the new routing table and membership and rewires its routes. */
export interface ReconfigureControlMessage {
  readonly type: 'reconfigure';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
  /** The new cluster, as in `assign`. */
  readonly assign: AssignControlMessage;
  /** directory[workerIndex] = that worker's actors, for the new members. */
  readonly directory: readonly WorkerDirectory[];
}

/** A worker's routes follow the new routing table. */
export interface ReconfiguredControlMessage {
  readonly type: 'reconfigured';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly name: string;
  readonly id: number;
}

/** Reconfiguration `id` is over: sources resume (a joiner starts its own). */
export interface ResumeControlMessage {
  readonly type: 'resume';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly id: number;
}

/** The worker has left the cluster: it stops, removes its files and exits 0. */
export interface LeaveControlMessage {
  readonly type: 'leave';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly reason: string;
}

/** A member answers a joining worker: the coordinator listens at `control`. */
export interface RedirectControlMessage {
  readonly type: 'redirect';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly control: Address;
}

/** A member relays a shrink request (from its external channel) to the coordinator. */
export interface ShrinkRequestControlMessage {
  readonly type: 'shrink-request';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** Matches the reply. */
  readonly nonce: number;
  readonly workers: readonly string[];
  readonly count: number;
  readonly query: boolean;
}

/** The coordinator's answer to a relayed shrink request. */
export interface ShrinkReplyControlMessage {
  readonly type: 'shrink-reply';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
  readonly ok: boolean;
  readonly message: string;
  readonly leaving: readonly string[];
  readonly eligible: readonly string[];
  readonly members: readonly string[];
}

/**
 * A member relays `roo shutdown` (from its external channel) to the
 * coordinator, which decides: it answers, and if it agreed shuts the whole
 * cluster down.
 */
export interface ShutdownRequestControlMessage {
  readonly type: 'shutdown-request';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /** Matches the reply. */
  readonly nonce: number;
  readonly reason: string;
}

/** The coordinator's answer to a relayed shutdown: `ok` when the cluster shuts down, else why not. */
export interface ShutdownReplyControlMessage {
  readonly type: 'shutdown-reply';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly nonce: number;
  readonly ok: boolean;
  readonly message: string;
}

/** A list of worker names. */
export function names(x: unknown, path: string, c: Checker): string[] {
  return Array.from(c.array(x, path), (n, i) => c.workerName(n, `${path}[${i}]`));
}

/** Key groups moving between the threads of their worker. */
export function threadMoves(x: unknown, c: Checker): WireThreadMove[] {
  return Array.from(c.array(x, 'moves'), (m, i) => {
    const path = `moves[${i}]`;
    const r = c.record(m, path);
    c.onlyFields(r, ['worker', 'partition', 'keyGroup', 'thread'], path);
    return {
      worker: c.workerName(field(r, 'worker'), `${path}.worker`),
      partition: c.text(field(r, 'partition'), `${path}.partition`),
      keyGroup: c.count(field(r, 'keyGroup'), `${path}.keyGroup`),
      thread: c.count(field(r, 'thread'), `${path}.thread`),
    };
  });
}

/** Key groups' states shipped by a migration. */
export function groupStates(x: unknown, c: Checker): WireGroupState[] {
  return Array.from(c.array(x, 'groups'), (g, i) => {
    const path = `groups[${i}]`;
    const r = c.record(g, path);
    c.onlyFields(r, ['partition', 'keyGroup', 'entities', 'state'], path);
    const state = field(r, 'state');
    if (!(state instanceof Uint8Array)) throw c.fail(`${path}.state`, 'must be bytes');
    return {
      partition: c.text(field(r, 'partition'), `${path}.partition`),
      keyGroup: c.count(field(r, 'keyGroup'), `${path}.keyGroup`),
      entities: c.count(field(r, 'entities'), `${path}.entities`),
      state: new Uint8Array(state),
    };
  });
}

/** The kinds of control message a reconfiguration adds (but resume, which is as commit is). */
export type ReconfigurationMessage =
  | MigrateControlMessage
  | MigratePreparedControlMessage
  | MigrateBarrierControlMessage
  | ReconfigureControlMessage
  | MigrateOutControlMessage
  | MigrateInControlMessage
  | MigrateSpawnedControlMessage
  | ReconfiguredControlMessage
  | LeaveControlMessage
  | RedirectControlMessage
  | ShrinkRequestControlMessage
  | ShrinkReplyControlMessage
  | ShutdownRequestControlMessage
  | ShutdownReplyControlMessage
  | RebalanceRequestControlMessage
  | RebalanceReplyControlMessage;

/** The fields of an assign, besides `type` and `version`. */
const ASSIGN_FIELDS = ['clusterId', 'workerIndex', 'generation', 'members', 'routing'];

/** Field names of each reconfiguration message, besides `type` and `version`. */
export const RECONFIGURATION_FIELDS = {
  migrate: ['id', 'members', 'routing', 'moves'],
  'migrate-prepared': ['name', 'id'],
  'migrate-barrier': ['id'],
  'migrate-out': ['name', 'id', 'groups', 'last', 'epoch'],
  'migrate-in': ['id', 'groups', 'last', 'epoch'],
  'migrate-spawned': ['name', 'id', 'directory'],
  reconfigure: ['id', 'assign', 'directory'],
  reconfigured: ['name', 'id'],
  leave: ['reason'],
  redirect: ['control'],
  'shrink-request': ['nonce', 'workers', 'count', 'query'],
  'shrink-reply': ['nonce', 'ok', 'message', 'leaving', 'eligible', 'members'],
  'shutdown-request': ['nonce', 'reason'],
  'shutdown-reply': ['nonce', 'ok', 'message'],
  'rebalance-request': ['nonce', 'name', 'moves'],
  'rebalance-reply': ['nonce', 'ok', 'message'],
} as const;

/** An epoch bit: 0 or 1. */
function epochBit(x: unknown, c: Checker): number {
  if (x !== 0 && x !== 1) throw c.fail('epoch', 'must be 0 or 1');
  return x;
}

/** Text of at most 4096 characters (a reason, a message). */
function shortText(x: unknown, path: string, c: Checker): string {
  if (typeof x !== 'string' || x.length > 4096)
    throw c.fail(path, 'must be text of at most 4096 characters');
  return x;
}

/**
 * Checks the fields of a reconfiguration message whose `type` and `version`
 * (and the absence of unknown fields) the caller checked; returns a fresh copy.
 */
export function validateReconfigurationMessage(
  kind: ReconfigurationMessage['type'],
  record: Record<string, unknown>,
  version: typeof CONTROL_PROTOCOL_VERSION,
  c: Checker,
  /** Checks an assign's clusterId, workerIndex, generation, members and routing. */
  validateAssign: (
    record: Record<string, unknown>,
    version: typeof CONTROL_PROTOCOL_VERSION,
    c: Checker,
  ) => AssignControlMessage,
): ReconfigurationMessage {
  switch (kind) {
    case 'migrate': {
      // The same checks as an assign's members and routing table.
      const a = validateAssign(
        {
          clusterId: 'migrate',
          workerIndex: 0,
          generation: 0,
          members: field(record, 'members'),
          routing: field(record, 'routing'),
        },
        version,
        c,
      );
      return {
        type: kind,
        version,
        id: c.count(field(record, 'id'), 'id'),
        members: a.members,
        routing: a.routing,
        moves: threadMoves(field(record, 'moves'), c),
      };
    }
    case 'reconfigure': {
      const inner = c.record(field(record, 'assign'), 'assign');
      c.onlyFields(inner, ['type', 'version', ...ASSIGN_FIELDS], 'assign');
      if (field(inner, 'type') !== 'assign') throw c.fail('assign.type', "must be 'assign'");
      if (field(inner, 'version') !== version) throw c.fail('assign.version', `must be ${version}`);
      const assign = validateAssign(inner, version, c);
      const list = c.array(field(record, 'directory'), 'directory');
      if (list.length !== assign.members.length)
        throw c.fail('directory', 'must hold one directory per member');
      return {
        type: kind,
        version,
        id: c.count(field(record, 'id'), 'id'),
        assign,
        directory: Array.from(list, (d, i) => c.directory(d, `directory[${i}]`)),
      };
    }
    case 'migrate-out':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        id: c.count(field(record, 'id'), 'id'),
        groups: groupStates(field(record, 'groups'), c),
        last: c.boolean(field(record, 'last'), 'last'),
        epoch: epochBit(field(record, 'epoch'), c),
      };
    case 'migrate-in':
      return {
        type: kind,
        version,
        id: c.count(field(record, 'id'), 'id'),
        groups: groupStates(field(record, 'groups'), c),
        last: c.boolean(field(record, 'last'), 'last'),
        epoch: epochBit(field(record, 'epoch'), c),
      };
    case 'migrate-prepared':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        id: c.count(field(record, 'id'), 'id'),
      };
    case 'migrate-barrier':
      return { type: kind, version, id: c.count(field(record, 'id'), 'id') };
    case 'migrate-spawned':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        id: c.count(field(record, 'id'), 'id'),
        directory: c.directory(field(record, 'directory'), 'directory'),
      };
    case 'reconfigured':
      return {
        type: kind,
        version,
        name: c.workerName(field(record, 'name'), 'name'),
        id: c.count(field(record, 'id'), 'id'),
      };
    case 'leave':
      return { type: kind, version, reason: c.text(field(record, 'reason'), 'reason') };
    case 'redirect':
      return { type: kind, version, control: c.address(field(record, 'control'), 'control') };
    case 'shrink-request':
      return {
        type: kind,
        version,
        nonce: c.count(field(record, 'nonce'), 'nonce'),
        workers: names(field(record, 'workers'), 'workers', c),
        count: c.count(field(record, 'count'), 'count'),
        query: c.boolean(field(record, 'query'), 'query'),
      };
    case 'shutdown-request':
      return {
        type: kind,
        version,
        nonce: c.count(field(record, 'nonce'), 'nonce'),
        reason: shortText(field(record, 'reason'), 'reason', c),
      };
    case 'rebalance-request':
      return {
        type: kind,
        version,
        nonce: c.count(field(record, 'nonce'), 'nonce'),
        name: c.workerName(field(record, 'name'), 'name'),
        moves: threadMoves(field(record, 'moves'), c),
      };
    case 'shutdown-reply':
    case 'rebalance-reply': {
      const message = shortText(field(record, 'message'), 'message', c);
      return {
        type: kind,
        version,
        nonce: c.count(field(record, 'nonce'), 'nonce'),
        ok: c.boolean(field(record, 'ok'), 'ok'),
        message,
      };
    }
    case 'shrink-reply': {
      const message = shortText(field(record, 'message'), 'message', c);
      return {
        type: kind,
        version,
        nonce: c.count(field(record, 'nonce'), 'nonce'),
        ok: c.boolean(field(record, 'ok'), 'ok'),
        message,
        leaving: names(field(record, 'leaving'), 'leaving', c),
        eligible: names(field(record, 'eligible'), 'eligible', c),
        members: names(field(record, 'members'), 'members', c),
      };
    }
  }
}
