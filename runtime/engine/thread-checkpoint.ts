/**
 * One scheduler thread's share of a checkpoint. Each actor that records
 * something on barrier k (a key group's state, a source's replay position, a
 * sink's held output) adds its part here; when every such actor of the thread
 * has, the thread's part of checkpoint k is complete and goes to the main
 * thread, which writes the worker's snapshot file.
 */
import { Unpackr } from 'msgpackr';
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { StateCodec } from '../api/computations.js';
import { EntityWriter, UnlikeData } from './entity-writer.js';

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
  /**
   * A barrier whose snapshot needs the state of some key groups only (a
   * reconfiguration without resilience: the groups that move): the others
   * align and hand in no bytes. Keys are 'partition/group'.
   */
  private only: { readonly id: number; readonly groups: ReadonlySet<string> } | undefined;

  /** Barrier `id` needs the state of `groups` only (undefined: of every group). */
  encodeOnly(id: number, groups: ReadonlySet<string> | undefined): void {
    this.only = groups === undefined ? undefined : { id, groups };
  }

  /** Whether barrier `id` needs the state of this key group. */
  needs(id: number, partition: number, keyGroup: number): boolean {
    const only = this.only;
    return only === undefined || only.id !== id || only.groups.has(`${partition}/${keyGroup}`);
  }

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

// Any snapshot decodes on its own (no structures shared between encodings);
// Maps, Sets and Dates keep their types.
const unpackr = new Unpackr({ moreTypes: true });

/** Reused for every key group of the thread (a checkpoint encodes them one after another). */
const writer = new EntityWriter();

/**
 * Encodes a key group's entities: MessagePack of [key, state, key, state,
 * ...] (entity-writer.ts), each state through the partition's codec if it
 * has one. Throws RooError ROO_ERR_SNAPSHOT_ENCODE_FAILED naming the
 * partition and key.
 */
export function encodeEntities(
  entities: ReadonlyMap<string, unknown>,
  codec: StateCodec<unknown> | undefined,
  partition: string,
): Uint8Array {
  const serialize =
    codec === undefined
      ? undefined
      : (key: string, state: unknown): unknown => {
          try {
            return codec.serialize(state);
          } catch (err) {
            throw encodeFailed(partition, key, err);
          }
        };
  try {
    return writer.entities(entities, serialize);
  } catch (err) {
    if (err instanceof RooError) throw err;
    if (err instanceof UnlikeData) throw encodeFailed(partition, err.key, err);
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

function encodeFailed(partition: string, key: string | undefined, err: unknown): RooError {
  return new RooError(
    ErrorCode.SnapshotEncodeFailed,
    `state of partition '${partition}'${key === undefined ? '' : ` (key '${key}')`} cannot be encoded for a checkpoint: ${(err as Error).message}; give the partition a codec (serialize/deserialize)`,
  );
}
