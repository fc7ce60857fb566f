import { describe, expect, it } from 'vitest';
import {
  describeMachine,
  formatMachine,
  formatMicros,
  formatRate,
  formatRateRange,
  formatRatio,
  LatencyRecorder,
  LoadProbe,
  markdownTable,
  median,
  summarize,
} from '../../../bench/stats.js';

describe('bench stats', () => {
  it('summarises repeated runs', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(summarize([5, 9, 7])).toEqual({ median: 7, min: 5, max: 9 });
    expect(() => median([])).toThrow(RangeError);
  });

  it('formats rates, ranges and ratios', () => {
    expect(formatRate(12_330_000)).toBe('12.33 M');
    expect(formatRate(741_000)).toBe('741 k');
    expect(formatRate(4_870)).toBe('4.87 k');
    expect(formatRate(950)).toBe('950');
    expect(formatRate(2.5e9)).toBe('2.50 G');
    expect(formatRateRange({ median: 11.88e6, min: 11.67e6, max: 11.91e6 })).toEqual({
      median: '11.88 M',
      range: '11.67..11.91 M',
    });
    expect(formatRatio(1.4, 11.88)).toBe('0.118x');
    expect(formatMicros(850)).toBe('850 µs');
    expect(formatMicros(1250)).toBe('1.25 ms');
  });

  it('builds a markdown table', () => {
    expect(markdownTable(['a', 'b'], [['1', 'x|y']])).toBe(
      '| a | b |\n| --- | --- |\n| 1 | x\\|y |',
    );
  });

  it('describes the machine', () => {
    const info = describeMachine();
    expect(info.cores).toBeGreaterThan(0);
    expect(info.node).toBe(process.version);
    expect(formatMachine(info)).toContain(process.version);
  });

  it('probes load: own CPU and the rest of the machine', () => {
    const probe = new LoadProbe();
    probe.start();
    const until = performance.now() + 50;
    while (performance.now() < until) {
      // Busy for 50 ms, so this process's share is close to one core.
    }
    const s = probe.stop();
    expect(s.wallMs).toBeGreaterThanOrEqual(50);
    // Only what holds on a loaded machine too: timings belong in bench/, not in tests.
    expect(s.ownCpu).toBeGreaterThan(0);
    expect(s.otherLoad).toBeGreaterThanOrEqual(0);
  });

  it('records latencies and reports percentiles', () => {
    const rec = new LatencyRecorder();
    for (let i = 1; i <= 10_000; i++) rec.record(i);
    rec.record(5e9); // beyond the initial range: the histogram grows
    const s = rec.summary();
    expect(s.count).toBe(10_001);
    expect(s.p50).toBeGreaterThanOrEqual(4990);
    expect(s.p50).toBeLessThanOrEqual(5010);
    expect(s.p99).toBeGreaterThanOrEqual(9890);
    expect(s.p99).toBeLessThanOrEqual(9910);
    expect(s.max).toBeGreaterThan(4.99e9);
    rec.reset();
    expect(rec.count).toBe(0);
  });
});
