import { describe, expect, it } from 'vitest';
import {
  CLUSTER_PARTS,
  clusterLatencyCommand,
  clusterReproduceCommand,
  clusterUsage,
  describeClusterOptions,
  MAX_WORKERS,
  parseClusterArgs,
  parseWorkers,
  type ClusterOptions,
} from '../../../bench/cluster-options.js';
import {
  CLUSTER_MARKERS,
  limitLines,
  renderClusterReport,
  THROUGHPUT_HEADER,
  withClusterSection,
  type ClusterResults,
} from '../../../bench/cluster-report.js';
import {
  failedSizes,
  machineBound,
  summarizeClusters,
  workersText,
  type ClusterFailure,
  type ClusterRun,
} from '../../../bench/cluster-summary.js';
import { NOTES_MARKER, resultsFile } from '../../../bench/report.js';
import { withResilienceSection } from '../../../bench/resilience-report.js';
import { BenchUsageError } from '../../../bench/run-options.js';

/** Options parsed from `argv`. */
function options(argv: string[]): ClusterOptions {
  const parsed = parseClusterArgs(argv);
  if (parsed === 'help') throw new Error('unexpected help');
  return parsed;
}

/** One cluster of `workers` at `rate` words/s; the rest made up but consistent. */
function run(
  workers: number,
  rep: number,
  rate: number,
  over: Partial<ClusterRun> = {},
): ClusterRun {
  return {
    workers,
    rep,
    startSeconds: workers,
    warmupRate: rate * 0.8,
    rate,
    crossingRate: workers === 1 ? 0 : rate / 2,
    machineCores: workers === 1 ? 1.5 : 1.9,
    workerCores: Array.from({ length: workers }, () => 0.9 / workers + 0.1),
    senderCores: 0.3,
    receiverCores: 0.2,
    otherLoad: 0.05,
    cpuNsPerWord: 400 * workers,
    ...over,
  };
}

/** A failure of the throughput table. */
function failure(workers: number, rep: number): ClusterFailure {
  return { workers, rep, table: 'throughput', message: `${workersText(workers)} died\nlast line` };
}

/** A complete run's results, with `runs` and `failures`. */
function results(runs: ClusterRun[], failures: ClusterFailure[] = []): ClusterResults {
  return {
    options: options([]),
    startedAt: '2026-01-01T00:00:00Z',
    command: 'node dist/bench/cluster.js',
    machine: '**Machine:** test',
    machineLine: 'test machine',
    cores: 2,
    code: 'commit abc',
    corpus: { bytes: 10e6, lines: 200_000, words: 2_000_000 },
    seed: 1,
    idleOtherLoad: 0.01,
    loadAverageStart: '1 1 1',
    loadAverageEnd: '2 2 2',
    seconds: 120,
    loads: [
      { part: 'throughput', seconds: 60, ownCpu: 0.2, childCpu: 1.5, otherLoad: 0.07 },
      { part: 'latency', seconds: 25, ownCpu: 0.3, childCpu: 0.4, otherLoad: 0.11 },
    ],
    runs,
    latencies: [
      {
        workers: 1,
        summary: { count: 1, p50: 270, p99: 1050, p9999: 5200, max: 5190, mean: 300 },
        sentRate: 2e4,
      },
      { workers: 2, summary: undefined, sentRate: undefined },
    ],
    failures,
    rebuilt: [],
  };
}

