/**
 * Checkpoint epochs on the data path (docs/resilience.md).
 *
 * Sources inject barrier k in band; every message a stream actor sends
 * carries one bit: the parity of the number of barriers that the source data
 * it derives from had passed. A stateful actor that has seen barrier k from
 * some inputs but not all receives, from those inputs, messages of the next
 * parity: it holds them until barrier k has come from every input, snapshots,
 * forwards barrier k, and then delivers what it held. That is alignment
 * without naming inputs: channels are FIFO and one checkpoint is in flight at
 * a time, so only two epochs are ever live and one bit tells them apart.
 * Stateless actors do not hold: they stamp each output with the bit of the
 * input it came from, and forward barrier k once it has come from every input.
 *
 * Without resilience no barrier is ever injected: every bit stays 0.
 *
 * Between workers, a data channel keeps the messages of each bit on a lane
 * of their own (data-channel.ts), and a barrier (RT_BARRIER, `a` the
 * checkpoint id, `b` the bit of the epoch it closes) on the lane of the
 * messages it follows: so what comes before a barrier still comes before it,
 * and the next epoch's messages, which a holder may be waiting to apply, can
 * be held back without holding the barrier back (backpressure rule 9).
 */

/** Added to a message's tag when it belongs to the odd epoch. */
export const EPOCH_BIT = 1 << 24;

/** Runtime message: barrier of checkpoint `a` (a number). */
export const RT_BARRIER = -3;
/** Runtime message to a source or sink writer: checkpoint `a` committed. */
export const RT_COMMIT = -4;

/**
 * The epoch bit of the message being processed on this thread. An actor sets
 * it before it emits; routes and sink encoders stamp it on what they send.
 * (One thread runs one actor at a time, so a module-wide cell is exact.)
 */
export const cursor = { bit: 0 };

/**
 * Adds (+1) or removes (-1) a unit of process pressure and counts the caller
 * as a holder of epoch bit `bit`'s messages past its mark, or no longer
 * (Scheduler.addPressure and Scheduler.holding; backpressure rule 9): a key
 * group aligning a barrier, or a reconfiguration's hold.
 */
export type HoldPressure = (delta: 1 | -1, bit: number) => void;

/** The epoch bit of a tag. */
export function bitOf(tag: number): number {
  return tag >= EPOCH_BIT ? 1 : 0;
}

/**
 * The data-channel lane of a message to another worker (data-link.ts): an
 * application message's epoch bit; a barrier's the bit of the epoch it
 * closes (its `b`); -1 for any other runtime message, which follows the
 * message before it.
 */
export function laneOf(tag: number, b: unknown): number {
  if (tag >= 0) return tag >= EPOCH_BIT ? 1 : 0;
  return tag === RT_BARRIER ? (b as number) : -1;
}
