/**
 * Counts and logs errors met on the data path (a decoder or computation that
 * throws, a key a fixed partition does not declare, a broken frame). Each
 * error is counted by code and place; the first of a kind is logged at once,
 * later ones at most every few seconds with the count since, so a flood of
 * bad input cannot flood the log or slow the thread. A logged error names
 * the step and, when known, the key; the input it failed on follows at debug
 * level, cut to {@link INPUT_PREVIEW_CHARS} characters (inputs may be large,
 * or private).
 */
import {
  asRooError,
  ErrorCode,
  type ErrorCodeValue,
  type RooError,
} from '../../protocols/index.js';
import type { Logger } from './logger.js';

const LOG_EVERY_MS = 5_000;

/** Characters of a failed input shown at debug level. */
export const INPUT_PREVIEW_CHARS = 200;

/** What a data-path error was met on: the entity's key, the input. */
export interface ErrorContext {
  readonly key?: string;
  readonly input?: unknown;
}

/**
 * A short, never-throwing rendering of an input for a log line: text and
 * bytes as text, anything else as JSON where it can be, cut to `max`
 * characters with the full length said.
 */
export function preview(input: unknown, max = INPUT_PREVIEW_CHARS): string {
  let text: string;
  try {
    if (typeof input === 'string') text = JSON.stringify(input);
    else if (input instanceof Uint8Array) {
      text = `${input.length} bytes: ${JSON.stringify(Buffer.from(input.subarray(0, max)).toString('utf8'))}`;
    } else if (typeof input === 'bigint') text = `${input}n`;
    else text = JSON.stringify(input) ?? String(input);
  } catch {
    text = Object.prototype.toString.call(input);
  }
  return text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;
}

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

  /**
   * Records an error met at `where` (a step, source or sink name), on the
   * entity of `context.key` and the input `context.input` if given.
   */
  report(thrown: unknown, code: ErrorCodeValue, where: string, context?: ErrorContext): RooError {
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
      const key = context?.key;
      const on = key === undefined ? '' : ` (key ${JSON.stringify(key)})`;
      this.log.error(
        { code: err.code, where, count: t.count, ...(key === undefined ? {} : { key }) },
        t.unlogged > 1
          ? `${err.message}${on} (${t.unlogged} times since last report)`
          : `${err.message}${on}`,
      );
      if (context !== undefined && 'input' in context && this.log.isLevelEnabled('debug')) {
        this.log.debug(
          { code: err.code, where },
          `the input it failed on: ${preview(context.input)}`,
        );
      }
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
