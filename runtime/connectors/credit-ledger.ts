/**
 * Credit accounting of a data channel (docs/architecture.md section 5, rule
 * 9): the decisions, without sockets. A connection is split into lanes; per
 * lane the sender may have at most a window of frame bytes outstanding (sent,
 * and not yet handed back by the receiver).
 *
 * - The receiver opens each connection by telling the window. Until then the
 *   sender sends nothing: a lane's first frame waits for it.
 * - A frame may go when its lane has nothing outstanding, or when it fits in
 *   what the window has left. So a frame larger than the window goes alone
 *   (a lane never stalls for good on one large message), and a lane's
 *   outstanding bytes never exceed the larger of the window and the largest
 *   frame.
 * - The receiver counts the same per lane (what it received and has not
 *   handed back) and refuses a frame the sender could not have sent: a sender
 *   that ignores its window is cut off, not buffered.
 * - The receiver hands bytes back (`credit`) once it has taken their frames
 *   in; the sender may then send that many more. A credit for more than is
 *   outstanding is a broken receiver's: refused.
 * - A connection that breaks takes its accounting with it. The sender starts
 *   the next connection with nothing outstanding and sends again once the new
 *   receiver has told its window: frames it had written to the old
 *   connection are not waited for, so no credit is lost with it, and none is
 *   counted twice.
 *
 * Pure and single-threaded: one instance per connection end.
 */
import { ErrorCode, MAX_DATA_LANES, RooError } from '../../protocols/index.js';

/** The sender's end of one connection. */
export class SendCredit {
  /** The window the receiver told (0: not yet told on this connection). */
  private window = 0;
  /** Outstanding frame bytes per lane. */
  private readonly outstanding = new Map<number, number>();

  /** True once the receiver has told its window on this connection. */
  get isOpen(): boolean {
    return this.window > 0;
  }

  /** The window in force (0 before it is told). */
  get windowBytes(): number {
    return this.window;
  }

  /** Bytes of `lane` sent and not handed back. */
  outstandingOf(lane: number): number {
    return this.outstanding.get(lane) ?? 0;
  }

  /** The receiver told its window: the connection is open, nothing outstanding. */
  open(window: number): void {
    if (!(Number.isSafeInteger(window) && window > 0)) {
      throw new RooError(
        ErrorCode.BadMessage,
        `a data channel window must be at least 1 byte, got ${window}`,
      );
    }
    this.window = window;
    this.outstanding.clear();
  }

  /** The connection is gone: nothing may be sent until the next one is open. */
  reset(): void {
    this.window = 0;
    this.outstanding.clear();
  }

  /** Whether a frame of `size` bytes may go on `lane` now. */
  mayCharge(lane: number, size: number): boolean {
    if (this.window === 0) return false;
    const out = this.outstanding.get(lane) ?? 0;
    return out === 0 || out + size <= this.window;
  }

  /** A frame of `size` bytes goes on `lane` (the caller checked {@link mayCharge}). */
  charge(lane: number, size: number): void {
    if (!this.mayCharge(lane, size)) {
      throw new RooError(
        ErrorCode.Internal,
        `a frame of ${size} bytes on lane ${lane} does not fit its credit (${this.outstandingOf(lane)} of ${this.window} outstanding)`,
      );
    }
    this.outstanding.set(lane, (this.outstanding.get(lane) ?? 0) + size);
  }

  /**
   * The receiver handed `bytes` of `lane` back. Throws ROO_ERR_BAD_MESSAGE
   * (and changes nothing) for more than is outstanding, or before the window.
   */
  credit(lane: number, bytes: number): void {
    const out = this.outstanding.get(lane) ?? 0;
    if (this.window === 0 || !(Number.isSafeInteger(bytes) && bytes > 0) || bytes > out) {
      throw new RooError(
        ErrorCode.BadMessage,
        `the receiver handed back ${bytes} bytes of lane ${lane}, of ${out} outstanding${this.window === 0 ? ' before its window' : ''}`,
        { lane, bytes, outstanding: out },
      );
    }
    if (bytes === out) this.outstanding.delete(lane);
    else this.outstanding.set(lane, out - bytes);
  }
}

/** The receiver's end of one connection. */
export class ReceiveCredit {
  /** Bytes received per lane and not handed back yet. */
  private readonly held = new Map<number, number>();

  /** @param window the window this end tells the sender (at least 1 byte). */
  constructor(readonly window: number) {
    if (!(Number.isSafeInteger(window) && window > 0)) {
      throw new RooError(
        ErrorCode.BadFlag,
        `a data channel window must be at least 1 byte, got ${window}`,
      );
    }
  }

  /** Bytes of `lane` received and not handed back. */
  heldOf(lane: number): number {
    return this.held.get(lane) ?? 0;
  }

  /** The lanes with bytes to hand back, in no particular order. */
  owing(): IterableIterator<number> {
    return this.held.keys();
  }

  /**
   * A frame of `size` bytes arrived on `lane`. Throws ROO_ERR_BAD_MESSAGE
   * (and counts nothing) when the sender could not have sent it: a lane out
   * of range, or a frame past the window while bytes of the lane are held.
   */
  received(lane: number, size: number): void {
    if (!(Number.isInteger(lane) && lane >= 0 && lane < MAX_DATA_LANES)) {
      throw new RooError(ErrorCode.BadMessage, `lane ${lane} is out of range`, { lane });
    }
    const held = this.held.get(lane) ?? 0;
    if (held > 0 && held + size > this.window) {
      throw new RooError(
        ErrorCode.BadMessage,
        `a frame of ${size} bytes on lane ${lane} overruns its credit (${held} of ${this.window} bytes not handed back yet): the sender ignores the window`,
        { lane, size, held, window: this.window },
      );
    }
    this.held.set(lane, held + size);
  }

  /** Hands back everything held of `lane`: returns the bytes to credit (0 if none). */
  release(lane: number): number {
    const held = this.held.get(lane) ?? 0;
    this.held.delete(lane);
    return held;
  }
}