describe('cluster benchmark flags', () => {
  it('defaults to 1 and 2 workers, 3 interleaved reps, 3 s warm-up, 6 s window, both tables', () => {
    const o = options([]);
    expect(o.workers).toEqual([1, 2]);
    expect(o.reps).toBe(3);
    expect(o.warmupSeconds).toBe(3);
    expect(o.seconds).toBe(6);
    expect(o.mb).toBe(10);
    expect(o.latencyRate).toBe(20_000);
    expect([...o.only]).toEqual([...CLUSTER_PARTS]);
    expect(o.writeResults).toBe(false);
  });

  it('parses every flag', () => {
    const o = options([
      ...['--workers', '3, 1,3', '--reps', '2', '--mb', '0.5', '--warmup-seconds', '0.5'],
      ...['--seconds', '2', '--latency-rate', '5_000', '--latency-seconds', '1'],
      ...['--only', 'latency', '--write-results'],
    ]);
    expect(o).toMatchObject({ workers: [1, 3], reps: 2, mb: 0.5, warmupSeconds: 0.5, seconds: 2 });
    expect(o).toMatchObject({ latencyRate: 5000, latencySeconds: 1, writeResults: true });
    expect([...o.only]).toEqual(['latency']);
    expect(parseClusterArgs(['--help'])).toBe('help');
    expect(parseClusterArgs(['-h'])).toBe('help');
  });

  it('rejects a bad command line with one line', () => {
    const bad = [
      ['--bogus'],
      ['--workers', '0'],
      ['--workers', '1,x'],
      ['--workers', String(MAX_WORKERS + 1)],
      ['--reps', '1.5'],
      ['--seconds', '-1'],
      ['--only', 'memory'],
      ['positional'],
    ];
    for (const argv of bad) {
      let caught: unknown;
      try {
        parseClusterArgs(argv);
      } catch (err) {
        caught = err;
      }
      expect(caught, argv.join(' ')).toBeInstanceOf(BenchUsageError);
      expect((caught as Error).message, argv.join(' ')).not.toContain('\n');
    }
    expect(parseWorkers('2,1,2')).toEqual([1, 2]);
  });

  it('describes the flags and the commands that measure each table again', () => {
    const o = options(['--reps', '1', '--seconds', '2']);
    expect(describeClusterOptions(o)).toBe(
      '--mb 10 --workers 1,2 --reps 1 --warmup-seconds 3 --seconds 2 --latency-rate 20000 ' +
        '--latency-seconds 8 --only throughput,latency',
    );
    expect(clusterReproduceCommand(o)).toBe(
      'node dist/bench/cluster.js --only throughput --mb 10 --workers 1,2 --reps 1 ' +
        '--warmup-seconds 3 --seconds 2',
    );
    expect(clusterLatencyCommand(o)).toBe(
      'node dist/bench/cluster.js --only latency --mb 10 --workers 1,2 --latency-rate 20000 ' +
        '--latency-seconds 8',
    );
    for (const flag of ['--workers', '--reps', '--warmup-seconds', '--seconds', '--only']) {
      expect(clusterUsage()).toContain(flag);
    }
  });
});

