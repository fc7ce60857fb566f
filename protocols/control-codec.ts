/**
 * The control messages' codec: encoding (validated first, so a malformed
 * message fails at its sender), decoding, and the deep validator every
 * decoded message passes, with the field list of each kind. Apart from the
 * messages' shapes (control-message.ts) since it is the one part with logic.
 * Pure: no I/O, no timers.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { Address } from './address.js';
import { ErrorCode, RooError } from './errors.js';
import { Checker } from './control-checker.js';
import { LIVENESS_FIELDS, validateLivenessMessage } from './control-liveness.js';
import { RECONFIGURATION_FIELDS, validateReconfigurationMessage } from './control-reconfigure.js';
import {
  CONTROL_PROTOCOL_VERSION,
  type AssignControlMessage,
  type ControlMessage,
  type ControlMessageType,
  type WireMember,
  type WirePartitionOwners,
} from './control-message.js';
import { asRecord, bad, clip, describe, field, versionField, unpackWire } from './validate.js';

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
    case 'shutdown-request':
    case 'shutdown-reply':
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
