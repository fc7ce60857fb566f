/**
 * Data-path errors (runtime/logging/error-reporter.ts): the error line names
 * the step and the key; the input it failed on follows at debug level only,
 * cut short; a flood is rate-limited.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import {
  ErrorReporter,
  INPUT_PREVIEW_CHARS,
  preview,
} from '../../../runtime/logging/error-reporter.js';
import type { Logger } from '../../../runtime/logging/logger.js';

/** A logger that records what it is given, at a level. */
function recorder(level: 'info' | 'debug') {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at =
    (l: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level: l, fields, message });
    };
  const log = {
    error: at('error'),
    debug: at('debug'),
    isLevelEnabled: (l: string) => l === 'error' || (level === 'debug' && l === 'debug'),
  } as unknown as Logger;
  return { log, lines };
}

describe('ErrorReporter', () => {
  it('names the step and the key; the input only at debug level', () => {
    for (const level of ['info', 'debug'] as const) {
      const { log, lines } = recorder(level);
      const r = new ErrorReporter(log);
      r.report(
        new RangeError('negative quantity -3'),
        ErrorCode.ComputationFailed,
        "state computation 'check order'",
        {
          key: 'ACME',
          input: { symbol: 'ACME', qty: -3 },
        },
      );
      expect(lines[0]).toEqual({
        level: 'error',
        fields: {
          code: ErrorCode.ComputationFailed,
          where: "state computation 'check order'",
          count: 1,
          key: 'ACME',
        },
        message: 'state computation \'check order\': negative quantity -3 (key "ACME")',
      });
      if (level === 'info') expect(lines).toHaveLength(1);
      else {
        expect(lines[1]).toMatchObject({
          level: 'debug',
          message: 'the input it failed on: {"symbol":"ACME","qty":-3}',
        });
      }
    }
  });

  it('logs a flood once, then counts it', () => {
    const { log, lines } = recorder('debug');
    const r = new ErrorReporter(log);
    for (let i = 0; i < 100; i++)
      r.report(new Error('bad'), ErrorCode.DecoderFailed, 'source s', { input: `line ${i}` });
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'debug')).toHaveLength(1);
    expect(r.counts()).toEqual({ [`${ErrorCode.DecoderFailed} at source s`]: 100 });
  });
});

describe('preview', () => {
  it('shows text, bytes and values, cut short with the full length said', () => {
    expect(preview('abc')).toBe('"abc"');
    expect(preview(Buffer.from('not json'))).toBe('8 bytes: "not json"');
    expect(preview(12n)).toBe('12n');
    expect(preview(undefined)).toBe('undefined');
    const long = preview('x'.repeat(1000));
    expect(long.startsWith(`"${'x'.repeat(INPUT_PREVIEW_CHARS - 1)}...`)).toBe(true);
    expect(long).toMatch(/\(1002 characters\)$/);
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(preview(cycle)).toBe('[object Object]');
  });
});
