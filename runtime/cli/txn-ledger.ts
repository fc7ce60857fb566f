/**
 * What `roo receive` decides about exactly-once sink transactions
 * (protocols/sink-txn.ts), kept pure so it is tested without sockets: which
 * epochs each sink has applied, so a transaction sent again after a sink's
 * crash is dropped, and how often a dropped one is worth a log line.
 *
 * One ledger serves the whole receiver: a recovered sink reconnects on a new
 * connection, and may even overlap its old, half-open one, so the last
 * applied epoch belongs to the sink id, not to a connection.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';

/** Default bound on the sink ids one receiver remembers. */
export const MAX_LEDGER_SINKS = 10_000;

/** Shortest time between two log lines about dropped duplicates. */
export const DUPLICATE_LOG_INTERVAL_MS = 5_000;

/** What to do with a complete transaction. */
export type TxnVerdict = 'apply' | 'duplicate';

/**
 * Per sink id, the last epoch applied. Bounded: ids are never forgotten
 * (forgetting one would let its old transactions in again), so at
 * `maxSinks` a new id is refused with ROO_ERR_QUEUE_FULL and its connection
 * closed; ids already known carry on.
 */
export class TxnLedger {
  private readonly applied = new Map<string, number | undefined>();

  /** @param maxSinks how many distinct sink ids to remember, at least 1. */
  constructor(private readonly maxSinks: number = MAX_LEDGER_SINKS) {
    if (!(Number.isSafeInteger(maxSinks) && maxSinks >= 1)) {
      throw new RooError(ErrorCode.BadFlag, `the ledger's sink bound must be ≥ 1, got ${maxSinks}`);
    }
  }

  /** Sink ids known. */
  get size(): number {
    return this.applied.size;
  }

  /** Makes `sink` known (on its hello); throws ROO_ERR_QUEUE_FULL for a new id at the bound. */
  register(sink: string): void {
    if (this.applied.has(sink)) return;
    if (this.applied.size >= this.maxSinks) {
      throw new RooError(
        ErrorCode.QueueFull,
        `already ${this.maxSinks} exactly-once sinks known; refusing a new one, ${JSON.stringify(sink)}`,
        { sinks: this.maxSinks },
      );
    }
    this.applied.set(sink, undefined);
  }

  /**
   * Starts from what a durable receiver recovered (receive-recovery.ts):
   * those sinks are known and their epochs applied. Sinks beyond the bound
   * are kept (they were accepted before); new ones are refused until fewer.
   */
  seed(applied: ReadonlyMap<string, number>): void {
    for (const [sink, epoch] of applied) this.applied.set(sink, epoch);
  }

  /** The last epoch applied for `sink`, if any. */
  lastApplied(sink: string): number | undefined {
    return this.applied.get(sink);
  }

  /** Whether a transaction `epoch` of `sink` is new ('apply') or was applied before. */
  check(sink: string, epoch: number): TxnVerdict {
    const last = this.applied.get(sink);
    return last === undefined || epoch > last ? 'apply' : 'duplicate';
  }

  /**
   * Records that `epoch` of `sink` was applied. Throws ROO_ERR_INTERNAL for
   * an unregistered sink or an epoch {@link check} would call a duplicate.
   */
  record(sink: string, epoch: number): void {
    if (!this.applied.has(sink)) {
      throw new RooError(ErrorCode.Internal, `sink ${JSON.stringify(sink)} sent no hello`);
    }
    if (this.check(sink, epoch) !== 'apply') {
      throw new RooError(
        ErrorCode.Internal,
        `epoch ${epoch} of sink ${JSON.stringify(sink)} is not after ${this.applied.get(sink)}`,
      );
    }
    this.applied.set(sink, epoch);
  }
}

/**
 * Rate limit of the log lines about dropped duplicates: a recovered sink may
 * resend many transactions at once, and one line each would flood stderr.
 * The first duplicate is logged; after that at most one line per interval,
 * saying how many were dropped since the last line. Time is passed in.
 */
export class DuplicateLogLimiter {
  private lastLine = Number.NEGATIVE_INFINITY;
  private quiet = 0;

  constructor(private readonly intervalMs: number = DUPLICATE_LOG_INTERVAL_MS) {}

  /**
   * Notes one duplicate at time `now` (ms). Returns 0 to stay quiet, or the
   * number of duplicates the line now due should report: this one and those
   * kept quiet since the last line.
   */
  note(now: number): number {
    if (now - this.lastLine < this.intervalMs) {
      this.quiet++;
      return 0;
    }
    const report = this.quiet + 1;
    this.lastLine = now;
    this.quiet = 0;
    return report;
  }
}
