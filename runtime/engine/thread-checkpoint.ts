/**
 * One scheduler thread's share of a checkpoint. Each actor that records
 * something on barrier k (a key group's state, a source's replay position, a
 * sink's held output) adds its part here; when every such actor of the thread
 * has, the thread's part of checkpoint k is complete and goes to the main
 * thread, which writes the worker's snapshot file.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { StateCodec } from '../api/computations.js';

/** The state of one key group: its entities, encoded. */
export interface KeyGroupPart {
  readonly partition: number;
  readonly keyGroup: number;
  readonly count: number;
  readonly state: Uint8Array;
}

/** A source instance's replay position. */
export interface SourcePart {
  readonly stage: number;
  readonly instance: number;
  readonly position: unknown;
}

/** A sink writer's output held for checkpoints not yet committed (exactly-once sinks). */
export interface SinkPart {
  readonly sink: number;
  /** [checkpoint id, output bytes], oldest first. */
  readonly pending: readonly (readonly [number, Uint8Array])[];
}

/** Everything one thread recorded for one checkpoint. */
export interface ThreadCheckpoint {
  readonly id: number;
  readonly keyGroups: KeyGroupPart[];
  readonly sources: SourcePart[];
  readonly sinks: SinkPart[];
  /** Why a part could not be recorded (a state that does not encode); the checkpoint fails. */
  readonly errors: string[];
}

/** What a thread restores: the parts of its actors, from a snapshot. */
export interface ThreadRestore {
  readonly keyGroups: readonly KeyGroupPart[];
  readonly sources: readonly SourcePart[];
  readonly sinks: readonly SinkPart[];
}

type Part =
  | { readonly kind: 'key-group'; readonly part: KeyGroupPart }
  | { readonly kind: 'source'; readonly part: SourcePart }
  | { readonly kind: 'sink'; readonly part: SinkPart }
  | { readonly kind: 'error'; readonly message: string };

interface Open {
  readonly parts: ThreadCheckpoint;
  count: number;
  resolve?: (c: ThreadCheckpoint) => void;
}

/** Collects a thread's parts of each checkpoint. */
export class CheckpointCollector {
  /** Parts per checkpoint: one per key group, source and sink writer of this thread. */
  expected = 0;
  private readonly open = new Map<number, Open>();

  /** An actor's part of checkpoint `id`. */
  add(id: number, part: Part): void {
    const o = this.entry(id);
    switch (part.kind) {
      case 'key-group':
        o.parts.keyGroups.push(part.part);
        break;
      case 'source':
        o.parts.sources.push(part.part);
        break;
      case 'sink':
        o.parts.sinks.push(part.part);
        break;
      case 'error':
        o.parts.errors.push(part.message);
        break;
    }
    if (part.kind !== 'error') o.count++;
    this.settle(id, o);
  }

  /** Resolves with the thread's part of checkpoint `id` once every actor has added its own. */
  wait(id: number): Promise<ThreadCheckpoint> {
    const o = this.entry(id);
    return new Promise((resolve) => {
      o.resolve = resolve;
      this.settle(id, o);
    });
  }

  /** Forgets checkpoints up to `id` (committed, or abandoned). */
  forget(id: number): void {
    for (const k of this.open.keys()) if (k <= id) this.open.delete(k);
  }

  private entry(id: number): Open {
    let o = this.open.get(id);
    if (o === undefined) {
      o = { parts: { id, keyGroups: [], sources: [], sinks: [], errors: [] }, count: 0 };
      this.open.set(id, o);
    }
    return o;
  }

  private settle(id: number, o: Open): void {
    if (o.resolve !== undefined && o.count >= this.expected) {
      this.open.delete(id);
      o.resolve(o.parts);
    }
  }
}

// Records are written inline in each key group's bytes (no shared structures), so
// any snapshot decodes on its own; Maps, Sets and Dates keep their types.
const packr = new Packr({ moreTypes: true });
const unpackr = new Unpackr({ moreTypes: true });

/**
 * Encodes a key group's entities: msgpackr of [key, state, key, state, ...],
 * each state through the partition's codec if it has one. Throws RooError
 * ROO_ERR_SNAPSHOT_ENCODE_FAILED naming the partition and key.
 */
