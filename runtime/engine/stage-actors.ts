/**
 * The actors that run a plan's parallel and state stages.
 *
 * A key-group actor hosts the state entities of one key group of one state
 * partition. Each entity keeps actor semantics: private state, reached only by
 * messages, one message at a time, in arrival order. Key groups are the unit
 * that later moves between threads and workers, so an entity never outlives
 * or escapes its group.
 *
 * Both take part in checkpoints (epochs.ts): a parallel replica passes each
 * message's epoch bit on and forwards barrier k once every input sent it; a
 * key-group actor holds next-epoch messages while it aligns, snapshots its
 * entities on barrier k, forwards it, then delivers what it held.
 */
import type { Behaviour } from '../../actors/index.js';
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { StateComputation } from '../api/computations.js';
import type { PlannedPartition } from '../topology/plan.js';
import { emitOutputs, type Emit, type MarkerSend } from './emitters.js';
import { isMarkerTag, markerStage } from '../connectors/latency-marker.js';
import { timedCall, type LatencyMeter } from './step-meter.js';
import { bitOf, cursor, EPOCH_BIT, RT_BARRIER, type HoldPressure } from './epochs.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { StateCheck } from './state-check.js';
import { decodeEntities, encodeEntities, type CheckpointCollector } from './thread-checkpoint.js';

/** Counters every stream actor keeps. */
export interface ActorCounters {
  received: number;
}

/**
 * Next-epoch messages a key group holds while it aligns before it counts as
 * overloaded: it then adds a unit of process pressure (sources mute, kernel
 * rule 3) and counts as a holder of the next epoch's bit (rule 9: data
 * channels hand back no credit for that bit's lanes) until the alignment
 * ends. It never holds back the other bit's lanes: the barrier it waits for
 * may be behind data there.
 */
export const HOLD_HIGH = 16_384;

/**
 * Sends barrier k to every actor a stage routes to. `bit` is the epoch bit of
 * the messages the barrier closes: it travels on their lane (rule 9), after them.
 */
export type BarrierFanout = (checkpointId: number, bit: number) => void;

/** Counts the barriers of one checkpoint until every input has sent its own. */
export class BarrierCount {
  /** Inputs that send a barrier per checkpoint; set at wiring. */
  expected = 0;
  private seen = 0;

  /** One input's barrier; true when it was the last one. */
  arrive(): boolean {
    if (++this.seen < this.expected) return false;
    this.seen = 0;
    return true;
  }
}

/** A replica of a parallel stage on one thread. */
export class ParallelActor implements Behaviour {
  paused = false;
  readonly counters: ActorCounters = { received: 0 };
  readonly barriers = new BarrierCount();
  /** Set when the process's directory is known. */
  emit: Emit = () => undefined;
  forward: BarrierFanout = () => undefined;
  /** Set at wiring: passes a latency marker on (emitters.ts `compileMarker`). */
  marker: MarkerSend = () => undefined;

  receive(tag: number, value: unknown): void {
    this.counters.received++;
    cursor.bit = bitOf(tag);
    this.emit(value);
  }

  receiveRuntime(tag: number, a: unknown, b?: unknown): void {
    if (tag === RT_BARRIER) {
      // Every input's barrier k closes the same epoch: its bit (b) goes on.
      if (this.barriers.arrive()) this.forward(a as number, b as number);
    } else if (isMarkerTag(tag)) this.marker(a as number, b as number);
  }
}

/** A state stage as a key-group actor runs it. */
export interface StateStep {
  readonly computation: StateComputation<unknown, unknown, unknown>;
  readonly where: string;
  emit: Emit;
  /** Set at wiring when metrics are on: passes a latency marker on. */
  marker?: MarkerSend;
  /** When metrics are on: counts the step's messages and times a sample of them. */
  readonly meter?: LatencyMeter | undefined;
}

/** The state entities of one key group. */
export class KeyGroupActor implements Behaviour {
  paused = false;
  readonly counters: ActorCounters = { received: 0 };
  /** State entities by key. */
  entities = new Map<string, unknown>();
  /** A moved group's state bytes, not decoded yet (restoreLater). */
  private pending: Uint8Array | undefined;
  private pendingCount = 0;
  /** The entities as the last checkpoint encoded them, while no message has changed them since. */
  private encoded: Uint8Array | undefined;
  readonly barriers = new BarrierCount();
  /** Set at wiring: sends a barrier to every actor this group's stages route to. */
  forward: BarrierFanout = () => undefined;
  /** The epoch bit of the messages this actor applies now. */
  private bit = 0;
  /** Next-epoch messages held while aligning: (tag, key, value) triples. */
  private held: unknown[] = [];

  constructor(
    readonly partition: PlannedPartition,
    readonly partitionIndex: number,
    readonly keyGroup: number,
    /** steps[stageId]: the state stages of this partition (several pipelines may share it). */
    private readonly steps: (StateStep | undefined)[],
    private readonly errors: ErrorReporter,
    private readonly checkpoints: CheckpointCollector,
    /** Adds or removes a unit of process pressure, and counts this group as a holder. */
    private readonly pressure: HoldPressure = () => undefined,
    /** The thread's check of the first state each partition writes (state-check.ts). */
    private readonly stateCheck?: StateCheck,
  ) {}

  /** True while holding past HOLD_HIGH (one unit of pressure added, a holder of `pressingBit`). */
  private pressing = false;
  private pressingBit = 0;

