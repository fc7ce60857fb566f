/**
 * A checked move of a state machine: every lifecycle is a
 * union of states, a table of the moves each state allows, and one
 * transition function that rejects illegal moves. This is the body those
 * functions share; each machine keeps its own typed, exported function and
 * names itself in the error. Pure.
 */
import { ErrorCode, RooError } from './errors.js';

/** The states each state may move to; `[]` for a final one. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

/**
 * Returns `to` if `table` lets `from` move there; throws ROO_ERR_INTERNAL
 * "`what` cannot move from `from` to `to`" otherwise: an illegal move is a
 * bug of the machine's owner, never a peer's doing.
 */
export function checkedTransition<S extends string>(
  table: TransitionTable<S>,
  from: S,
  to: S,
  what: string,
): S {
  if (!table[from].includes(to)) {
    throw new RooError(ErrorCode.Internal, `${what} cannot move from ${from} to ${to}`);
  }
  return to;
}
