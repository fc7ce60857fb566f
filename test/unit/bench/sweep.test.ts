import { describe, expect, it } from 'vitest';
import { bestRow, rateSummary, summarizeSweep } from '../../../bench/sweep.js';
import { evaluateTargets, type TargetCheck } from '../../../bench/targets.js';
import { fakeResults, latencyRuns, runs } from './bench-fakes.js';

/** Status by the start of the target's text. */
function statusOf(checks: readonly TargetCheck[], prefix: string): string | undefined {
  const found = checks.filter((c) => c.target.startsWith(prefix));
  if (found.length !== 1) throw new Error(`${found.length} targets start with '${prefix}'`);
  return found[0]?.status;
}

describe('thread sweep summary', () => {
  it('gives per count the median, the worst process and the ratios to 1 thread and the best', () => {
    const rows = summarizeSweep(
      [...runs('engine', 2, [9, 8, 10]), ...runs('engine', 1, [5, 4, 6]), ...runs('loop', 1, [20])],
      'engine',
    );
    expect(rows.map((r) => r.threads)).toEqual([1, 2]);
    const [one, two] = rows;
    expect(one?.rate).toEqual({ median: 5, min: 4, max: 6 });
    expect(one?.vsOne).toBe(1);
    expect(two?.vsOne).toBe(9 / 5);
    expect(two?.worstVsOne).toBe(8 / 5);
    expect(one?.vsBest).toBe(5 / 9);
    expect(two?.vsBest).toBe(1);
    expect(two?.processes).toBe(3);
    expect(two?.utilization).toEqual([0.95, 0.95]);
    expect(two?.start.median).toBe(0.5);
    expect(bestRow(rows)?.threads).toBe(2);
  });

  it('has no ratio to 1 thread without a 1-thread row, and counts failures', () => {
    const rows = summarizeSweep(runs('tcp-roo', 2, [3, 3]), 'tcp-roo', [
      { series: 'tcp-roo', threads: 2, rep: 3, message: 'died' },
      { series: 'engine', threads: 2, rep: 1, message: 'elsewhere' },
    ]);
    expect(rows[0]?.vsOne).toBeUndefined();
    expect(rows[0]?.worstVsOne).toBeUndefined();
    expect(rows[0]?.failed).toBe(1);
    expect(summarizeSweep([], 'engine')).toEqual([]);
    expect(bestRow([])).toBeUndefined();
    expect(rateSummary(runs('loop', 1, [1, 3, 2]), 'loop')).toEqual({ median: 2, min: 1, max: 3 });
    expect(rateSummary([], 'loop')).toBeUndefined();
  });
});

