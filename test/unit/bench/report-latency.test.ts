import { describe, expect, it } from 'vitest';
import type { TailBreakdown } from '../../../bench/latency-trace.js';
import { latencyRows } from '../../../bench/latency-summary.js';
import { LATENCY_COLUMNS, latencyRowCells, renderLatency } from '../../../bench/report-latency.js';
import { formatMicrosRange } from '../../../bench/stats.js';
import { fakeResults, options } from './bench-fakes.js';

/** The markdown table row whose first cell is `first`, under the heading that starts with `heading`. */
function rowUnder(text: string, heading: string, first: string): string {
  const from = text.indexOf(heading);
  if (from < 0) throw new Error(`no heading ${heading}`);
  const line = text
    .slice(from)
    .split('\n')
    .find((l) => l.startsWith(`| ${first} |`));
  if (line === undefined) throw new Error(`no row ${first} under ${heading}`);
  return line;
}

const breakdown: TailBreakdown = {
  thresholdMs: 2.5,
  messages: 1000,
  slow: 10,
  causes: [{ cause: 'GC pause in worker t0', count: 10, medianMs: 4 }],
  stages: [],
  gc: [],
  longIterations: [],
};

describe('latency tables', () => {
  it('formats a percentile as its median with min..max in the same unit', () => {
    expect(formatMicrosRange({ median: 2400, min: 1900, max: 3700 })).toBe('2.40 ms (1.90..3.70)');
    expect(formatMicrosRange({ median: 850, min: 800, max: 1200 })).toBe('850 µs (800..1200)');
    expect(formatMicrosRange({ median: 190, min: 190, max: 190 })).toBe('190 µs');
  });

  it('gives one table per rate: the floor, then roo by thread count with ratios to the floor', () => {
    const text = renderLatency(fakeResults()).join('\n');
    expect(text).toContain(`| ${LATENCY_COLUMNS.join(' | ')} |`);
    const half = "#### At 150 k msgs/s, half of (d)'s 2-thread frame rate";
    expect(rowUnder(text, half, 'hand-written floor')).toBe(
      '| hand-written floor | 3 | 190 µs (180..200) | 2.00 ms (1.90..2.10) | 7.00 ms (6.00..8.00) | ' +
        '14.00 ms (12.00..16.00) |  |  |  | 150 k msgs/s | 150 k msgs/s | 0, 0, 0 | 0.04 (0.02..0.06) |',
    );
    expect(rowUnder(text, half, 'roo, 2 threads')).toContain(
      '| 450 µs (400..500) | 5.00 ms (4.00..5.50) | 12.00 ms (11.00..15.00) | 24.00 ms (22.00..30.00) ' +
        '| 2.37x | 2.50x | 1.71x |',
    );
    // A rate whose runs differ below the shown digits has no range.
    const r = fakeResults();
    r.latencyRuns.forEach((x, i) => (x.result.sentRate = x.result.targetRate + (i % 3)));
    expect(rowUnder(renderLatency(r).join('\n'), half, 'roo, 1 thread')).toContain(
      '| 150 k msgs/s | 150 k msgs/s |',
    );
    r.latencyRuns[0]!.result.sentRate = 140_000;
    expect(rowUnder(renderLatency(r).join('\n'), half, 'hand-written floor')).toContain(
      '| 150 k msgs/s (140 k..150 k) |',
    );
    const tenth = '#### At 15.0 k msgs/s, a tenth of it';
    expect(rowUnder(text, tenth, 'roo, 1 thread')).toContain('| 990 µs (950..1000) |');
    expect(text.indexOf(half)).toBeLessThan(text.indexOf(tenth));
    // Under each table: the command that measures the part again, the machine and the load.
    expect(text).toContain(
      'Reproduce: `node bin/roo bench --only latency --mb 20 --seed 20241121 --latency-rate 150000 ' +
        '--latency-seconds 6 --latency-threads 1,2 --latency-reps 3`. Machine: Test CPU, 2 cores, Node v20.',
    );
    expect(text).toContain('Each subject ran 3 times per rate');
    expect(text).not.toContain('what delayed the messages above p99');
  });

  it('names the rate from --latency-rate, and keeps a subject whose every run failed', () => {
    const r = fakeResults();
    r.options = options(['--latency-rate', '150000']);
    r.latencyRuns = r.latencyRuns.filter(
      (x) => x.subject.kind !== 'roo' || x.subject.threads !== 2,
    );
    r.latencyFailures = [
      { level: 'half', subject: { kind: 'roo', threads: 2 }, rep: 1, message: 'died' },
    ];
    const text = renderLatency(r).join('\n');
    expect(text).toContain('#### At 150 k msgs/s, the rate of --latency-rate');
    expect(rowUnder(text, '#### At 150 k', 'roo, 2 threads')).toBe(
      `| roo, 2 threads | 0 (+1 failed) |${'  |'.repeat(LATENCY_COLUMNS.length - 2)}`,
    );
    const row = latencyRows(r.latencyRuns, r.latencyFailures, 'half')[2]!;
    expect(latencyRowCells(row)).toHaveLength(LATENCY_COLUMNS.length);
  });

  it("with --trace, prints each roo subject's breakdown at the higher rate only", () => {
    const r = fakeResults();
    r.options = options(['--trace']);
    const traced = (level: string, threads: number, rep: number) =>
      r.latencyRuns.find(
        (x) =>
          x.level === level &&
          x.subject.kind === 'roo' &&
          x.subject.threads === threads &&
          x.rep === rep,
      )!;
    traced('half', 1, 1).result.tail = breakdown;
    traced('tenth', 1, 1).result.tail = { ...breakdown, thresholdMs: 9 };
    const text = renderLatency(r).join('\n');
    const heading = '##### roo, 1 thread: what delayed the messages above p99 (run 1)';
    expect(text).toContain(heading);
    expect(text.indexOf(heading)).toBeLessThan(text.indexOf('#### At 15.0 k'));
    expect(text).toContain('Messages above p99 (2.500 ms): 10 of 1000.');
    expect(text).toContain('| GC pause in worker t0 | 10 | 100.0 % | 4.000 ms |');
    expect(text).not.toContain('9.000 ms');
    expect(text).toContain('roo, 2 threads: no trace breakdown (no traced run gave one).');
  });

  it('prints nothing when the part did not run', () => {
    const r = fakeResults();
    r.latencyRuns = [];
    expect(renderLatency(r)).toEqual([]);
  });
});
