import { describe, expect, it } from 'vitest';
import {
  BenchUsageError,
  FULL_DEFAULTS,
  parseBenchArgs,
  PARTS,
  QUICK_DEFAULTS,
  type BenchOptions,
} from '../../../bench/run-options.js';
import type { BenchResults } from '../../../bench/run.js';
import { NOTES_MARKER, renderReport, resultsFile, rssSeries } from '../../../bench/report.js';
import { evaluateTargets, loopBaseline } from '../../../bench/targets.js';
import { isFlat, stretch } from '../../../bench/memory.js';
import { OutputTally } from '../../../bench/counting-receiver.js';
import type { VariantResult } from '../../../bench/baselines.js';

function options(argv: string[]): BenchOptions {
  const parsed = parseBenchArgs(argv);
  if (parsed === 'help') throw new Error('unexpected help');
  return parsed;
}

function variant(name: string, rates: number[]): VariantResult {
  const sorted = [...rates].sort((a, b) => a - b);
  return {
    name,
    rates,
    summary: {
      median: sorted[sorted.length >> 1]!,
      min: sorted[0]!,
      max: sorted[sorted.length - 1]!,
    },
    otherLoad: 0,
  };
}

const MB = 1024 * 1024;

/** A complete, made-up result: every part ran. */
function fakeResults(): BenchResults {
  const latency = {
    targetRate: 1e6,
    sentRate: 0.99e6,
    receivedRate: 0.98e6,
    sent: 1000,
    received: 1000,
    senderWaits: 0,
    summary: { count: 900, p50: 800, p99: 4000, p9999: 9000, max: 12000, mean: 900 },
  };
  return {
    options: options([]),
    command: 'node bin/roo bench',
    startedAt: '2026-01-01T00:00:00Z',
    machine: '**Machine:** test',
    code: 'commit abc1234',
    corpus: { bytes: 21e6, lines: 426_571, words: 4_264_002, distinct: 10_000 },
    idleOtherLoad: 0.1,
    loadAverageStart: '0.1 0.1 0.1',
    loadAverageEnd: '0.2 0.2 0.2',
    loads: [{ part: 'c', seconds: 10, ownCpu: 1.8, childCpu: 0, otherLoad: 0.05 }],
    loopBefore: variant('(a)', [10e6, 10e6, 10e6]),
    loopAfter: variant('(a)', [8e6, 8e6, 8e6]),
    rx: [variant('(b) RxJS one scan', [3e6])],
    engine: [
      { threads: 1, rates: [5e6, 4e6, 6e6], startSeconds: [0.5] },
      { threads: 2, rates: [7e6, 7e6, 7e6], startSeconds: [0.6] },
    ],
    tcpRoo: { name: '(d) roo', rates: [2e6] },
    tcpBaseline: { name: '(d) hand-written', rates: [3e6] },
    rateSource: 'half of 2 M',
    latencyRateSource: undefined,
    latency,
    latencyLow: { ...latency, targetRate: 1e5 },
    memory: {
      senderRate: 1e6,
      receiverRate: 1e5,
      seconds: 20,
      idleBytes: 150 * MB,
      samples: [0, 500, 1000, 1500, 19_900].map((ms) => ({ ms, bytes: 200 * MB })),
      peakBytes: 200 * MB,
      firstQuarter: { mean: 200 * MB, peak: 200 * MB },
      lastQuarter: { mean: 200 * MB, peak: 200 * MB },
      flat: true,
      linesSent: 100,
      linesPlanned: 1000,
      outputsRead: 1000,
    },
    failures: [],
    seconds: 300,
  };
}

describe('roo bench flags', () => {
  it('defaults to a full run of every part', () => {
    const o = options([]);
    expect(o.mb).toBe(FULL_DEFAULTS.mb);
    expect(o.reps).toBe(FULL_DEFAULTS.reps);
    expect([...o.only]).toEqual([...PARTS]);
    expect(o.writeResults).toBe(false);
    expect(o.latencyRate).toBeUndefined();
  });

  it('--quick shrinks sizes, and explicit flags still win', () => {
    const q = options(['--quick']);
    expect(q.mb).toBe(QUICK_DEFAULTS.mb);
    expect(q.reps).toBe(QUICK_DEFAULTS.reps);
    expect(q.memorySeconds).toBe(QUICK_DEFAULTS.memorySeconds);
    expect(options(['--quick', '--mb', '5']).mb).toBe(5);
  });

  it('parses --only, numbers and --write-results', () => {
    const o = options(['--only', 'a,c', '--mb', '0.5', '--reps', '2', '--latency-rate', '1_000']);
    expect([...o.only].sort()).toEqual(['a', 'c']);
    expect(o.mb).toBe(0.5);
    expect(o.reps).toBe(2);
    expect(o.latencyRate).toBe(1000);
    expect(options(['--write-results']).writeResults).toBe(true);
    expect(parseBenchArgs(['--help'])).toBe('help');
  });

  it('refuses bad command lines', () => {
    expect(() => parseBenchArgs(['--only', 'a,z'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--mb', '0'])).toThrow(/--mb/);
    expect(() => parseBenchArgs(['--reps', '1.5'])).toThrow(/--reps/);
    expect(() => parseBenchArgs(['--nope'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['extra'])).toThrow(BenchUsageError);
  });
});

describe('roo bench results', () => {
  it('takes the mean of (a) before and after as the baseline', () => {
    expect(loopBaseline(fakeResults())).toBe(9e6);
    expect(loopBaseline({ loopBefore: undefined, loopAfter: undefined })).toBeUndefined();
  });

  it('marks each target MET, MISSED or NOT RUN', () => {
    const r = fakeResults();
    const status = evaluateTargets(r).map((t) => t.status);
    // c1 = 5 M / 9 M = 0.556 MET; c2/c1 = 1.4 MISSED; d = 0.667 MET; p99 4 ms MET; memory MET.
    expect(status).toEqual(['MET', 'MISSED', 'MET', 'MET', 'MET']);
    r.memory = { ...r.memory!, flat: false };
    r.latency = undefined;
    r.engine = [];
    expect(evaluateTargets(r).map((t) => t.status)).toEqual([
      'NOT RUN',
      'NOT RUN',
      'MET',
      'NOT RUN',
      'MISSED',
    ]);
  });

  it('renders the report with machine, flags, load probe and targets', () => {
    const text = renderReport(fakeResults());
    expect(text).toContain('**Command:** `node bin/roo bench`');
    expect(text).toContain('**Flags:** `--mb 20 --reps 3');
    expect(text).toContain('**Machine:** test');
    expect(text).toContain('**Load probe:**');
    expect(text).toContain('| (c) 2 threads / 1 thread |  |  | 1.400x |  |');
    expect(text).toContain('| (c) engine, 2 threads ≥ 1.5 × 1 thread | 1.400x | MISSED |');
    expect(text).toContain('4.00 ms');
  });

  it('keeps the notes section of RESULTS.md when rewriting it', () => {
    const first = resultsFile('report one', undefined);
    expect(first).toContain('report one');
    expect(first).toContain(NOTES_MARKER);
    const edited = `${first}Seen on a quiet machine: ...\n`;
    const second = resultsFile('report two', edited);
    expect(second).toContain('report two');
    expect(second).not.toContain('report one');
    expect(second).toContain('Seen on a quiet machine: ...');
  });

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
