/**
 * Backpressure: the process-wide pressure the scheduler threads share, and
 * one thread's muted producers.
 *
 * The rules (each upheld by the code named):
 *  1. A mailbox holding more than `overloadHigh` application messages makes
 *     its actor overloaded; it stops being overloaded at `overloadLow` or
 *     fewer. Each overloaded actor adds 1 to the process-wide PRESSURE slot
 *     (`Pressure.overloaded` / `Pressure.unloaded`, called by the scheduler).
 *  2. A channel whose ring is full keeps the batch in a local overflow list
 *     and is congested until the overflow drains; a congested channel adds 1
 *     to PRESSURE (outbound.ts: `flushTo` / `retryOverflow`).
 *  3. Producers (sources: the only actors that bring new messages into the
 *     process) check `pressured()` before each ingest and, when PRESSURE is
 *     non-zero, mute themselves (a TCP source stops reading its socket, so TCP
 *     pushes back on the sender) and register with `Mutes.mute`.
 *  4. When PRESSURE returns to 0, every thread's doorbell is rung
 *     (`Pressure.relieve`); each thread then unmutes its producers
 *     (`Mutes.unmute`).
 *  5. Every other actor always runs: its work is bounded by what the muted
 *     sources already let in, and because every thread keeps reading its
 *     rings (a budget per loop iteration), no cycle of full queues can
 *     deadlock the threads (unlike stopping a ring reader at one overloaded
 *     actor, which can).
 *  6. An actor may pause its own delivery (a sink whose socket is congested):
 *     its mailbox then grows past rule 1's mark and the sources mute.
 *  7. A reader of a channel from outside the process (a data channel from
 *     another worker) is a producer too, but it mutes only while actors of
 *     this process are overloaded (ACTOR_PRESSURE), never because an
 *     outbound channel is congested: two workers whose outbound sockets are
 *     both full would otherwise each stop reading the other, forever. Local
 *     overload is always relieved by local work (rule 5), so this cannot
 *     deadlock (`Mutes.mute(p, 'actors')`, `actorsOverloaded`).
 *  8. A producer also yields to its own thread's backlog: while more than
 *     `backlogBytes` of batches from other threads wait unread in this
 *     thread's rings, it mutes (`Scheduler.backlogged`, `Mutes.mute(p,
 *     'backlog')`) until they are read. Work already admitted goes first: a
 *     thread that falls behind (its core is shared, or its key groups are
 *     the busy ones) stops adding work instead of falling further behind, and
 *     the other threads' sources, which keep running, take its share of the
 *     input.
 *  9. A reader of a data channel hands its sender credit back (the sender
 *     may send only what it has credit for, per lane: an epoch bit and a
 *     stage) once it has taken the frames in, except for a lane while actors
 *     of this process are overloaded (as rule 7), or while holders of its
 *     epoch bit are past their marks (`Pressure.holding`, HOLDING_0/1: actors
 *     aligning a barrier hold the next epoch's messages; so does a
 *     reconfiguration). The other bit's lanes, which carry the barriers being
 *     waited for and the data before them, are never held back for a hold:
 *     so alignment always completes and the hold ends (docs/architecture.md
 *     section 5). A reader waiting to hand credit back is a producer muted
 *     for its own reason (`'own'`, `Producer.mayResume`).
 */
import { ControlSlot } from './shared-layout.js';

/**
 * What a muted producer waits for: all pressure gone (`'any'`), only actor
 * overload gone (`'actors'`, rule 7), all pressure gone and this thread's
 * backlog read (`'backlog'`, rule 8), or its own condition (`'own'`,
 * {@link Producer.mayResume}: a data channel reader owing credit, rule 9).
 */
export type MuteReason = 'any' | 'actors' | 'backlog' | 'own';

/** Something that brings new messages in and can be muted (a source). */
export interface Producer {
  /** Resume producing: pressure is gone. */
  unmute(): void;
  /**
   * For reason `'own'`: whether it may resume now. Read atomics only; it is
   * asked on every loop iteration while muted, and whoever makes it true
   * must ring the thread's doorbell (Pressure does when a count drops to 0).
   */
  mayResume?(): boolean;
}

