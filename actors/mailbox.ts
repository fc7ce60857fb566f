/**
 * An actor's mailbox: a FIFO of (tag, a, b) messages stored flat in a
 * growable power-of-two ring, so a message costs no allocation.
 *
 * Two kinds share the one queue, because their order relative to each other
 * matters (a later barrier must follow the data sent before it):
 * - application messages: tag >= 0; they count against an actor's batch and
 *   towards its overload mark;
 * - runtime messages: tag < 0; never counted, never muted (Pony's system
 *   messages).
 *
 * As in Pony's messageq, `push` reports whether the queue was empty: only that
 * transition schedules the actor.
 */

const STRIDE = 3;

/** What a mailbox delivers to: an actor's behaviour. */
export interface Receiver {
  /** When true, delivery stops (e.g. a sink whose socket is congested). */
  readonly paused: boolean;
  /** An application message (tag >= 0). */
  receive(tag: number, a: unknown, b: unknown): void;
  /** A runtime message (tag < 0). */
  receiveRuntime(tag: number, a: unknown, b: unknown): void;
}

/**
 * Application messages queued in a set of mailboxes (one scheduler thread's):
 * every mailbox of the set adds to it on push and takes from it on delivery.
 */
export interface QueuedCount {
  app: number;
}

/** A single-threaded FIFO of actor messages. */
export class Mailbox {
  /** Flat storage: tag, a, b per slot. */
  private buf: unknown[];
  private mask: number;
  private head = 0;
  private tail = 0;
  /** Messages queued, both kinds. */
  size = 0;
  /** Application messages queued (tag >= 0). */
  appSize = 0;

  constructor(
    initialSlots = 16,
    /** The thread-wide count this mailbox's application messages add to. */
    private readonly queued: QueuedCount = { app: 0 },
  ) {
    let slots = 1;
    while (slots < initialSlots) slots <<= 1;
    this.buf = new Array<unknown>(slots * STRIDE);
    this.mask = slots - 1;
  }

  /** Appends a message; returns true if the mailbox was empty before. */
  push(tag: number, a: unknown, b: unknown): boolean {
    if (this.size > this.mask) this.grow();
    const i = this.tail * STRIDE;
    const buf = this.buf;
    buf[i] = tag;
    buf[i + 1] = a;
    buf[i + 2] = b;
    this.tail = (this.tail + 1) & this.mask;
    if (tag >= 0) {
      this.appSize++;
      this.queued.app++;
    }
    return this.size++ === 0;
  }

  /**
   * Delivers messages to `behaviour` from the head: up to `batch` application
   * messages, plus any runtime messages met on the way (they never count
   * against the batch), among those queued when the call began. Stops early
   * when `behaviour.paused` becomes true.
   * Returns the number of application messages delivered.
   */
  deliver(behaviour: Receiver, batch: number): number {
    let delivered = 0;
    // Only what was queued when the turn began (Pony reads the head once): a
    // message the actor sends itself during the turn waits for the next turn,
    // else a self-sent runtime message (never counted against the batch)
    // would keep one actor running forever.
    let available = this.size;
    while (available-- > 0 && delivered < batch && !behaviour.paused) {
      // Re-read each time: a message to self may grow (replace) the buffer.
      const buf = this.buf;
      const i = this.head * STRIDE;
      const tag = buf[i] as number;
      const a = buf[i + 1];
      const b = buf[i + 2];
      buf[i + 1] = undefined;
      buf[i + 2] = undefined;
      this.head = (this.head + 1) & this.mask;
      this.size--;
      if (tag >= 0) {
        this.appSize--;
        this.queued.app--;
        delivered++;
        behaviour.receive(tag, a, b);
      } else {
        behaviour.receiveRuntime(tag, a, b);
      }
    }
    return delivered;
  }

  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const next = new Array<unknown>(slots * STRIDE);
    const old = this.buf;
    const oldSlots = this.mask + 1;
    for (let k = 0; k < this.size; k++) {
      const from = ((this.head + k) & (oldSlots - 1)) * STRIDE;
      const to = k * STRIDE;
      next[to] = old[from];
      next[to + 1] = old[from + 1];
      next[to + 2] = old[from + 2];
    }
    this.buf = next;
    this.mask = slots - 1;
    this.head = 0;
    this.tail = this.size;
  }
}
