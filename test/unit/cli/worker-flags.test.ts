/**
 * `roo worker` flag parsing (pure): Wallaroo's long and short forms and the
 * names its older docs used, `--flag=value`, defaults, validation with coded
 * errors, arguments after `--`, and the Wallaroo flags accepted without
 * effect.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  flagsWithoutEffect,
  parseWorkerArgs,
  WORKER_USAGE,
  type WorkerOptions,
} from '../../../runtime/cli/worker-flags.js';

const APP = ['--application-module', 'app.ts'];

/** Parses, expecting options (not 'help'). */
function parse(argv: readonly string[]): WorkerOptions {
  const parsed = parseWorkerArgs(argv);
  if (parsed === 'help') throw new Error('expected options, got help');
  return parsed;
}

/** The RooError `fn` throws. */
function thrown(fn: () => unknown): RooError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RooError);
    return err as RooError;
  }
  throw new Error('expected a throw');
}

describe('parseWorkerArgs', () => {
  it('gives Wallaroo defaults for everything but the module', () => {
    expect(parse(APP)).toEqual({
      applicationModule: 'app.ts',
      in: [],
      out: [],
      metrics: undefined,
      control: undefined,
      data: undefined,
      myControl: undefined,
      myData: undefined,
      external: undefined,
      workerCount: 1,
      clusterInitializer: false,
      name: 'initializer',
      join: undefined,
      clusterId: undefined,
      resilienceDir: '/tmp/roo',
      runWithResilience: false,
      timeBetweenCheckpoints: 1_000_000_000n,
      stopPause: undefined,
      logRotation: false,
      eventLogFileSize: undefined,
      ponythreads: undefined,
      ponynoblock: false,
      ponypinasio: false,
      autoRebalance: false,
      security: {
        clusterSecretFile: undefined,
        tlsCert: undefined,
        tlsKey: undefined,
        tlsCa: undefined,
      },
      heartbeatTimeoutMs: 5000,
      appArgs: [],
    });
  });

  it('reads long flags as in a Wallaroo example command line', () => {
    const o = parse([
      ...APP,
      '--in',
      '127.0.0.1:7010',
      '--out',
      '127.0.0.1:7002',
      '--metrics',
      '127.0.0.1:5001',
      '--control',
      '127.0.0.1:6000',
      '--data',
      '127.0.0.1:6001',
      '--external',
      '127.0.0.1:5050',
      '--name',
      'worker-name',
      '--cluster-initializer',
      '--worker-count',
      '1',
      '--ponythreads',
      '4',
      '--ponynoblock',
      '--ponypinasio',
    ]);
    expect(o.in).toEqual([{ host: '127.0.0.1', port: 7010 }]);
    expect(o.out).toEqual([{ host: '127.0.0.1', port: 7002 }]);
    expect(o.metrics).toEqual({ host: '127.0.0.1', port: 5001 });
    expect(o.control).toEqual({ host: '127.0.0.1', port: 6000 });
    expect(o.data).toEqual({ host: '127.0.0.1', port: 6001 });
    expect(o.external).toEqual({ host: '127.0.0.1', port: 5050 });
    expect(o.name).toBe('worker-name');
    expect(o.clusterInitializer).toBe(true);
    expect(o.ponythreads).toBe(4);
    expect(o.ponynoblock).toBe(true);
    expect(o.ponypinasio).toBe(true);
  });

  it('takes --flag=value and the short forms alike', () => {
    const long = parse([
      '--application-module=app.ts',
      '--in=127.0.0.1:7010',
      '--out=127.0.0.1:7002',
      '--worker-count=1',
      '--name=w1',
      '--ponythreads=2',
      '--resilience-dir=/var/roo',
    ]);
    const short = parse([
      ...APP,
      '-i',
      '127.0.0.1:7010',
      '-o',
      '127.0.0.1:7002',
      '-w',
      '1',
      '-n',
      'w1',
      '--ponythreads',
      '2',
      '-r',
      '/var/roo',
    ]);
    expect(short).toEqual(long);
    expect(long.resilienceDir).toBe('/var/roo');
    expect(parse([...APP, '-t']).clusterInitializer).toBe(true);
  });

  it('reads a comma-separated list of inputs, named or not, and port 0 to listen anywhere', () => {
    expect(parse([...APP, '--in', '127.0.0.1:7010, 127.0.0.1:0']).in).toEqual([
      { host: '127.0.0.1', port: 7010 },
      { host: '127.0.0.1', port: 0 },
    ]);
    expect(parse([...APP, '--in', 'orders@127.0.0.1:7010,nbbo@127.0.0.1:7011']).in).toEqual([
      { name: 'orders', host: '127.0.0.1', port: 7010 },
      { name: 'nbbo', host: '127.0.0.1', port: 7011 },
    ]);
  });

  it('refuses a malformed or out-of-range address with ROO_ERR_BAD_ADDRESS naming the flag', () => {
    for (const [flag, value] of [
      ['--in', '127.0.0.1:99999'],
      ['--in', '127.0.0.1'],
      ['--in', ''],
      ['--out', '127.0.0.1:0'],
      ['--out', 'host:port'],
      ['--metrics', '127.0.0.1:0'],
      ['--control', ':6000'],
      ['--join', '127.0.0.1:0'],
    ] as const) {
      const err = thrown(() => parseWorkerArgs([...APP, flag, value]));
      expect(err.code, `${flag} ${value}`).toBe(ErrorCode.BadAddress);
      expect(err.message).toContain(flag);
      expect(err.message).not.toContain('\n');
    }
  });

  it('refuses unknown flags, positionals and missing values with ROO_ERR_BAD_FLAG', () => {
    for (const argv of [
      [...APP, '--bogus'],
      [...APP, '-z'],
      [...APP, 'stray'],
      [...APP, '--in'],
      ['--in', '127.0.0.1:7010'],
      ['--application-module', ''],
      [],
    ]) {
      const err = thrown(() => parseWorkerArgs(argv));
      expect(err.code, argv.join(' ')).toBe(ErrorCode.BadFlag);
      expect(err.message).not.toContain('\n');
    }
    expect(thrown(() => parseWorkerArgs([...APP, '--bogus'])).message).toContain('--bogus');
    expect(thrown(() => parseWorkerArgs([])).message).toContain('--application-module');
  });

  // Known bug (runtime/cli/worker-flags.ts, the catch around parseArgs):
  // only Node's "To specify a positional argument" advice is cut, so a flag
  // whose value is missing but followed by another flag gets Node's
  // three-line "argument is ambiguous ... Did you forget ... To specify ..."
  // message. `it.fails` keeps the suite green until the fix; then make it `it`.
  it('says a value that looks like a flag is missing in one line', () => {
    for (const argv of [
      [...APP, '--out', '--cluster-initializer'],
      [...APP, '--name', '-t'],
    ]) {
      const err = thrown(() => parseWorkerArgs(argv));
      expect(err.code).toBe(ErrorCode.BadFlag);
      expect(err.message, argv.join(' ')).not.toContain('\n');
    }
  });

  it('checks counts: whole numbers of at least 1, underscores allowed, at most 256 threads', () => {
    expect(parse([...APP, '--ponythreads', '1']).ponythreads).toBe(1);
    expect(parse([...APP, '--ponythreads', '256']).ponythreads).toBe(256);
    expect(parse([...APP, '--worker-count', '1_0']).workerCount).toBe(10);
    for (const [flag, value] of [
      ['--ponythreads', '0'],
      ['--ponythreads', '257'],
      ['--ponythreads', '-1'],
      ['--ponythreads', '1.5'],
      ['--ponythreads', 'two'],
      ['--worker-count', '0'],
      ['--worker-count', '99999999999999999999'],
    ] as const) {
      const err = thrown(() => parseWorkerArgs([...APP, `${flag}=${value}`]));
      expect(err.code, `${flag} ${value}`).toBe(ErrorCode.BadFlag);
      expect(err.message).toContain(flag);
    }
  });

  it('takes --time-between-checkpoints in nanoseconds, as Wallaroo does', () => {
    expect(
      parse([...APP, '--time-between-checkpoints', '2_000_000_000']).timeBetweenCheckpoints,
    ).toBe(2_000_000_000n);
    // Beyond 2^53: kept exact as a bigint.
    expect(
      parse([...APP, '--time-between-checkpoints', '9007199254740993']).timeBetweenCheckpoints,
    ).toBe(9007199254740993n);
    for (const value of ['0', '-5', '1s', '']) {
      const err = thrown(() => parseWorkerArgs([...APP, `--time-between-checkpoints=${value}`]));
      expect(err.code).toBe(ErrorCode.BadFlag);
    }
  });

  it('checks the worker name, and --worker-name is an alias of --name', () => {
    expect(parse([...APP, '--worker-name', 'w_2.a-b']).name).toBe('w_2.a-b');
    expect(parse([...APP, '--name', 'w', '--worker-name', 'w']).name).toBe('w');
    expect(thrown(() => parseWorkerArgs([...APP, '--name', 'a', '--worker-name', 'b'])).code).toBe(
      ErrorCode.BadFlag,
    );
    for (const name of ['bad/name', '-dash', '.dot', 'x'.repeat(65), 'sp ace', '']) {
      expect(thrown(() => parseWorkerArgs([...APP, `--name=${name}`])).code, name).toBe(
        ErrorCode.BadFlag,
      );
    }
    expect(parse([...APP, '--name', 'x'.repeat(64)]).name).toHaveLength(64);
  });

  it('passes everything after -- to the application untouched', () => {
    const o = parse([...APP, '--in', '127.0.0.1:7010', '--', '--bogus', '-x', 'value', '--']);
    expect(o.appArgs).toEqual(['--bogus', '-x', 'value', '--']);
    expect(o.in).toHaveLength(1);
  });

  it('returns help for --help or -h, even with other flags', () => {
    expect(parseWorkerArgs(['--help'])).toBe('help');
    expect(parseWorkerArgs(['-h'])).toBe('help');
    expect(parseWorkerArgs([...APP, '--ponythreads', '2', '--help'])).toBe('help');
  });
});

