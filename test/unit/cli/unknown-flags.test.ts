/**
 * Every `roo` command refuses an unknown flag with ROO_ERR_BAD_FLAG (the
 * command exits 2) and, when a known flag is near (edit distance), names it.
 */
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../../bench/run-options.js';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { flagError } from '../../../runtime/cli/flags.js';
import { parseMetricsArgs } from '../../../runtime/cli/metrics.js';
import { parseRebalanceArgs } from '../../../runtime/cli/rebalance.js';
import { parseReceiveArgs } from '../../../runtime/cli/receive.js';
import { parseSendArgs } from '../../../runtime/cli/send.js';
import { parseShrinkArgs } from '../../../runtime/cli/shrink.js';
import { parseShutdownArgs } from '../../../runtime/cli/shutdown.js';
import { parseStatusArgs } from '../../../runtime/cli/status.js';
import { parseWorkerArgs } from '../../../runtime/cli/worker-flags.js';

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    const code = (e as RooError).code;
    // roo bench has its own usage error class; the rest are RooError ROO_ERR_BAD_FLAG.
    if (e instanceof RooError) expect(code).toBe(ErrorCode.BadFlag);
    return (e as Error).message;
  }
  return expect.fail('expected a refusal');
}

const cases: [string, () => unknown, string][] = [
  [
    'worker',
    () => parseWorkerArgs(['--application-module', 'a.ts', '--ponythred', '2']),
    'ponythreads',
  ],
  [
    'worker',
    () => parseWorkerArgs(['--application-module', 'a.ts', '--resilence-dir', 'x']),
    'resilience-dir',
  ],
  ['send', () => parseSendArgs(['--host', '127.0.0.1:1', '--fil', 'x']), 'file'],
  ['receive', () => parseReceiveArgs(['--listen', '127.0.0.1:0', '--ledgr', 'x']), 'ledger'],
  ['status', () => parseStatusArgs(['127.0.0.1:1', '--partition']), 'partitions'],
  ['shutdown', () => parseShutdownArgs(['127.0.0.1:1', '--timout', '1']), 'timeout'],
  ['shrink', () => parseShrinkArgs(['--externl', '127.0.0.1:1']), 'external'],
  ['rebalance', () => parseRebalanceArgs(['--jsn']), 'json'],
  ['metrics', () => parseMetricsArgs(['--lisen', '127.0.0.1:0']), 'listen'],
  ['bench', () => parseBenchArgs(['--thread', '1']), 'threads'],
];

describe('unknown flags', () => {
  for (const [command, parse, near] of cases) {
    it(`roo ${command}: names the nearest known flag, --${near}`, () => {
      expect(message(parse)).toMatch(
        new RegExp(`Unknown option '--[^']+'; did you mean '--${near}'\\?$`),
      );
    });
  }

  it('suggests nothing when no flag is near, and keeps other parse errors as they are', () => {
    expect(message(() => parseReceiveArgs(['--listen', '127.0.0.1:0', '--zzzzzz']))).toBe(
      "Unknown option '--zzzzzz'",
    );
    expect(message(() => parseReceiveArgs(['--listen']))).toMatch(/argument missing/);
    // Short options are not guessed at.
    expect(message(() => parseShutdownArgs(['-z']))).toBe("Unknown option '-z'");
  });

  it('flagError passes a RooError through unchanged', () => {
    const e = new RooError(ErrorCode.BadAddress, 'x');
    expect(flagError(e, { a: {} })).toBe(e);
  });
});
