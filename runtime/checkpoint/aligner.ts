/**
 * Barrier alignment for an actor with several inputs (Chandy-Lamport as
 * asynchronous barrier snapshots, as Flink's aligned checkpoints). Pure: it
 * takes facts (a message or a barrier arrived on an input, the coordinator
 * aborted a checkpoint, the topology added or removed an input) and returns
 * decisions. The actor's executor snapshots, forwards barriers and delivers
 * messages; see README.md beside this file.
 *
 *   idle --(first barrier k)--> aligning k --(barrier k on every input)--> idle
 *                                    |  \--(abort k, or removeInput covers the rest)
 *                                    \------------------------------------------> idle
 *
 * Rules, each enforced below with a RooError and leaving the state unchanged:
 *   1. A barrier from an unknown input, or with an id that is not a safe
 *      non-negative integer, is refused (BadMessage).
 *   2. A barrier older than the checkpoint aligning, or not newer than the
 *      last aligned one, is refused (BadMessage), except a late barrier of a
 *      checkpoint the coordinator aborted, which is dropped ({ kind: 'dropped' }).
 *   3. A second barrier k from the same input is refused (BadMessage).
 *   4. A barrier k+1 while k is aligning is refused (BadMessage): one
 *      checkpoint in flight at a time.
 *   5. Inputs are added only between checkpoints (Internal otherwise);
 *      removing an input during alignment counts as its barrier arriving.
 *   6. Bound: at most `maxHeldPerInput` messages are held per input. The
 *      caller mutes an input whose `heldCount` reached the bound (stops
 *      reading it) until alignment ends; a message past the bound is refused
 *      with QueueFull and not held.
 */
import { ErrorCode, RooError, type ErrorCodeValue } from '../../protocols/index.js';

/** An input of an actor: an upstream step's id. */
export type InputId = string | number;

/** Default for {@link AlignerOptions.maxHeldPerInput}. */
export const DEFAULT_MAX_HELD_PER_INPUT = 65_536;

/** Options of a {@link BarrierAligner}. */
export interface AlignerOptions {
  /** Most messages held per input during one alignment (rule 6). */
  readonly maxHeldPerInput?: number;
}

/** A message the aligner held, with the input it came from. */
export interface HeldMessage<I extends InputId, Msg> {
  readonly input: I;
  readonly msg: Msg;
}

/** What to do with a message: hand it to the actor now, or nothing (the aligner keeps it). */
export type MessageDecision = 'deliver' | 'held';

/** Barrier k has arrived on every input: snapshot, forward barrier k, then deliver `release`. */
export interface Aligned<I extends InputId, Msg> {
  readonly kind: 'aligned';
  readonly checkpointId: number;
  /** Held messages: inputs in the order they were registered, each input FIFO. */
  readonly release: readonly HeldMessage<I, Msg>[];
}

/** Barrier k is still missing on some input. */
export interface Waiting {
  readonly kind: 'waiting';
  readonly checkpointId: number;
}

/** A late barrier of a checkpoint the coordinator aborted: ignore it. */
export interface Dropped {
  readonly kind: 'dropped';
  readonly checkpointId: number;
}

/** The decision on a barrier. */
export type BarrierDecision<I extends InputId, Msg> = Aligned<I, Msg> | Waiting | Dropped;

/** The decision on removing an input: nothing to do (idle), or the alignment's progress. */
export type RemoveDecision<I extends InputId, Msg> =
  { readonly kind: 'removed' } | Waiting | Aligned<I, Msg>;

/** The decision on an abort: deliver `release` (held messages, same order as {@link Aligned}). */
export interface Aborted<I extends InputId, Msg> {
  readonly kind: 'aborted';
  readonly checkpointId: number;
  readonly release: readonly HeldMessage<I, Msg>[];
}

/** The aligner's phase, as a union of states (no bag of booleans). */
export type AlignerPhase<I extends InputId> =
  | { readonly name: 'idle' }
  | { readonly name: 'aligning'; readonly checkpointId: number; readonly arrived: Set<I> };

/** Names of the events the aligner reacts to. */
export type AlignerEvent = 'message' | 'barrier' | 'abort' | 'addInput' | 'removeInput';

type PhaseName = AlignerPhase<InputId>['name'];

/** Legal moves: for each phase and event, the phases it may lead to. Empty = refused. */
const TRANSITIONS: Readonly<
  Record<PhaseName, Readonly<Record<AlignerEvent, readonly PhaseName[]>>>
