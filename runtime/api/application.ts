/**
 * The application builder: pipelines from a source through computations to a
 * sink, typed end to end. The result is a plain description; the runtime
 * plans and runs it.
 *
 *   const app = application('Word Count');
 *   app.pipeline(tcpSource({ address: args.input() }))
 *     .toParallel(split)
 *     .keyBy((word) => word)
 *     .toStateful(countWord, wordTotals)
 *     .toSink(tcpSink({ address: args.output(), encoder }));
 *   return app.build();
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { Computation, StateComputation, StatePartition } from './computations.js';
import type { SinkConfig, SourceConfig } from './connectors.js';

/** One step of a pipeline, as described by the user. */
export type StepSpec =
  | {
      readonly kind: 'computation';
      readonly computation: Computation<unknown, unknown>;
      readonly parallel: boolean;
    }
  | {
      readonly kind: 'state';
      readonly computation: StateComputation<unknown, unknown, unknown>;
      readonly partition: StatePartition<unknown>;
      readonly key: (input: unknown) => string;
    };

/** A pipeline as described by the user. */
export interface PipelineSpec {
  readonly name: string;
  readonly source: SourceConfig<unknown>;
  readonly steps: readonly StepSpec[];
  readonly sink: SinkConfig<unknown> | undefined;
}

/** A built application: what an application module's function returns. */
export interface Application {
  readonly kind: 'application';
  readonly name: string;
  readonly pipelines: readonly PipelineSpec[];
  readonly partitions: ReadonlyMap<string, StatePartition<unknown>>;
}

/** A pipeline under construction whose current output type is T. */
export class Pipeline<T> {
  /** @internal */
  constructor(
    private readonly spec: {
      name: string;
      source: SourceConfig<unknown>;
      steps: StepSpec[];
      sink?: SinkConfig<unknown>;
    },
    private readonly owner: ApplicationBuilder,
  ) {}

  /** Adds a stateless computation, run in order on the thread of the step before it. */
  to<O>(c: Computation<T, O>): Pipeline<O> {
    this.spec.steps.push({
      kind: 'computation',
      computation: c as Computation<unknown, unknown>,
      parallel: false,
    });
    return this as unknown as Pipeline<O>;
  }

  /**
   * Adds a parallel stateless computation (Wallaroo's to_parallel): its
   * inputs are spread over every thread, so it scales, but order between
   * inputs is not kept.
   */
  toParallel<O>(c: Computation<T, O>): Pipeline<O> {
    this.spec.steps.push({
      kind: 'computation',
      computation: c as Computation<unknown, unknown>,
      parallel: true,
    });
    return this as unknown as Pipeline<O>;
  }

  /** Routes each message by a key; follow with `toStateful`. */
  keyBy(key: (input: T) => string): KeyedPipeline<T> {
    return new KeyedPipeline<T>(this.spec, this.owner, key);
  }

  /** Ends the pipeline at a sink. */
  toSink(sink: SinkConfig<T>): void {
    if (this.spec.sink !== undefined) {
      throw new RooError(
        ErrorCode.BadApplication,
        `pipeline '${this.spec.name}' already has a sink`,
      );
    }
    this.spec.sink = sink as SinkConfig<unknown>;
  }

  /** Ends the pipeline with no sink (outputs are dropped). */
  done(): void {}
}

/** A pipeline whose next step is keyed. */
export class KeyedPipeline<T> {
  /** @internal */
  constructor(
    private readonly spec: {
      name: string;
      source: SourceConfig<unknown>;
      steps: StepSpec[];
      sink?: SinkConfig<unknown>;
    },
    private readonly owner: ApplicationBuilder,
    private readonly key: (input: T) => string,
  ) {}

  /**
   * Adds a state computation over a state partition: each input meets the
   * state entity of its key, one message at a time.
   */
  toStateful<S, O>(c: StateComputation<T, S, O>, partition: StatePartition<S>): Pipeline<O> {
    const shared = this.owner.registerPartition(partition as StatePartition<unknown>);
    this.spec.steps.push({
      kind: 'state',
      computation: c as StateComputation<unknown, unknown, unknown>,
      partition: shared,
      key: this.key as (input: unknown) => string,
    });
    return new Pipeline<O>(this.spec, this.owner);
  }
}

