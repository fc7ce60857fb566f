/**
 * What an exactly-once sink holds (docs/resilience.md, sinks), decided
 * without sockets so that every rule is a unit test; the writer actor
 * (txn-sink-writer.ts) and its connection (connectors/txn-output.ts) act on
 * it.
 *
 * - **Pending**: a checkpoint's output, taken at its barrier, waits for the
 *   checkpoint to commit (two-phase commit).
 * - **Held**: committed output, one transaction per checkpoint, kept until
 *   the receiver acknowledges it (protocols/sink-txn.ts, `ack`). After a
 *   reconnect every held transaction is written again, oldest first, however
 *   many: the receiver drops those it has, and its first ack on the new
 *   connection (what it has applied) usually spares them.
 * - **A receiver that does not acknowledge** (an older `roo receive`: it
 *   stays silent after the hello) leaves nothing to wait for: the sink keeps
 *   only the newest {@link RESEND_WITHOUT_ACKS} written transactions, to
 *   write again after a reconnect, as before acknowledgements existed.
 * - **The bound**: held transactions count against `boundBytes`. At the
 *   bound the writer pauses (rule 6 of actors/backpressure.ts): its mailbox
 *   fills, the sources mute, and checkpoints wait behind its barrier, until
 *   acks (or, without acks, writes) bring it under the bound. Pending output
 *   does not count: only a commit, which the paused writer must first take
 *   from its mailbox, turns it into held output, so counting it could pause
 *   the writer for good.
 *
 * Every held and pending transaction is also in each checkpoint's part of
 * this sink ({@link TxnHold.snapshot}): a worker that crashes while its
 * receiver is away restores them and sends them when the receiver is back.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import { DEFAULT_SINK_MAX_UNACKED_BYTES } from '../api/connectors.js';

/** Without acks, the newest transactions written that are written again after a reconnect. */
export const RESEND_WITHOUT_ACKS = 3;

/** One checkpoint's output. */
export interface HeldTxn {
  /** The checkpoint id: the transaction's epoch. */
  readonly epoch: number;
  readonly body: Uint8Array;
  /** Outputs in the body. */
  readonly count: number;
}

/**
 * What the sink knows of the receiver on the current connection: `unknown`
 * until its first ack (or while disconnected), `acks` once one came,
 * `no-acks` once it stayed silent too long after the hello.
 */
export type ReceiverAcks = 'unknown' | 'acks' | 'no-acks';

/** The pending and held transactions of one exactly-once sink. */
export class TxnHold {
  private pending: HeldTxn[] = [];
  /** Committed, not acknowledged, oldest first. */
  private held: HeldTxn[] = [];
  /** held[0..sent) have been written on the current connection. */
  private sent = 0;
  private heldBytes = 0;
  /** Highest epoch ever written (to count outputs once, not at every resend). */
  private counted = -1;
  private receiverAcks: ReceiverAcks = 'unknown';

  /** @param boundBytes bytes of held transactions at which the writer pauses, ≥ 1. */
  constructor(readonly boundBytes: number = DEFAULT_SINK_MAX_UNACKED_BYTES) {
    if (!(Number.isSafeInteger(boundBytes) && boundBytes >= 1)) {
      throw new RooError(
        ErrorCode.BadApplication,
        `an exactly-once sink's hold bound must be a positive whole number of bytes, got ${boundBytes}`,
      );
    }
  }

  /** What the sink knows of the receiver on this connection. */
  get acks(): ReceiverAcks {
    return this.receiverAcks;
  }

  /** Bytes of committed transactions held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Committed transactions held. */
  get size(): number {
    return this.held.length;
  }

  /** At the bound: the writer pauses until acks bring it under. */
  get full(): boolean {
    return this.heldBytes >= this.boundBytes;
  }

  /** Checkpoint `epoch`'s output, taken at its barrier; held back until it commits. */
  take(epoch: number, body: Uint8Array, count: number): void {
    const last = this.pending.at(-1) ?? this.held.at(-1);
    if (last !== undefined && epoch <= last.epoch) {
      throw new RooError(
        ErrorCode.Internal,
        `checkpoint ${epoch} taken after checkpoint ${last.epoch} by an exactly-once sink`,
      );
    }
    this.pending.push({ epoch, body, count });
  }

  /** Checkpoints up to `epoch` committed: their output becomes transactions to write. */
  commit(epoch: number): void {
    while (this.pending.length > 0 && (this.pending[0] as HeldTxn).epoch <= epoch) {
      this.hold(this.pending.shift() as HeldTxn);
    }
  }

  /** A restored checkpoint's pending and held output: all committed now, written again. */
  restore(txns: readonly (readonly [number, Uint8Array])[]): void {
    for (const [epoch, body] of txns) {
      if (epoch > (this.held.at(-1)?.epoch ?? -1)) this.hold({ epoch, body, count: 0 });
    }
  }

  /** What a checkpoint records: every transaction held or pending, oldest first. */
  snapshot(): [number, Uint8Array][] {
    return [...this.held, ...this.pending].map((t) => [t.epoch, t.body]);
  }

  /** A connection is up: nothing is written on it yet, and the receiver is not known yet. */
  connected(): void {
    this.sent = 0;
    this.receiverAcks = 'unknown';
  }

  /** The connection is down. */
  disconnected(): void {
    this.sent = 0;
    this.receiverAcks = 'unknown';
  }

  /**
   * The receiver applied every transaction up to `applied` (null: none yet):
   * they are forgotten. Returns how many were.
   */
  ack(applied: number | null): number {
    this.receiverAcks = 'acks';
    if (applied === null) return 0;
    let dropped = 0;
    while (this.held.length > 0 && (this.held[0] as HeldTxn).epoch <= applied) {
      this.drop();
      dropped++;
    }
    return dropped;
  }

  /** The receiver stayed silent after the hello: it does not acknowledge. */
  noAcks(): void {
    if (this.receiverAcks !== 'unknown') return;
    this.receiverAcks = 'no-acks';
    this.trim();
  }

  /** The next transaction to write on this connection, if any. */
  next(): HeldTxn | undefined {
    return this.held[this.sent];
  }

  /**
   * The transaction {@link next} gave was written. Returns its outputs the
   * first time it is written, 0 when written again.
   */
  wrote(): number {
    const txn = this.held[this.sent];
    if (txn === undefined) throw new RooError(ErrorCode.Internal, 'no transaction to write');
    this.sent++;
    let outputs = 0;
    if (txn.epoch > this.counted) {
      this.counted = txn.epoch;
      outputs = txn.count;
    }
    if (this.receiverAcks === 'no-acks') this.trim();
    return outputs;
  }

  private hold(txn: HeldTxn): void {
    this.held.push(txn);
    this.heldBytes += txn.body.length;
  }

  private drop(): void {
    const txn = this.held.shift() as HeldTxn;
    this.heldBytes -= txn.body.length;
    if (this.sent > 0) this.sent--;
  }

  /** Without acks: only the newest written transactions are kept for a reconnect. */
  private trim(): void {
    while (this.sent > RESEND_WITHOUT_ACKS) this.drop();
  }
}