describe('cluster benchmark summary', () => {
  it('gives per size the median, the range, the ratios to 1 worker and who kept the cores busy', () => {
    const rows = summarizeClusters([
      run(2, 1, 12),
      run(1, 1, 10),
      run(2, 2, 11, { machineCores: 2, workerCores: [1, 0.6] }),
      run(1, 2, 8),
      run(2, 3, 14),
      run(1, 3, 9),
    ]);
    expect(rows.map((r) => r.workers)).toEqual([1, 2]);
    const [one, two] = rows;
    expect(one?.rate).toEqual({ median: 9, min: 8, max: 10 });
    expect(one?.vsOne).toBe(1);
    expect(two?.vsOne).toBe(12 / 9);
    expect(two?.worstVsOne).toBe(11 / 9);
    expect(two?.clusters).toBe(3);
    expect(two?.crossingRate).toBe(6);
    expect(two?.crossingPerWord).toBe(0.5);
    expect(two?.machineCores).toBe(1.9);
    expect(two?.workerCores).toBeCloseTo(1.1);
    expect(two?.perWorkerCores).toEqual([0.55, 0.55]);
    expect(two?.cpuNsPerWord).toBe(800);
    expect(two?.start).toEqual({ median: 2, min: 2, max: 2 });
    expect(one?.crossingRate).toBe(0);
  });

  it('counts failures, leaves out sizes that all failed, and has no ratio without 1 worker', () => {
    const runs = [run(2, 1, 10), run(2, 2, 12)];
    const failures = [
      failure(2, 3),
      failure(3, 1),
      { ...failure(2, 1), table: 'latency' as const },
    ];
    const rows = summarizeClusters(runs, failures);
    expect(rows.map((r) => [r.workers, r.clusters, r.failed])).toEqual([[2, 2, 1]]);
    expect(rows[0]?.vsOne).toBeUndefined();
    expect(rows[0]?.worstVsOne).toBeUndefined();
    expect(failedSizes(runs, failures)).toEqual([3]);
    expect(summarizeClusters([])).toEqual([]);
    expect(summarizeClusters([run(1, 1, 5, { cpuNsPerWord: undefined })])[0]?.cpuNsPerWord).toBe(
      undefined,
    );
  });

  it('calls the machine the limit when it kept 90 % of its cores busy', () => {
    expect(machineBound({ machineCores: 1.8 }, 2)).toBe(true);
    expect(machineBound({ machineCores: 1.79 }, 2)).toBe(false);
    const rows = summarizeClusters([run(1, 1, 10), run(2, 1, 11)]);
    const lines = limitLines(rows, 2);
    expect(lines[0]).toBe(
      '2 workers / 1 worker: 1.100x (median), 1.100x (worst cluster); the machine kept 1.90 of 2 ' +
        'cores busy at 2 workers, 1.50 at 1 worker.',
    );
    expect(lines[1]).toMatch(/^At 2 workers the machine kept at least 90 % of its 2 cores busy/);
    expect(limitLines(rows, 4)[1]).toMatch(/^No size kept 90 % of the machine's 4 cores busy/);
  });
});

describe('cluster benchmark report', () => {
  it('renders the throughput table, start-up, the limit, the latency table and the footers', () => {
    const text = renderClusterReport(
      results([run(1, 1, 1e6), run(2, 1, 1.2e6), run(1, 2, 0.9e6)], [failure(2, 2)]),
    );
    expect(text).toContain(`| ${THROUGHPUT_HEADER.join(' | ')} |`);
    expect(text).toContain(
      '| 1 | 2 | 950 k | 900..1000 k | 1.000x | 0.947x | 0 | 0.00 | 1.50 of 2 | 1.00 | 400 ns | 0.05 |',
    );
    expect(text).toContain(
      '| 2 | 1 (+1 failed) | 1.20 M | 1.20..1.20 M | 1.263x | 1.263x | 600 k | 0.50 | 1.90 of 2 | ' +
        '1.10 (0.55 + 0.55) | 800 ns | 0.05 |',
    );
    expect(text).toContain(
      'Start-up (spawn until every worker logged ready; in no rate): 1 worker 1.00 s, 2 workers 2.00 s.',
    );
    expect(text).toContain('2 workers / 1 worker: 1.263x (median)');
    expect(text).toContain(
      'Reproduce: `node dist/bench/cluster.js --only throughput --mb 10 --workers 1,2 --reps 3 ' +
        '--warmup-seconds 3 --seconds 6`. Machine: test machine. Load: other processes kept 0.07 ' +
        'cores busy during the part (0.01 in the idle probe before the run).',
    );
    expect(text).toContain('| workers | p50 | p99 | p99.99 | max |');
    expect(text).toContain('| 1 | 0.27 ms | 1.05 ms | 5.20 ms | 5.19 ms |');
    expect(text).toContain('| 2 | failed |  |  |  |');
    expect(text).toContain('kept 0.11 cores busy during the part');
    expect(text).toContain('### Failures');
    expect(text).toContain('- **throughput**: 2 workers died\n  last line');
  });

  it('gives a row to a size whose every cluster failed, and leaves out tables that did not run', () => {
    const text = renderClusterReport(results([run(1, 1, 1e6)], [failure(2, 1)]));
    expect(text).toMatch(/\| 2 \| 0 \(\+1 failed\) \| n\/a \|/);
    const latencyOnly = renderClusterReport({ ...results([]), runs: undefined });
    expect(latencyOnly).not.toContain('### Throughput');
    expect(latencyOnly).toContain('### Latency');
    const throughputOnly = renderClusterReport({
      ...results([run(1, 1, 1)]),
      latencies: undefined,
    });
    expect(throughputOnly).not.toContain('### Latency');
  });
});

describe('cluster block in RESULTS.md', () => {
  it('is replaced in place, and roo bench and the resilience bench keep it', () => {
    const first = withClusterSection(resultsFile('bench one', undefined), 'CLUSTER ONE');
    expect(first.indexOf(NOTES_MARKER)).toBeLessThan(first.indexOf(CLUSTER_MARKERS.begin));
    expect(first).toContain(`${CLUSTER_MARKERS.begin}\nCLUSTER ONE\n${CLUSTER_MARKERS.end}`);
    const both = withResilienceSection(first, 'RESILIENCE');
    const again = withClusterSection(both, 'CLUSTER TWO');
    expect(again).not.toContain('CLUSTER ONE');
    expect(again.indexOf('CLUSTER TWO')).toBeLessThan(again.indexOf('RESILIENCE'));
    const rewritten = resultsFile('bench two', withResilienceSection(again, 'RESILIENCE 2'));
    expect(rewritten).toContain('bench two');
    expect(rewritten).toContain('CLUSTER TWO');
    expect(rewritten).toContain('RESILIENCE 2');
    expect(rewritten).not.toContain('bench one');
  });
});