describe('roo bench targets', () => {
  it('judges every target of a complete run', () => {
    const checks = evaluateTargets(fakeResults());
    expect(checks.map((c) => [c.status, c.measured.split(' (')[0]])).toEqual([
      ['MET', '0.600x'], // (c) 1 thread 6 M / (a) 10 M
      ['MET', '1.500x'], // 9 M / 6 M
      ['MET', '1.417x'], // worst 2-thread 8.5 M / 6 M
      ['MET', '4 threads 0.944x of 2 threads'], // 8.5 M / 9 M, above 0.9
      ['MISSED', '0.600x'], // (d) 3 M / 5 M
      // Latency, medians over runs: half rate p50, p99, p99.99 at 1 thread, then 2 ...
      ['MET', '240 µs'],
      ['MET', '1.90 ms'],
      ['MET', '9.00 ms'],
      ['MISSED', '450 µs'],
      ['MISSED', '5.00 ms'],
      ['MISSED', '12.00 ms'],
      // ... and a tenth of it, p99 and p99.99.
      ['MET', '990 µs'],
      ['MET', '4.80 ms'],
      ['MISSED', '1.30 ms'],
      ['MISSED', '6.00 ms'],
      ['MET', 'peak 200.0 MB; flat'],
    ]);
  });

  it('judges the sweep only on counts above the cores', () => {
    const r = fakeResults();
    r.runs = r.runs.filter((p) => !(p.series === 'engine' && p.threads === 4));
    const checks = evaluateTargets(r);
    expect(statusOf(checks, '(c) thread sweep')).toBe('NOT RUN');
    expect(checks.find((c) => c.target.startsWith('(c) thread sweep'))?.measured).toBe(
      'no count above 2 cores ran',
    );
    r.runs.push(...runs('engine', 3, [8.2e6]), ...runs('engine', 8, [1e6]));
    expect(statusOf(evaluateTargets(r), '(c) thread sweep')).toBe('MISSED');
    r.runs = r.runs.filter((p) => p.threads !== 8);
    expect(statusOf(evaluateTargets({ ...r, cores: 2 }), '(c) thread sweep')).toBe('MET');
  });

  it('marks a part that did not run NOT RUN, and a growing memory MISSED', () => {
    const r = fakeResults();
    r.runs = r.runs.filter((p) => p.series !== 'loop' && p.series !== 'tcp-hand');
    r.latencyRuns = r.latencyRuns.filter((x) => x.level !== 'half');
    r.memory = { ...r.memory!, flat: false };
    const checks = evaluateTargets(r);
    expect(statusOf(checks, '(c) engine, 1 thread')).toBe('NOT RUN');
    expect(statusOf(checks, '(c) engine, 2 threads / 1 thread, median')).toBe('MET');
    expect(statusOf(checks, '(d)')).toBe('NOT RUN');
    expect(statusOf(checks, "latency at half of (d)'s rate: p50")).toBe('NOT RUN');
    expect(statusOf(checks, 'latency at a tenth of the rate, roo, 1 thread: p99 ')).toBe('MET');
    expect(statusOf(checks, 'memory')).toBe('MISSED');
  });

  it("judges roo's latency at each thread count on medians, with the floor's beside", () => {
    const checks = evaluateTargets(fakeResults());
    const measured = (prefix: string): string | undefined =>
      checks.find((c) => c.target.startsWith(prefix))?.measured;
    expect(statusOf(checks, "latency at half of (d)'s rate, roo, 1 thread: p50 ≤ 0.3 ms")).toBe(
      'MET',
    );
    expect(measured("latency at half of (d)'s rate, roo, 1 thread: p50")).toBe(
      '240 µs (floor 190 µs)',
    );
    // A bound the floor itself misses says so.
    expect(measured("latency at half of (d)'s rate, roo, 2 threads: p99 ")).toBe(
      '5.00 ms (floor 2.00 ms)',
    );
    const r = fakeResults();
    for (const run of r.latencyRuns) {
      if (run.level === 'half' && run.subject.kind === 'floor') run.result.summary.p99 = 2100;
    }
    expect(
      evaluateTargets(r).find((c) =>
        c.target.startsWith("latency at half of (d)'s rate, roo, 2 threads: p99 "),
      )?.measured,
    ).toBe('5.00 ms (floor 2.10 ms, itself above the bound)');
    // Counts run in the latency part are judged, whatever --threads was.
    r.latencyRuns = r.latencyRuns.filter((x) => x.subject.kind !== 'floor');
    r.latencyRuns.push(
      ...latencyRuns('tenth', { kind: 'roo', threads: 4 }, 1, [100], [800], [4000]),
    );
    r.latencyFailures.push({
      level: 'half',
      subject: { kind: 'roo', threads: 4 },
      rep: 1,
      message: 'died',
    });
    const later = evaluateTargets(r);
    expect(statusOf(later, 'latency at a tenth of the rate, roo, 4 threads: p99 ')).toBe('MET');
    expect(
      later.find((c) => c.target.startsWith('latency at a tenth of the rate, roo, 4 threads: p99 '))
        ?.measured,
    ).toBe('800 µs (floor n/a)');
    expect(statusOf(later, "latency at half of (d)'s rate, roo, 4 threads: p50")).toBe('NOT RUN');
    expect(
      later.find((c) => c.target.startsWith("latency at half of (d)'s rate, roo, 4 threads: p50"))
        ?.measured,
    ).toBe('every run failed');
  });

  it('misses the 2-thread targets on a slow worst process', () => {
    const r = fakeResults();
    r.runs = r.runs.filter((p) => !(p.series === 'engine' && p.threads === 2));
    r.runs.push(...runs('engine', 2, [9.5e6, 9.4e6, 7e6]));
    const checks = evaluateTargets(r);
    expect(statusOf(checks, '(c) engine, 2 threads / 1 thread, median')).toBe('MET');
    expect(statusOf(checks, '(c) engine, 2 threads / 1 thread, worst')).toBe('MISSED');
  });
});
