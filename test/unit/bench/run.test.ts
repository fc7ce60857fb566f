import { describe, expect, it } from 'vitest';
import {
  BENCH_USAGE,
  BenchUsageError,
  defaultThreads,
  describeOptions,
  FULL_DEFAULTS,
  parseBenchArgs,
  parseThreads,
  PARTS,
  QUICK_DEFAULTS,
  latencyReproduceCommand,
  reproduceCommand,
} from '../../../bench/run-options.js';
import { NOTES_MARKER, resultsFile, rssSeries } from '../../../bench/report.js';
import { withResilienceSection } from '../../../bench/resilience-report.js';
import { isFlat, stretch } from '../../../bench/memory.js';
import { OutputTally } from '../../../bench/counting-receiver.js';
import { options } from './bench-fakes.js';

const MB = 1024 * 1024;

describe('roo bench flags', () => {
  it('defaults to a full run of every part, at 1, 2 and every core', () => {
    const o = options([]);
    expect(o.mb).toBe(FULL_DEFAULTS.mb);
    expect(o.reps).toBe(3);
    expect(o.warmupSeconds).toBe(3);
    expect(o.seconds).toBe(6);
    expect([...o.only]).toEqual([...PARTS]);
    expect(o.threads).toEqual([1, 2]);
    expect(o.profile).toBeUndefined();
    expect(o.writeResults).toBe(false);
    expect(o.latencyRate).toBeUndefined();
    const eight = parseBenchArgs([], 8);
    expect(eight !== 'help' && eight.threads).toEqual([1, 2, 8]);
  });

  it('builds the default thread list without duplicates, ascending', () => {
    expect(defaultThreads(1)).toEqual([1, 2]);
    expect(defaultThreads(2)).toEqual([1, 2]);
    expect(defaultThreads(16)).toEqual([1, 2, 16]);
  });

  it('--quick shrinks sizes and windows, and explicit flags still win', () => {
    const q = options(['--quick']);
    expect(q.mb).toBe(QUICK_DEFAULTS.mb);
    expect(q.reps).toBe(1);
    expect(q.warmupSeconds).toBe(1);
    expect(q.seconds).toBe(1);
    expect(q.memorySeconds).toBe(QUICK_DEFAULTS.memorySeconds);
    expect(options(['--quick', '--mb', '5', '--seconds', '2']).mb).toBe(5);
    expect(options(['--quick', '--seconds', '2']).seconds).toBe(2);
  });

  it('parses --threads, --only, windows, --profile and --write-results', () => {
    const o = options([
      ...['--only', 'a,c', '--mb', '0.5', '--reps', '2', '--latency-rate', '1_000'],
      ...['--threads', '4, 1,2,4', '--warmup-seconds', '0.5', '--seconds', '2'],
      ...['--profile', 'profiles'],
    ]);
    expect([...o.only].sort()).toEqual(['a', 'c']);
    expect(o.mb).toBe(0.5);
    expect(o.reps).toBe(2);
    expect(o.latencyRate).toBe(1000);
    expect(o.threads).toEqual([1, 2, 4]);
    expect(o.warmupSeconds).toBe(0.5);
    expect(o.seconds).toBe(2);
    expect(o.profile).toBe(`${process.cwd()}/profiles`);
    expect(options(['--write-results']).writeResults).toBe(true);
    expect(parseBenchArgs(['--help'])).toBe('help');
    expect(parseThreads('8,2')).toEqual([2, 8]);
  });

  it('refuses bad command lines with one message', () => {
    expect(() => parseBenchArgs(['--only', 'a,z'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--mb', '0'])).toThrow(/--mb/);
    expect(() => parseBenchArgs(['--reps', '1.5'])).toThrow(/--reps/);
    expect(() => parseBenchArgs(['--threads', '1,x'])).toThrow(/--threads/);
    expect(() => parseBenchArgs(['--threads', '0'])).toThrow(/--threads/);
    expect(() => parseBenchArgs(['--threads', '1000'])).toThrow(/at most 256/);
    expect(() => parseBenchArgs(['--seconds', '-1'])).toThrow(/--seconds/);
    expect(() => parseBenchArgs(['--profile', ''])).toThrow(/--profile/);
    expect(() => parseBenchArgs(['--nope'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['extra'])).toThrow(BenchUsageError);
  });

  it('runs the latency part at 1 and 2 threads, 3 times each (once with --quick), untraced', () => {
    const o = options([]);
    expect(o.latencyThreads).toEqual([1, 2]);
    expect(o.latencyReps).toBe(3);
    expect(o.latencySeconds).toBe(6);
    expect(o.trace).toBe(false);
    const q = options(['--quick']);
    expect(q.latencyReps).toBe(1);
    expect(q.latencySeconds).toBe(2);
    expect(options(['--quick', '--latency-reps', '2']).latencyReps).toBe(2);
  });

  it('parses --latency-threads, --latency-reps and --trace', () => {
    const o = options(['--latency-threads', '4, 1,2,1', '--latency-reps', '5', '--trace']);
    expect(o.latencyThreads).toEqual([1, 2, 4]);
    expect(o.latencyReps).toBe(5);
    expect(o.trace).toBe(true);
    // --threads does not change the latency part's counts.
    expect(options(['--threads', '4']).latencyThreads).toEqual([1, 2]);
    expect(() => parseBenchArgs(['--latency-threads', '0'])).toThrow(/--latency-threads/);
    expect(() => parseBenchArgs(['--latency-threads', '1,x'])).toThrow(/--latency-threads/);
    expect(() => parseBenchArgs(['--latency-threads', '300'])).toThrow(
      /--latency-threads: at most 256/,
    );
    expect(() => parseBenchArgs(['--latency-reps', '1.5'])).toThrow(/--latency-reps/);
    expect(() => parseBenchArgs(['--latency-reps', '0'])).toThrow(/--latency-reps/);
    expect(() => parseBenchArgs(['--trace', 'yes'])).toThrow(BenchUsageError);
    for (const flag of ['--latency-threads LIST', '--latency-reps N', '--trace']) {
      expect(BENCH_USAGE).toContain(flag);
    }
  });

  it('describes the latency flags and the command that measures the latency part again', () => {
    const o = options(['--latency-threads', '1,2,4', '--latency-reps', '2', '--trace']);
    expect(describeOptions(o)).toContain(
      '--latency-seconds 6 --latency-threads 1,2,4 --latency-reps 2 --trace --memory-seconds',
    );
    expect(describeOptions(options([]))).not.toContain('--trace');
    expect(latencyReproduceCommand(o, 60_123.4)).toBe(
      `node bin/roo bench --only latency --mb 20 --seed ${o.seed} --latency-rate 60123 ` +
        '--latency-seconds 6 --latency-threads 1,2,4 --latency-reps 2 --trace',
    );
    expect(latencyReproduceCommand(options(['--quick']), 1000)).toMatch(
      /--latency-threads 1,2 --latency-reps 1 --quick$/,
    );
  });

  it('describes the flags and the command that reproduces a table', () => {
    const o = options(['--threads', '1,2,4', '--quick']);
    expect(describeOptions(o)).toContain('--threads 1,2,4 --warmup-seconds 1 --seconds 1');
    expect(reproduceCommand(o, ['a', 'c'])).toBe(
      `node bin/roo bench --only a,c --mb 2 --seed ${o.seed} --threads 1,2,4 --reps 1 ` +
        '--warmup-seconds 1 --seconds 1',
    );
  });
});

describe('RESULTS.md', () => {
  it('keeps the notes section when rewriting it', () => {
    const first = resultsFile('report one', undefined);
    expect(first).toContain('report one');
    expect(first).toContain(NOTES_MARKER);
    const edited = `${first}Seen on a quiet machine: ...\n`;
    const second = resultsFile('report two', edited);
    expect(second).toContain('report two');
    expect(second).not.toContain('report one');
    expect(second).toContain('Seen on a quiet machine: ...');
  });

  it('keeps the resilience section other benchmarks write below the notes', () => {
    const withSection = withResilienceSection(resultsFile('report one', undefined), 'RESILIENCE');
    const rewritten = resultsFile('report two', withSection);
    expect(rewritten).toContain('report two');
    expect(rewritten).toContain('RESILIENCE');
    expect(rewritten.indexOf('report two')).toBeLessThan(rewritten.indexOf(NOTES_MARKER));
  });
});

describe('roo bench measurements', () => {
  it('summarises RSS samples', () => {
    const samples = [0, 100, 900, 1000, 1900, 2100].map((ms, i) => ({ ms, bytes: (100 + i) * MB }));
    expect(rssSeries({ samples }, 1000)).toBe('100 103 105');
    expect(stretch(samples, 0, 1000)).toEqual({ mean: 101 * MB, peak: 102 * MB });
    expect(isFlat({ mean: 0, peak: 200 * MB }, { mean: 0, peak: 215 * MB })).toBe(true);
    expect(isFlat({ mean: 0, peak: 200 * MB }, { mean: 0, peak: 260 * MB })).toBe(false);
  });

  it('counts outputs across chunk boundaries without decoding them', () => {
    const lines = new OutputTally('lines');
    lines.push(Buffer.from('a => 1\nb =>'));
    lines.push(Buffer.from(' 1\n'));
    expect(lines.count).toBe(2);
    expect(lines.controlBytes).toBe(0);
    // Binary where text should be is told apart from a short output.
    lines.push(Buffer.from([0x06, 0x03, 0x00, 0x00, 0x00, 0x7a, 0x0a]));
    expect(lines.count).toBe(3);
    expect(lines.controlBytes).toBe(5);
    // Frames whose header holds a 0x0a byte (length 10) must not be miscounted.
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from('abc => 12\n')]);
    const frames = new OutputTally('frames');
    const stream = Buffer.concat([frame, frame, frame]);
    for (let i = 0; i < stream.length; i += 3) frames.push(stream.subarray(i, i + 3));
    expect(frames.count).toBe(3);
  });
});
