/**
 * What a thread's routes do while key groups move (an online
 * reconfiguration: a worker joins or leaves, or groups change threads).
 *
 * A reconfiguration starts with a barrier (epochs.ts), and every sending
 * actor switches on it, message by message, by the epoch bit it stamps:
 *
 * - a message sent before the barrier goes where the old routing table
 *   says, so the group's old owner has applied every such message when it
 *   aligns the barrier and ships the group's state;
 * - a message sent after the barrier to a group that moves is held here, on
 *   the sending thread, in send order, until the new routing table is
 *   installed (the group's new owner has its state by then); `release`
 *   then sends it there;
 * - a message sent after the barrier to any other group goes on at once, so
 *   only the moving groups pause; and a parallel stage's output skips the
 *   replicas of workers that leave, so that nothing after the barrier
 *   reaches a worker on its way out.
 *
 * Per sender and key, order holds: a sender's messages before the barrier
 * are applied by the old owner before it ships the state, those after it
 * are held in order and applied by the new owner after the state arrived.
 * Because the switch is at each sender's barrier, a checkpoint taken with
 * that barrier stays consistent: nothing held belongs before it.
 *
 * The hold is bounded: past HOLD_PRESSURE messages it adds one unit of
 * process pressure (sources mute, docs/architecture.md section 5) and counts
 * as a holder of the bit after the barrier (rule 9: data channels hand back
 * no credit for that bit's lanes) until it is released, as a key group
 * aligning a barrier does.
 */
import { cursor, type HoldPressure } from './epochs.js';

/**
 * Held messages past which the hold adds a unit of process pressure
 * (sources mute). A reconfiguration's moving groups wait a few hundred ms
 * for their state; at 485 k words/s into one thread, half of them to moving
 * groups, that is 70 k to 150 k messages (the scaling benchmark), and at
 * 65,536 the sources muted and every key paused, not only the moving ones.
 * 262,144 covers about a second of that; each held message costs five array
 * slots (the key and value are the message's own), some 10 to 20 MB at the bound.
 */
export const HOLD_PRESSURE = 262_144;

/** A key group that moves: partition index and group. */
export interface MovingGroup {
  readonly partition: number;
  readonly keyGroup: number;
}

/** Sends one held message to the group's owner in the routing table now installed. */
export type Release = (
  partition: number,
  keyGroup: number,
  tag: number,
  key: string,
  value: unknown,
) => void;

/** One thread's hold of the messages for moving key groups. */
export class MoveHold {
  /** True from a reconfiguration's barrier until `release`. Read on every routed message. */
  active = false;
  /** The epoch bit of messages sent after the barrier. */
  private after = 0;
  /** moving[partition][keyGroup] is 1 for a group that moves. */
  private moving: Uint8Array[] = [];
  /** leaving[worker] is 1 for a worker (index in the table before) that leaves. */
  private leaving = new Uint8Array(0);
  /** Held messages as (partition, group, tag, key, value) runs, in send order. */
  private held: unknown[] = [];
  private pressing = false;

  constructor(
    /** Adds or removes a unit of process pressure, and counts this hold as a holder. */
    private readonly pressure: HoldPressure = () => undefined,
  ) {}

  /**
   * A reconfiguration begins on this thread: messages sent with epoch bit
   * `after` (after its barrier) to one of `groups` are held, and parallel
   * output after it skips the workers of `leaving`.
   */
  begin(
    after: number,
    groups: readonly MovingGroup[],
    partitionSizes: readonly number[],
    leaving: readonly number[],
  ): void {
    this.after = after;
    this.moving = partitionSizes.map((n) => new Uint8Array(n));
    for (const g of groups) {
      const row = this.moving[g.partition];
      if (row !== undefined && g.keyGroup >= 0 && g.keyGroup < row.length) row[g.keyGroup] = 1;
    }
    this.leaving = new Uint8Array(Math.max(0, ...leaving.map((w) => w + 1)));
    for (const w of leaving) this.leaving[w] = 1;
    this.active = true;
  }

  /** True if the message being sent now (after the barrier) to this group must wait. */
  holds(partition: number, keyGroup: number): boolean {
    return cursor.bit === this.after && this.moving[partition]?.[keyGroup] === 1;
  }

  /** True if the message being sent now (after the barrier) must not go to `worker`. */
  skips(worker: number): boolean {
    return cursor.bit === this.after && this.leaving[worker] === 1;
  }

  /** Holds one message for a moving group, `tag` already stamped with its epoch bit. */
  hold(partition: number, keyGroup: number, tag: number, key: string, value: unknown): void {
    this.held.push(partition, keyGroup, tag, key, value);
    if (!this.pressing && this.held.length > HOLD_PRESSURE * 5) {
      this.pressing = true;
      this.pressure(1, this.after);
    }
  }

  /** Messages held now. */
  get size(): number {
    return this.held.length / 5;
  }

  /**
   * The new routing table is installed: sends every held message through
   * `send`, in order, and ends the hold. Returns how many were held.
   */
  release(send: Release): number {
    const held = this.held;
    this.held = [];
    this.active = false;
    this.moving = [];
    this.leaving = new Uint8Array(0);
    if (this.pressing) {
      this.pressing = false;
      this.pressure(-1, this.after);
    }
    for (let i = 0; i < held.length; i += 5)
      send(
        held[i] as number,
        held[i + 1] as number,
        held[i + 2] as number,
        held[i + 3] as string,
        held[i + 4],
      );
    return held.length / 5;
  }
}
