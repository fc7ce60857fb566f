/**
 * What users implement: stateless computations, state computations, and
 * state partitions. A computation maps one input to zero, one or many
 * outputs: return `undefined` (or `null`) for none, a value for one, an
 * array for many (wrap an array in an object to emit it as one value).
 */

/** What a computation returns: nothing, one output, or many. */
export type Outputs<O> = O | readonly O[] | undefined | null;

/** A stateless computation. */
export interface Computation<I, O> {
  readonly kind: 'computation';
  readonly name: string;
  readonly compute: (input: I) => Outputs<O>;
}

/**
 * A state computation: receives each input with the state entity of the
 * input's key, may update the state in place, and may emit outputs.
 */
export interface StateComputation<I, S, O> {
  readonly kind: 'state-computation';
  readonly name: string;
  readonly compute: (input: I, state: S, key: string) => Outputs<O>;
}

/** How a state value is written to and read from a snapshot (default: msgpackr). */
export interface StateCodec<S> {
  readonly serialize: (state: S) => Uint8Array;
  readonly deserialize: (bytes: Uint8Array) => S;
}

/**
 * A state partition: state entities by key, split into key groups that are
 * placed on threads (and, later, workers). Pipelines that name the same
 * partition share its entities.
 */
export interface StatePartition<S> {
  readonly kind: 'state-partition';
  readonly name: string;
  /** Builds the state entity of a key on the key's first message. */
  readonly initial: (key: string) => S;
  /**
   * Fixed keys (Wallaroo's partition lists): each declared key gets its own
   * key group, and a message whose key is not declared is refused with
   * ROO_ERR_UNKNOWN_KEY. Absent: dynamic keys, created on first use.
   */
  readonly keys: readonly string[] | undefined;
  /** Key groups of a dynamic partition (a power of two; fixed at cluster start). */
  readonly keyGroups: number;
  /** Optional snapshot codec for state types msgpackr cannot carry. */
  readonly codec: StateCodec<S> | undefined;
}

/** Default key groups of a dynamic state partition. */
export const DEFAULT_KEY_GROUPS = 256;

/** Defines a stateless computation. */
export function computation<I, O>(
  name: string,
  compute: (input: I) => Outputs<O>,
): Computation<I, O> {
  return { kind: 'computation', name, compute };
}

/** Defines a state computation. */
export function stateComputation<I, S, O>(
  name: string,
  compute: (input: I, state: S, key: string) => Outputs<O>,
): StateComputation<I, S, O> {
  return { kind: 'state-computation', name, compute };
}

/** Options of {@link statePartition}. */
export interface StatePartitionOptions<S> {
  /** Builds a key's state on its first message. */
  readonly initial: (key: string) => S;
  /** Fixed keys; see {@link StatePartition.keys}. */
  readonly keys?: readonly string[];
  /** Key groups of a dynamic partition; a power of two (default 256). */
  readonly keyGroups?: number;
  /** Snapshot codec; see {@link StateCodec}. */
  readonly codec?: StateCodec<S>;
}

/** Defines a state partition. */
export function statePartition<S>(
  name: string,
  options: StatePartitionOptions<S>,
): StatePartition<S> {
  return {
    kind: 'state-partition',
    name,
    initial: options.initial,
    keys: options.keys === undefined ? undefined : [...options.keys],
    keyGroups: options.keyGroups ?? DEFAULT_KEY_GROUPS,
    codec: options.codec,
  };
}
