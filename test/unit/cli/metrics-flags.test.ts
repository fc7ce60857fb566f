import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { METRICS_USAGE, parseMetricsArgs } from '../../../runtime/cli/metrics.js';

function refused(argv: string[]): RooError {
  try {
    parseMetricsArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    return e as RooError;
  }
  expect.fail('expected a refusal');
}

describe('roo metrics flags', () => {
  it('defaults to Wallaroo’s ports and reads every flag', () => {
    expect(parseMetricsArgs([])).toEqual({
      listen: { host: '127.0.0.1', port: 5001 },
      http: { host: '127.0.0.1', port: 4000 },
      maxClients: 32,
      maxConnections: 1024,
    });
    expect(
      parseMetricsArgs([
        '--listen',
        '0.0.0.0:0',
        '--http',
        'localhost:8080',
        '--max-clients',
        '3',
        '--max-connections',
        '9',
      ]),
    ).toEqual({
      listen: { host: '0.0.0.0', port: 0 },
      http: { host: 'localhost', port: 8080 },
      maxClients: 3,
      maxConnections: 9,
    });
    expect(parseMetricsArgs(['--help'])).toBe('help');
    expect(METRICS_USAGE).toMatch(/--listen HOST:PORT/);
  });

  it('refuses a bad command line with a one-line coded error', () => {
    expect(refused(['--bogus']).code).toBe(ErrorCode.BadFlag);
    expect(refused(['extra']).code).toBe(ErrorCode.BadFlag);
    expect(refused(['--listen', 'nohost']).code).toBe(ErrorCode.BadAddress);
    expect(refused(['--http', '1.2.3.4:70000']).code).toBe(ErrorCode.BadAddress);
    expect(refused(['--max-clients', '0']).message).toMatch(
      /--max-clients: expected an integer of at least 1/,
    );
  });
});
