/**
 * An actor's address: which scheduler thread it lives on and its id there,
 * in one number, so any thread can tell where an actor lives from its ref
 * alone.
 */

/** Address of an actor anywhere in the process: thread index and local id. */
export type ActorRef = number;
/** Bits of an ActorRef that hold the local id. */
export const LOCAL_BITS = 20;
/** Mask of the local id bits. */
export const LOCAL_MASK = (1 << LOCAL_BITS) - 1;

/** Makes an ActorRef. */
export function actorRef(thread: number, local: number): ActorRef {
  return thread * (1 << LOCAL_BITS) + local;
}
/** The thread of an ActorRef. */
export function refThread(ref: ActorRef): number {
  return Math.floor(ref / (1 << LOCAL_BITS));
}
/** The local id of an ActorRef. */
export function refLocal(ref: ActorRef): number {
  return ref & LOCAL_MASK;
}