/** Builds an application. */
export class ApplicationBuilder {
  private readonly pipelines: {
    name: string;
    source: SourceConfig<unknown>;
    steps: StepSpec[];
    sink?: SinkConfig<unknown>;
  }[] = [];
  private readonly partitions = new Map<string, StatePartition<unknown>>();

  constructor(readonly name: string) {}

  /** Starts a pipeline at a source. */
  pipeline<T>(source: SourceConfig<T>, name: string = source.name): Pipeline<T> {
    if (this.pipelines.some((p) => p.name === name)) {
      throw new RooError(ErrorCode.BadApplication, `two pipelines are named '${name}'`);
    }
    const spec = { name, source: source as SourceConfig<unknown>, steps: [] as StepSpec[] };
    this.pipelines.push(spec);
    return new Pipeline<T>(spec, this);
  }

  /**
   * @internal Shares a partition by name between pipelines. A second
   * partition of the same name must be the same one (the same value, or one
   * made with the same `initial`, keys, key groups and codec): two
   * different ones would be merged, the second's state built by the first's
   * `initial`. Throws RooError ROO_ERR_BAD_APPLICATION naming it.
   */
  registerPartition(partition: StatePartition<unknown>): StatePartition<unknown> {
    const known = this.partitions.get(partition.name);
    if (known === undefined) {
      validatePartition(partition);
      this.partitions.set(partition.name, partition);
      return partition;
    }
    const differs = partitionDifference(known, partition);
    if (differs !== undefined) {
      throw new RooError(
        ErrorCode.BadApplication,
        `application '${this.name}' has two state partitions named '${partition.name}' with ${differs}: pipelines share a partition by passing the same statePartition(...) value; give a different partition another name`,
        { partition: partition.name },
      );
    }
    return known;
  }

  /** The finished application. */
  build(): Application {
    if (this.pipelines.length === 0) {
      throw new RooError(ErrorCode.BadApplication, `application '${this.name}' has no pipeline`);
    }
    return {
      kind: 'application',
      name: this.name,
      pipelines: this.pipelines.map((p) => ({
        name: p.name,
        source: p.source,
        steps: [...p.steps],
        sink: p.sink,
      })),
      partitions: new Map(this.partitions),
    };
  }
}

/** How two partitions of one name differ (for the refusal), or undefined if they are the same. */
function partitionDifference(
  a: StatePartition<unknown>,
  b: StatePartition<unknown>,
): string | undefined {
  if (a === b) return undefined;
  if (a.initial !== b.initial) return 'different initial functions (different state)';
  if (a.codec !== b.codec) return 'different codecs';
  if (a.keyGroups !== b.keyGroups) return `different key groups (${a.keyGroups}, ${b.keyGroups})`;
  const keys = (p: StatePartition<unknown>): string => JSON.stringify(p.keys ?? null);
  if (keys(a) !== keys(b)) return 'different keys';
  return undefined;
}

function validatePartition(p: StatePartition<unknown>): void {
  if (p.keys !== undefined) {
    if (p.keys.length === 0) {
      throw new RooError(ErrorCode.BadApplication, `state partition '${p.name}' declares no keys`);
    }
    if (new Set(p.keys).size !== p.keys.length) {
      throw new RooError(
        ErrorCode.BadApplication,
        `state partition '${p.name}' declares a key twice`,
      );
    }
  } else if (
    !Number.isInteger(p.keyGroups) ||
    p.keyGroups < 1 ||
    (p.keyGroups & (p.keyGroups - 1)) !== 0
  ) {
    throw new RooError(
      ErrorCode.BadApplication,
      `state partition '${p.name}': keyGroups must be a power of two, got ${p.keyGroups}`,
    );
  }
}

/** Starts building an application. */
export function application(name: string): ApplicationBuilder {
  return new ApplicationBuilder(name);
}
