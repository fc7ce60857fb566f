import { describe, expect, it } from 'vitest';
import type { TailBreakdown } from '../../../bench/latency-trace.js';
import { latencyRows, sameSubject, subjectName } from '../../../bench/latency-summary.js';
import { latencySubjects } from '../../../bench/latency-series.js';
import { fakeLatencyRuns, latencyRuns } from './bench-fakes.js';

/** A breakdown with only its threshold set, to tell one run's from another's. */
function tail(thresholdMs: number): TailBreakdown {
  return {
    thresholdMs,
    messages: 100,
    slow: 1,
    causes: [],
    stages: [],
    gc: [],
    longIterations: [],
  };
}

describe('latency runs by subject and rate', () => {
  it('runs the floor first, then roo at each count, in every rep', () => {
    expect(latencySubjects([1, 2])).toEqual([
      { kind: 'floor' },
      { kind: 'roo', threads: 1 },
      { kind: 'roo', threads: 2 },
    ]);
    expect(subjectName({ kind: 'floor' })).toBe('hand-written floor');
    expect(subjectName({ kind: 'roo', threads: 1 })).toBe('roo, 1 thread');
    expect(subjectName({ kind: 'roo', threads: 4 })).toBe('roo, 4 threads');
    expect(sameSubject({ kind: 'roo', threads: 2 }, { kind: 'roo', threads: 2 })).toBe(true);
    expect(sameSubject({ kind: 'roo', threads: 2 }, { kind: 'floor' })).toBe(false);
  });

  it('gives each percentile the median and min..max over runs, and roo over the floor', () => {
    const rows = latencyRows(fakeLatencyRuns(), [], 'half');
    expect(rows.map((r) => subjectName(r.subject))).toEqual([
      'hand-written floor',
      'roo, 1 thread',
      'roo, 2 threads',
    ]);
    const [floor, one, two] = rows;
    expect(floor?.runs).toBe(3);
    expect(floor?.figures?.p50).toEqual({ median: 190, min: 180, max: 200 });
    expect(floor?.vsFloor).toBeUndefined();
    expect(one?.figures?.p99).toEqual({ median: 1900, min: 1800, max: 2400 });
    expect(one?.figures?.senderWaits).toEqual([0, 0, 0]);
    expect(one?.figures?.otherLoad.median).toBeCloseTo(0.04, 10);
    expect(two?.vsFloor?.p50).toBeCloseTo(450 / 190, 10);
    expect(two?.vsFloor?.p99).toBeCloseTo(5000 / 2000, 10);
    expect(two?.vsFloor?.p9999).toBeCloseTo(12_000 / 7000, 10);
    // The other rate is apart.
    expect(latencyRows(fakeLatencyRuns(), [], 'tenth')[1]?.figures?.p99.median).toBe(990);
  });

  it('keeps a subject whose every run failed, and has no ratios without a floor', () => {
    const roo = { kind: 'roo', threads: 2 } as const;
    const runs = fakeLatencyRuns().filter(
      (r) => r.level === 'half' && r.subject.kind === 'roo' && r.subject.threads === 1,
    );
    const failures = [1, 2].map((rep) => ({
      level: 'half' as const,
      subject: roo,
      rep,
      message: 'x',
    }));
    const rows = latencyRows(runs, failures, 'half');
    expect(rows.map((r) => [subjectName(r.subject), r.runs, r.failed])).toEqual([
      ['roo, 1 thread', 3, 0],
      ['roo, 2 threads', 0, 2],
    ]);
    expect(rows[0]?.vsFloor).toBeUndefined();
    expect(rows[1]?.figures).toBeUndefined();
    expect(latencyRows([], [], 'half')).toEqual([]);
  });

  it("keeps the trace breakdown of a subject's first traced run", () => {
    const roo = { kind: 'roo', threads: 1 } as const;
    const runs = latencyRuns('half', roo, 1000, [1, 2, 3], [1, 2, 3], [1, 2, 3]);
    runs[2]!.result.tail = tail(3);
    runs[1]!.result.tail = tail(2);
    // Rows read runs in rep order, whatever order they were stored in.
    const row = latencyRows([...runs].reverse(), [], 'half')[0];
    expect(row?.tail?.rep).toBe(2);
    expect(row?.tail?.breakdown.thresholdMs).toBe(2);
  });
});
