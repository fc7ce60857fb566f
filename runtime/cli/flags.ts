/**
 * Command-line flag errors shared by the `roo` commands: a bad command line
 * is a ROO_ERR_BAD_FLAG error with a one-line message (the command exits 2),
 * and counts are read the way Wallaroo's examples write them.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import { nearest } from '../api/suggest.js';

/** Thrown for a bad command line: the command exits with code 2. */
export function badFlag(message: string): RooError {
  return new RooError(ErrorCode.BadFlag, message);
}

/**
 * Turns an error from `node:util` parseArgs into a one-line ROO_ERR_BAD_FLAG
 * error. Node's messages run on with advice about '--'; the first sentence
 * says it. An unknown flag gets the nearest of the command's `known` flags,
 * if one is near (`Unknown option '--ponythread'; did you mean
 * '--ponythreads'?`).
 */
export function flagError(err: unknown, known?: Readonly<Record<string, unknown>>): RooError {
  if (err instanceof RooError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const first = text.split(/\n|\.\s/)[0]!.replace(/\.$/, '');
  const unknown = /^Unknown option '--([^'=]+)'/.exec(first);
  if (unknown === null || known === undefined) return badFlag(first);
  const near = nearest(unknown[1] as string, Object.keys(known));
  return badFlag(near === undefined ? first : `${first}; did you mean '--${near}'?`);
}

/**
 * Parses a count flag: a non-negative integer, `_` allowed between digits as
 * in Wallaroo's examples (`--interval 1_000_000_000`).
 */
export function parseCount(flag: string, text: string, min: number): number {
  if (!/^[0-9]+(_[0-9]+)*$/.test(text)) {
    throw badFlag(`--${flag}: expected an integer of at least ${min}, got '${text}'`);
  }
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < min) {
    throw badFlag(`--${flag}: expected an integer of at least ${min}, got '${text}'`);
  }
  return value;
}