describe("Wallaroo's other flag names", () => {
  it('takes --control-channel as --control, with the same checks', () => {
    const control = { host: '127.0.0.1', port: 6000 };
    expect(parse([...APP, '--control-channel', '127.0.0.1:6000']).control).toEqual(control);
    expect(parse([...APP, '--control-channel=127.0.0.1:6000']).control).toEqual(control);
    expect(
      parse([...APP, '--control', '127.0.0.1:6000', '--control-channel', '127.0.0.1:6000']).control,
    ).toEqual(control);
    const both = thrown(() =>
      parseWorkerArgs([
        ...APP,
        '--control',
        '127.0.0.1:6000',
        '--control-channel',
        '127.0.0.1:7000',
      ]),
    );
    expect(both.code).toBe(ErrorCode.BadFlag);
    expect(both.message).toContain('--control-channel');
    const err = thrown(() => parseWorkerArgs([...APP, '--control-channel', ':6000']));
    expect(err.code).toBe(ErrorCode.BadAddress);
    expect(err.message).toContain('--control-channel');
  });

  it('takes --topology-initializer (and -t) as --cluster-initializer', () => {
    expect(parse([...APP, '--topology-initializer']).clusterInitializer).toBe(true);
    expect(parse([...APP, '-t']).clusterInitializer).toBe(true);
    expect(
      parse([...APP, '--topology-initializer', '--cluster-initializer']).clusterInitializer,
    ).toBe(true);
    expect(parse(APP).clusterInitializer).toBe(false);
  });

  it("takes Wallaroo's short forms of --my-control and --my-data", () => {
    const o = parse([...APP, '-x', '127.0.0.1:6002', '-y', '127.0.0.1:6003']);
    expect(o.myControl).toEqual({ host: '127.0.0.1', port: 6002 });
    expect(o.myData).toEqual({ host: '127.0.0.1', port: 6003 });
  });

  it('reads --join (growing a running cluster) and refuses it with --cluster-initializer', () => {
    expect(parse([...APP, '--join', '127.0.0.1:6000']).join).toEqual({
      host: '127.0.0.1',
      port: 6000,
    });
    expect(parse([...APP, '-j', '127.0.0.1:6000', '-w', '3']).workerCount).toBe(3);
    for (const init of ['--cluster-initializer', '--topology-initializer', '-t']) {
      const err = thrown(() => parseWorkerArgs([...APP, '--join', '127.0.0.1:6000', init]));
      expect(err.code, init).toBe(ErrorCode.BadFlag);
      expect(err.message).toContain('--join');
    }
  });

  it('reads --cluster-id: letters, digits, _ . : -', () => {
    expect(parse([...APP, '--cluster-id', 'prod-eu.1:a_b']).clusterId).toBe('prod-eu.1:a_b');
    expect(parse([...APP, '--cluster-id=7']).clusterId).toBe('7');
    expect(parse(APP).clusterId).toBeUndefined();
    for (const id of ['', 'a b', 'a/b', 'é', 'a,b', 'x\n']) {
      const err = thrown(() => parseWorkerArgs([...APP, `--cluster-id=${id}`]));
      expect(err.code, JSON.stringify(id)).toBe(ErrorCode.BadFlag);
      expect(err.message).toContain('--cluster-id');
    }
    expect(thrown(() => parseWorkerArgs([...APP, '--cluster-id'])).code).toBe(ErrorCode.BadFlag);
  });

  it('reads --stop-pause (alias --stop-world, -u) in nanoseconds', () => {
    expect(parse([...APP, '--stop-pause', '2_000_000_000']).stopPause).toBe(2_000_000_000n);
    expect(parse([...APP, '--stop-world', '0']).stopPause).toBe(0n);
    expect(parse([...APP, '-u', '5']).stopPause).toBe(5n);
    for (const value of ['-1', '1s', '', '1.5']) {
      const err = thrown(() => parseWorkerArgs([...APP, `--stop-pause=${value}`]));
      expect(err.code, value).toBe(ErrorCode.BadFlag);
    }
    expect(
      thrown(() => parseWorkerArgs([...APP, '--stop-pause', '1', '--stop-world', '2'])).code,
    ).toBe(ErrorCode.BadFlag);
  });

  it('accepts --log-rotation and --event-log-file-size (-l) and lists them as without effect', () => {
    const o = parse([...APP, '--log-rotation', '-l', '1_000_000', '--ponynoblock']);
    expect(o.logRotation).toBe(true);
    expect(o.eventLogFileSize).toBe(1_000_000);
    expect(flagsWithoutEffect(o)).toEqual([
      '--ponynoblock',
      '--log-rotation',
      '--event-log-file-size',
    ]);
    expect(flagsWithoutEffect(parse(APP))).toEqual([]);
    expect(flagsWithoutEffect(parse([...APP, '--stop-pause', '1']))).toEqual(['--stop-pause']);
    for (const value of ['0', 'big', '-1']) {
      const err = thrown(() => parseWorkerArgs([...APP, `--event-log-file-size=${value}`]));
      expect(err.code, value).toBe(ErrorCode.BadFlag);
    }
  });

  it('lists every flag and alias in the usage text', () => {
    for (const flag of [
      '--control-channel',
      '--topology-initializer',
      '--cluster-id',
      '--join',
      '-x, --my-control',
      '-y, --my-data',
      '-u, --stop-pause',
      '--stop-world',
      '--log-rotation',
      '-l, --event-log-file-size',
    ]) {
      expect(WORKER_USAGE, flag).toContain(flag);
    }
  });
});
