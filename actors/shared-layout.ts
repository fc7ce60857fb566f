/**
 * Named offsets of the shared control block of a process's scheduler threads,
 * and the memory handed to each thread at start. Every Int32 slot that more
 * than one thread touches is named here.
 */
import { allocateRing, type RingMemory } from './ring.js';

/** Slots of the process-wide control block (Int32Array). */
export const ControlSlot = {
  /**
   * Count of overloaded actors and congested channels in the whole process.
   * Non-zero mutes every producer (backpressure rule 2, scheduler.ts).
   */
  PRESSURE: 0,
  /**
   * Count of overloaded actors only (the part of PRESSURE that local work
   * always relieves). Channel readers pause on this, never on congested
   * channels: pausing a reader because an outbound channel is full can close
   * a cycle between two workers that never drains (rule 7, scheduler.ts).
   */
  ACTOR_PRESSURE: 1,
  /**
   * Count of holders (actors aligning a barrier, a reconfiguration's hold)
   * past their mark of messages of epoch bit 0, and of bit 1: a data channel
   * reader hands back no credit for the lanes of that bit meanwhile (rule 9,
   * backpressure.ts). Never the other bit's: the barrier a holder waits for
   * travels there.
   */
  HOLDING_0: 2,
  HOLDING_1: 3,
  /** First per-thread slot; thread t uses THREAD_BASE + t * THREAD_SLOTS + k. */
  THREAD_BASE: 4,
} as const;

/** Per-thread slots, relative to the thread's base. */
export const ThreadSlot = {
  /** Doorbell: incremented by anyone who gives the thread work; parked threads wait on it. */
  BELL: 0,
  /** 1 while the thread is parked (or about to be): a producer must notify BELL. */
  SLEEPING: 1,
} as const;

/** Int32 slots per thread. */
export const THREAD_SLOTS = 2;

/** Index of a per-thread slot. */
export function threadSlot(thread: number, slot: number): number {
  return ControlSlot.THREAD_BASE + thread * THREAD_SLOTS + slot;
}

/** The shared memory of a set of scheduler threads. */
export interface SharedKernelMemory {
  readonly threadCount: number;
  readonly control: SharedArrayBuffer;
  /** rings[from][to]: the ring from thread `from` to thread `to` (null on the diagonal). */
  readonly rings: (RingMemory | null)[][];
}

/** Allocates the control block and one ring per ordered pair of threads. */
export function allocateKernelMemory(threadCount: number, ringBytes: number): SharedKernelMemory {
  const control = new SharedArrayBuffer((ControlSlot.THREAD_BASE + threadCount * THREAD_SLOTS) * 4);
  const rings: (RingMemory | null)[][] = [];
  for (let from = 0; from < threadCount; from++) {
    const row: (RingMemory | null)[] = [];
    for (let to = 0; to < threadCount; to++) row.push(from === to ? null : allocateRing(ringBytes));
    rings.push(row);
  }
  return { threadCount, control, rings };
}