  receive(tag: number, key: unknown, value: unknown): void {
    this.counters.received++;
    const bit = bitOf(tag);
    if (bit !== this.bit) {
      // Its sender passed a barrier this actor is still aligning: after the snapshot.
      this.held.push(tag, key, value);
      if (!this.pressing && this.held.length > HOLD_HIGH * 3) {
        this.pressing = true;
        this.pressingBit = bit;
        this.pressure(1, bit);
      }
      return;
    }
    this.apply(tag - bit * EPOCH_BIT, key as string, value);
  }

  receiveRuntime(tag: number, a: unknown, b?: unknown): void {
    if (tag === RT_BARRIER) {
      if (this.barriers.arrive()) this.checkpoint(a as number);
    } else if (isMarkerTag(tag)) this.steps[markerStage(tag)]?.marker?.(a as number, b as number);
  }

  /** Restores the entities a checkpoint encoded. */
  restore(state: Uint8Array): void {
    this.entities = decodeEntities(state, this.partition.spec.codec, this.partition.name);
    this.encoded = state;
  }

  /**
   * Restores the entities a moved key group brought, decoding them only on
   * the group's first message (or a query): a reconfiguration's pause does
   * not wait for the decoding, and the groups decode one by one as input
   * reaches them. Until then a checkpoint hands in these same bytes.
   */
  restoreLater(state: Uint8Array, count: number): void {
    this.pending = state;
    this.pendingCount = count;
    this.entities = new Map();
    this.encoded = state;
  }

  /** The entities, decoded first if they came with a moved group. */
  live(): Map<string, unknown> {
    if (this.pending !== undefined) this.decodePending();
    return this.entities;
  }

  /** Entities in the group (decoded or not). */
  get size(): number {
    return this.pending === undefined ? this.entities.size : this.pendingCount;
  }

  /** The group moved away: its entities are forgotten. */
  forget(): void {
    this.pending = undefined;
    this.entities = new Map();
    this.encoded = undefined;
  }

  private decodePending(): void {
    const state = this.pending as Uint8Array;
    this.pending = undefined;
    this.entities = decodeEntities(state, this.partition.spec.codec, this.partition.name);
  }

  /** Takes the epoch bit of the thread's other actors (when spawned, or when a joiner joins). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  /** Every input sent barrier k: snapshot, forward it, then deliver what was held. */
  checkpoint(id: number): void {
    if (!this.checkpoints.needs(id, this.partitionIndex, this.keyGroup)) {
      // A reconfiguration's barrier that does not move this group: align, encode nothing.
      this.checkpoints.add(id, {
        kind: 'key-group',
        part: {
          partition: this.partitionIndex,
          keyGroup: this.keyGroup,
          count: this.size,
          state: new Uint8Array(0),
        },
      });
    } else {
      try {
        // A group no message reached since the last checkpoint is not encoded again.
        const state =
          this.encoded ??
          encodeEntities(this.entities, this.partition.spec.codec, this.partition.name);
        this.encoded = state;
        this.checkpoints.add(id, {
          kind: 'key-group',
          part: {
            partition: this.partitionIndex,
            keyGroup: this.keyGroup,
            count: this.size,
            state,
          },
        });
      } catch (err) {
        const message = err instanceof RooError ? err.message : String(err);
        // One place per partition, so that the reporter's rate limit holds across checkpoints.
        this.errors.report(
          err,
          ErrorCode.SnapshotEncodeFailed,
          `checkpoint of partition '${this.partition.name}'`,
        );
        this.checkpoints.add(id, { kind: 'error', message });
        this.checkpoints.add(id, {
          kind: 'key-group',
          part: {
            partition: this.partitionIndex,
            keyGroup: this.keyGroup,
            count: 0,
            state: new Uint8Array(),
          },
        });
      }
    }
    this.forward(id, this.bit);
    this.bit ^= 1;
    const held = this.held;
    if (this.pressing) {
      this.pressing = false;
      this.pressure(-1, this.pressingBit);
    }
    if (held.length === 0) return;
    this.held = [];
    for (let i = 0; i < held.length; i += 3) {
      const tag = held[i] as number;
      this.apply(tag - this.bit * EPOCH_BIT, held[i + 1] as string, held[i + 2]);
    }
  }

  private apply(stage: number, k: string, value: unknown): void {
    const step = this.steps[stage];
    if (step === undefined) return;
    cursor.bit = this.bit;
    if (this.pending !== undefined) this.decodePending();
    this.encoded = undefined;
    let state = this.entities.get(k);
    if (state === undefined) {
      try {
        state = this.partition.spec.initial(k);
      } catch (err) {
        this.errors.report(
          err,
          ErrorCode.ComputationFailed,
          `initial state of partition '${this.partition.name}'`,
          { key: k, input: value },
        );
        return;
      }
      this.entities.set(k, state);
    }
    let out: unknown;
    const meter = step.meter;
    try {
      const compute = step.computation.compute;
      out =
        meter === undefined || (++meter.messages & meter.mask) !== 0
          ? compute(value, state, k)
          : timedCall(meter, compute, value, state, k);
    } catch (err) {
      this.errors.report(err, ErrorCode.ComputationFailed, step.where, { key: k, input: value });
      return;
    }
    const check = this.stateCheck;
    if (check !== undefined && check.wanted(this.partitionIndex))
      check.check(this.partitionIndex, this.partition, k, this.entities.get(k));
    emitOutputs(out, step.emit);
  }
}