/** The process-wide pressure slots of the shared control block. */
export class Pressure {
  constructor(
    private readonly ctrl: Int32Array,
    /** Rings every thread's doorbell (so muted producers look again). */
    private readonly wakeAll: () => void,
  ) {}

  /** True while any actor or channel of the process is overloaded (rule 3). */
  pressured(): boolean {
    return Atomics.load(this.ctrl, ControlSlot.PRESSURE) > 0;
  }

  /** True while actors of the process are overloaded (rule 7's part of the pressure). */
  actorsOverloaded(): boolean {
    return Atomics.load(this.ctrl, ControlSlot.ACTOR_PRESSURE) > 0;
  }

  /** A congested channel (rule 2), or one the kernel does not own: one unit more. */
  add(): void {
    Atomics.add(this.ctrl, ControlSlot.PRESSURE, 1);
  }

  /** One unit less; the last one wakes every thread (rule 4). */
  relieve(): void {
    if (Atomics.sub(this.ctrl, ControlSlot.PRESSURE, 1) === 1) this.wakeAll();
  }

  /** An actor became overloaded (rule 1). */
  overloaded(): void {
    Atomics.add(this.ctrl, ControlSlot.ACTOR_PRESSURE, 1);
    Atomics.add(this.ctrl, ControlSlot.PRESSURE, 1);
  }

  /** True while a holder of epoch bit `bit`'s messages is past its mark (rule 9). */
  holds(bit: number): boolean {
    return Atomics.load(this.ctrl, bit === 0 ? ControlSlot.HOLDING_0 : ControlSlot.HOLDING_1) > 0;
  }

  /**
   * A holder of bit `bit`'s messages went past its mark (+1) or is done (-1);
   * the last one done wakes every thread (rule 9's readers hand credit back).
   */
  holding(bit: number, delta: 1 | -1): void {
    const slot = bit === 0 ? ControlSlot.HOLDING_0 : ControlSlot.HOLDING_1;
    if (Atomics.add(this.ctrl, slot, delta) === 1 && delta < 0) this.wakeAll();
  }

  /** An overloaded actor is down to its low mark. */
  unloaded(): void {
    // Channel readers may resume even if channels are still congested (rule 7).
    if (Atomics.sub(this.ctrl, ControlSlot.ACTOR_PRESSURE, 1) === 1) this.wakeAll();
    this.relieve();
  }
}

/** One thread's muted producers and what each waits for. */
export class Mutes {
  private readonly muted = new Map<Producer, MuteReason>();

  constructor(
    private readonly pressure: Pressure,
    /** This thread's backlog check (rule 8). */
    private readonly backlogged: () => boolean,
  ) {}

  /** True if producers are muted. */
  get size(): number {
    return this.muted.size;
  }

  /** Registers a producer that muted itself (rules 3, 7, 8). */
  mute(producer: Producer, reason: MuteReason): void {
    this.muted.set(producer, reason);
  }

  /** True if a muted producer may resume now. */
  canUnmute(): boolean {
    if (this.muted.size === 0) return false;
    const may = this.resumeCheck();
    for (const [p, reason] of this.muted) if (may(p, reason)) return true;
    return false;
  }

  /** Unmutes the producers that may resume now. */
  unmute(): void {
    if (!this.canUnmute()) return;
    const may = this.resumeCheck();
    const producers: Producer[] = [];
    for (const [p, reason] of this.muted) if (may(p, reason)) producers.push(p);
    for (const p of producers) this.muted.delete(p);
    for (const p of producers) p.unmute();
  }

  /** Whether a producer muted for a reason may resume, pressure read once, the backlog at most once. */
  private resumeCheck(): (producer: Producer, reason: MuteReason) => boolean {
    const pressured = this.pressure.pressured();
    const overloaded = pressured && this.pressure.actorsOverloaded();
    let backlogged: boolean | undefined;
    return (producer, reason) => {
      if (reason === 'own') return producer.mayResume?.() ?? true;
      if (reason === 'actors') return !overloaded;
      if (pressured) return false;
      return reason === 'any' || !(backlogged ??= this.backlogged());
    };
  }
}