export function encodeEntities(
  entities: ReadonlyMap<string, unknown>,
  codec: StateCodec<unknown> | undefined,
  partition: string,
): Uint8Array {
  const flat: unknown[] = [];
  for (const [key, state] of entities) {
    let value = state;
    if (codec !== undefined) {
      try {
        value = codec.serialize(state);
      } catch (err) {
        throw encodeFailed(partition, key, err);
      }
    } else {
      const problem = unlikeData(state, 'the state', 0);
      if (problem !== undefined) throw encodeFailed(partition, key, new Error(problem));
    }
    flat.push(key, value);
  }
  try {
    return packr.pack(flat);
  } catch (err) {
    throw encodeFailed(partition, undefined, err);
  }
}

/** Decodes what `encodeEntities` made. Throws RooError ROO_ERR_SNAPSHOT_CORRUPT. */
export function decodeEntities(
  bytes: Uint8Array,
  codec: StateCodec<unknown> | undefined,
  partition: string,
): Map<string, unknown> {
  let flat: unknown;
  try {
    flat = unpackr.unpack(bytes);
  } catch (err) {
    throw new RooError(
      ErrorCode.SnapshotCorrupt,
      `state of partition '${partition}' does not decode: ${(err as Error).message}`,
    );
  }
  if (!Array.isArray(flat) || flat.length % 2 !== 0)
    throw new RooError(ErrorCode.SnapshotCorrupt, `state of partition '${partition}' is malformed`);
  const entities = new Map<string, unknown>();
  for (let i = 0; i < flat.length; i += 2) {
    const key = flat[i] as unknown;
    if (typeof key !== 'string')
      throw new RooError(
        ErrorCode.SnapshotCorrupt,
        `a key of partition '${partition}' is not text`,
      );
    let state = flat[i + 1];
    if (codec !== undefined) {
      try {
        state = codec.deserialize(state as Uint8Array);
      } catch (err) {
        throw new RooError(
          ErrorCode.SnapshotCorrupt,
          `state of key '${key}' of partition '${partition}' does not deserialize: ${(err as Error).message}`,
        );
      }
    }
    entities.set(key, state);
  }
  return entities;
}

/** How deep a state may nest before it counts as a cycle or too deep to check. */
const MAX_STATE_DEPTH = 64;

/**
 * Why msgpackr would not bring `value` back as it is (a function, a class
 * instance, a null-prototype object...), or undefined if it would: it drops
 * methods and prototypes silently, so such a state must be refused at the
 * checkpoint, not found broken after a recovery.
 */
function unlikeData(value: unknown, path: string, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return undefined;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
  }
  if (value === null) return undefined;
  if (depth > MAX_STATE_DEPTH)
    return `${path} nests deeper than ${MAX_STATE_DEPTH} levels (a cycle?)`;
  if (value instanceof Date || ArrayBuffer.isView(value)) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = unlikeData(value[i], `${path}[${i}]`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const p =
        unlikeData(k, `a key of ${path}`, depth + 1) ??
        unlikeData(v, `${path}.get(${String(k)})`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (value instanceof Set) {
    for (const v of value) {
      const p = unlikeData(v, `a member of ${path}`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === null)
    return `${path} is an object without a prototype (it would come back with one)`;
  if (proto !== Object.prototype) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'a class';
    return `${path} is an instance of ${name} (it would come back as a plain object, without its methods)`;
  }
  const record = value as Record<string, unknown>;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    if (k === '__proto__') return `${path} has a key '__proto__'`;
    const v = record[k];
    // Most states hold plain values: no recursion, no path text for them.
    const t = typeof v;
    if (t === 'number' || t === 'string' || t === 'boolean' || v === null) continue;
    const p = unlikeData(v, `${path}.${k}`, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}

function encodeFailed(partition: string, key: string | undefined, err: unknown): RooError {
  return new RooError(
    ErrorCode.SnapshotEncodeFailed,
    `state of partition '${partition}'${key === undefined ? '' : ` (key '${key}')`} cannot be encoded for a checkpoint: ${(err as Error).message}; give the partition a codec (serialize/deserialize)`,
  );
}
