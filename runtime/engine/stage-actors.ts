/**
 * The actors that run a plan's parallel and state stages.
 *
 * A key-group actor hosts the state entities of one key group of one state
 * partition. Each entity keeps actor semantics: private state, reached only by
 * messages, one message at a time, in arrival order. Key groups are the unit
 * that later moves between threads and workers, so an entity never outlives
 * or escapes its group.
 */
import type { Behaviour } from '../../actors/index.js';
import { ErrorCode } from '../../protocols/index.js';
import type { StateComputation } from '../api/computations.js';
import type { PlannedPartition } from '../topology/plan.js';
import { emitOutputs, type Emit } from './emitters.js';
import type { ErrorReporter } from './error-reporter.js';

/** Counters every stream actor keeps. */
export interface ActorCounters {
  received: number;
}

/** A replica of a parallel stage on one thread. */
export class ParallelActor implements Behaviour {
  paused = false;
  readonly counters: ActorCounters = { received: 0 };
  /** Set when the process's directory is known. */
  emit: Emit = () => undefined;

  receive(_tag: number, value: unknown): void {
    this.counters.received++;
    this.emit(value);
  }

  receiveRuntime(): void {}
}

/** A state stage as a key-group actor runs it. */
export interface StateStep {
  readonly computation: StateComputation<unknown, unknown, unknown>;
  readonly where: string;
  emit: Emit;
}

/** The state entities of one key group. */
export class KeyGroupActor implements Behaviour {
  paused = false;
  readonly counters: ActorCounters = { received: 0 };
  /** State entities by key. */
  readonly entities = new Map<string, unknown>();

  constructor(
    readonly partition: PlannedPartition,
    readonly keyGroup: number,
    /** steps[stageId]: the state stages of this partition (several pipelines may share it). */
    private readonly steps: (StateStep | undefined)[],
    private readonly errors: ErrorReporter,
  ) {}

  receive(tag: number, key: unknown, value: unknown): void {
    this.counters.received++;
    const step = this.steps[tag];
    if (step === undefined) return;
    const k = key as string;
    let state = this.entities.get(k);
    if (state === undefined) {
      try {
        state = this.partition.spec.initial(k);
      } catch (err) {
        this.errors.report(
          err,
          ErrorCode.ComputationFailed,
          `initial state of partition '${this.partition.name}'`,
        );
        return;
      }
      this.entities.set(k, state);
    }
    let out: unknown;
    try {
      out = step.computation.compute(value, state, k);
    } catch (err) {
      this.errors.report(err, ErrorCode.ComputationFailed, step.where);
      return;
    }
    emitOutputs(out, step.emit);
  }

  receiveRuntime(): void {}
}