> = {
  idle: {
    message: ['idle'],
    barrier: ['idle', 'aligning'],
    abort: ['idle'],
    addInput: ['idle'],
    removeInput: ['idle'],
  },
  aligning: {
    message: ['aligning'],
    barrier: ['aligning', 'idle'],
    abort: ['aligning', 'idle'],
    addInput: [],
    removeInput: ['aligning', 'idle'],
  },
};

/** Barrier aligner of one actor with several inputs. Single-threaded; no I/O, no timers. */
export class BarrierAligner<Msg, I extends InputId = InputId> {
  /** Bound of held messages per input (rule 6). */
  readonly maxHeldPerInput: number;
  private state: AlignerPhase<I> = { name: 'idle' };
  /** Registered inputs, in registration order. */
  private readonly live = new Set<I>();
  /**
   * Held messages per input, in registration order. An input removed while
   * aligning keeps its queue here until the alignment ends.
   */
  private readonly held = new Map<I, Msg[]>();
  private lastAligned = -1;
  /** Highest checkpoint id the coordinator aborted (-1: none). */
  private lastAborted = -1;

  /** @param inputs the actor's inputs; duplicates are refused. */
  constructor(inputs: Iterable<I>, options: AlignerOptions = {}) {
    const max = options.maxHeldPerInput ?? DEFAULT_MAX_HELD_PER_INPUT;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RooError(
        ErrorCode.Internal,
        `maxHeldPerInput must be a non-negative integer, got ${String(max)}`,
      );
    }
    this.maxHeldPerInput = max;
    for (const input of inputs) this.addInput(input);
  }

  /** The current phase. */
  get phase(): AlignerPhase<I> {
    return this.state;
  }

  /** The registered inputs, in registration order. */
  get inputs(): readonly I[] {
    return [...this.live];
  }

  /** The last checkpoint this aligner aligned (-1: none yet). */
  get lastAlignedCheckpoint(): number {
    return this.lastAligned;
  }

  /** Messages held for `input` now (0 for an input with none, or unknown). */
  heldCount(input: I): number {
    return this.held.get(input)?.length ?? 0;
  }

  /** Messages held over all inputs now. */
  get totalHeld(): number {
    let n = 0;
    for (const q of this.held.values()) n += q.length;
    return n;
  }

  /** True when `input` has reached the bound: the caller mutes it until alignment ends. */
  isAtBound(input: I): boolean {
    return this.heldCount(input) >= this.maxHeldPerInput;
  }

  /** A message arrived on `input`: deliver it now, or it is held until alignment ends. */
  onMessage(input: I, msg: Msg): MessageDecision {
    this.requireLive(input, 'a message from');
    const s = this.state;
    if (s.name === 'idle' || !s.arrived.has(input)) {
      this.moveTo('message', s);
      return 'deliver';
    }
    const queue = this.queueOf(input);
    if (queue.length >= this.maxHeldPerInput) {
      throw new RooError(
        ErrorCode.QueueFull,
        `input ${String(input)} already holds ${queue.length} messages while aligning checkpoint ${s.checkpointId}; mute it until alignment ends`,
        { input, checkpointId: s.checkpointId, held: queue.length },
      );
    }
    this.moveTo('message', s);
    queue.push(msg);
    return 'held';
  }

  /** Barrier `checkpointId` arrived on `input`. */
  onBarrier(input: I, checkpointId: number): BarrierDecision<I, Msg> {
    this.requireLive(input, 'a barrier from');
    requireCheckpointId(checkpointId, 'barrier');
    const s = this.state;
    if (s.name === 'aligning' && checkpointId === s.checkpointId) {
      if (s.arrived.has(input)) {
        throw new RooError(
          ErrorCode.BadMessage,
          `second barrier ${checkpointId} from input ${String(input)}`,
          { input, checkpointId },
        );
      }
      return this.arrive(input, s);
    }
    if (s.name === 'aligning' && checkpointId > s.checkpointId) {
      throw new RooError(
        ErrorCode.BadMessage,
        `barrier ${checkpointId} from input ${String(input)} while checkpoint ${s.checkpointId} is aligning: one checkpoint in flight at a time`,
        { input, checkpointId, aligning: s.checkpointId },
      );
    }
    if (checkpointId > this.lastAligned && checkpointId <= this.lastAborted) {
      // A late barrier of an aborted checkpoint: in flight when the abort came.
      this.moveTo('barrier', s);
      return { kind: 'dropped', checkpointId };
    }
    if (s.name === 'aligning') {
      throw new RooError(
        ErrorCode.BadMessage,
        `barrier ${checkpointId} from input ${String(input)} is older than checkpoint ${s.checkpointId}, which is aligning`,
        { input, checkpointId, aligning: s.checkpointId },
      );
    }
    if (checkpointId <= this.lastAligned) {
      throw new RooError(
        ErrorCode.BadMessage,
        `barrier ${checkpointId} from input ${String(input)} is not newer than the last aligned checkpoint ${this.lastAligned}`,
        { input, checkpointId, lastAligned: this.lastAligned },
      );
    }
    return this.arrive(input, { name: 'aligning', checkpointId, arrived: new Set() });
  }

  /**
   * The coordinator aborted `checkpointId`. If that checkpoint (or an older
   * one) is aligning, everything held is released and the aligner resets;
   * later barriers of an aborted checkpoint are dropped. An abort of a
   * checkpoint older than the one aligning changes nothing.
   */
  abort(checkpointId: number): Aborted<I, Msg> {
    requireCheckpointId(checkpointId, 'abort');
    const s = this.state;
    if (s.name === 'aligning' && checkpointId < s.checkpointId) {
      this.moveTo('abort', s);
      return { kind: 'aborted', checkpointId, release: [] };
    }
    this.lastAborted = Math.max(this.lastAborted, checkpointId);
    const release = this.drain();
    this.moveTo('abort', { name: 'idle' });
    return { kind: 'aborted', checkpointId, release };
  }

  /** Registers a new input. Only between checkpoints (rule 5). */
  addInput(input: I): void {
    if (this.live.has(input) || this.held.has(input)) {
      throw new RooError(ErrorCode.Internal, `input ${String(input)} is already registered`, {
        input,
      });
    }
    if (this.state.name === 'aligning') {
      throw new RooError(
        ErrorCode.Internal,
        `cannot add input ${String(input)} while checkpoint ${this.state.checkpointId} is aligning; add inputs between checkpoints`,
        { input, checkpointId: this.state.checkpointId },
      );
    }
    this.moveTo('addInput', this.state);
    this.live.add(input);
    this.held.set(input, []);
  }

  /**
   * Unregisters an input. While aligning, this counts as its barrier having
   * arrived (it may complete the alignment); what it already had held is
   * still released with the others.
   */
  removeInput(input: I): RemoveDecision<I, Msg> {
    this.requireLive(input, 'cannot remove', ErrorCode.Internal);
    const s = this.state;
    this.live.delete(input);
    if (s.name === 'idle') {
      this.held.delete(input);
      this.moveTo('removeInput', s);
      return { kind: 'removed' };
    }
    s.arrived.delete(input);
    return this.settle('removeInput', s);
  }

  private arrive(input: I, s: AlignerPhase<I> & { name: 'aligning' }): Aligned<I, Msg> | Waiting {
    s.arrived.add(input);
    return this.settle('barrier', s);
  }

  /** Completes the alignment if every live input has delivered the barrier. */
  private settle(
    event: AlignerEvent,
    s: AlignerPhase<I> & { name: 'aligning' },
  ): Aligned<I, Msg> | Waiting {
    for (const i of this.live) {
      if (!s.arrived.has(i)) {
        this.moveTo(event, s);
        return { kind: 'waiting', checkpointId: s.checkpointId };
      }
    }
    const release = this.drain();
    this.lastAligned = s.checkpointId;
    this.moveTo(event, { name: 'idle' });
    return { kind: 'aligned', checkpointId: s.checkpointId, release };
  }

  /** Takes every held message (registration order, FIFO per input); forgets removed inputs. */
  private drain(): HeldMessage<I, Msg>[] {
    const out: HeldMessage<I, Msg>[] = [];
    for (const [input, queue] of this.held) {
      for (const msg of queue) out.push({ input, msg });
      if (this.live.has(input)) this.held.set(input, []);
      else this.held.delete(input);
    }
    return out;
  }

  private queueOf(input: I): Msg[] {
    let q = this.held.get(input);
    if (q === undefined) {
      q = [];
      this.held.set(input, q);
    }
    return q;
  }

  private requireLive(input: I, what: string, code: ErrorCodeValue = ErrorCode.BadMessage): void {
    if (!this.live.has(input)) {
      throw new RooError(
        code,
        `${what} input ${String(input)}, which is not an input of this actor`,
        {
          input,
        },
      );
    }
  }

  /** The one transition function: refuses a move the table does not allow. */
  private moveTo(event: AlignerEvent, next: AlignerPhase<I>): void {
    if (!TRANSITIONS[this.state.name][event].includes(next.name)) {
      throw new RooError(
        ErrorCode.Internal,
        `barrier aligner: ${event} may not move ${this.state.name} to ${next.name}`,
      );
    }
    this.state = next;
  }
}

function requireCheckpointId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new RooError(
      ErrorCode.BadMessage,
      `${what} checkpoint id must be a non-negative integer, got ${String(id)}`,
    );
  }
}
