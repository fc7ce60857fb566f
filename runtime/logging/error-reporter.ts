/**
 * Counts and logs errors met on the data path (a decoder or computation that
 * throws, a key a fixed partition does not declare, a broken frame). Each
 * error is counted by code and place; the first of a kind is logged at once,
 * later ones at most every few seconds with the count since, so a flood of
 * bad input cannot flood the log or slow the thread.
 */
import {
  asRooError,
  ErrorCode,
  type ErrorCodeValue,
  type RooError,
} from '../../protocols/index.js';
import type { Logger } from './logger.js';

const LOG_EVERY_MS = 5_000;

interface Tally {
  count: number;
  loggedAt: number;
  unlogged: number;
}

/** Error counts of one thread, by "code at place". */
export type ErrorCounts = Record<string, number>;

/** Counts and rate-limits data-path errors. */
export class ErrorReporter {
  private readonly tallies = new Map<string, Tally>();

  constructor(private readonly log: Logger) {}

  /** Records an error met at `where` (a step, source or sink name). */
  report(thrown: unknown, code: ErrorCodeValue, where: string): RooError {
    const err = asRooError(thrown, code, where);
    const id = `${err.code} at ${where}`;
    let t = this.tallies.get(id);
    if (t === undefined) {
      t = { count: 0, loggedAt: 0, unlogged: 0 };
      this.tallies.set(id, t);
    }
    t.count++;
    t.unlogged++;
    const now = Date.now();
    if (t.count === 1 || now - t.loggedAt >= LOG_EVERY_MS) {
      this.log.error(
        { code: err.code, where, count: t.count },
        t.unlogged > 1 ? `${err.message} (${t.unlogged} times since last report)` : err.message,
      );
      t.loggedAt = now;
      t.unlogged = 0;
    }
    return err;
  }

  /** Counts so far. */
  counts(): ErrorCounts {
    const out: ErrorCounts = {};
    for (const [id, t] of this.tallies) out[id] = t.count;
    return out;
  }
}

export { ErrorCode };
