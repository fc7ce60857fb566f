import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bucketOf,
  HIST_PRECISION,
  percentile,
  validateMetricsMessage,
} from '../../../protocols/index.js';
import {
  clockCostNs,
  LatencyMeter,
  MAX_MASK,
  SAMPLE_BUDGET,
} from '../../../runtime/engine/step-meter.js';

describe('LatencyMeter', () => {
  it('takes a histogram with the exact count, min, max and sum, and buckets the wire format accepts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 1, maxLength: 300 }),
        (values) => {
          const m = new LatencyMeter();
          for (const v of values) m.record(v);
          const h = m.take();
          expect(h.count).toBe(values.length);
          expect(h.min).toBe(Math.min(...values));
          expect(h.max).toBe(Math.max(...values));
          expect(h.sum).toBe(values.reduce((a, b) => a + b, 0));
          expect(h.buckets.reduce((a, [, n]) => a + n, 0)).toBe(values.length);
          expect(h.buckets[0]![0]).toBe(bucketOf(h.min));
          expect(h.buckets.at(-1)![0]).toBe(bucketOf(h.max));
          // Percentiles are within the wire format's precision plus HdrHistogram's (2 digits).
          const sorted = [...values].sort((a, b) => a - b);
          const median = sorted[Math.max(0, Math.ceil(0.5 * sorted.length) - 1)]!;
          expect(Math.abs(percentile(h, 50) - median)).toBeLessThanOrEqual(
            median * (HIST_PRECISION + 0.01) + 1,
          );
        },
      ),
    );
  });

  it("a take is accepted inside a report by the format's validator", () => {
    const m = new LatencyMeter();
    for (const v of [5, 63, 64, 65, 1000, 123_456_789]) m.record(v);
    const latency = m.take();
    const report = {
      type: 'report',
      version: 1,
      app: 'a',
      worker: 'w',
      clusterId: '',
      seq: 0,
      at: 1,
      periodMs: 1,
      steps: [{ pipeline: 'p', step: 's', kind: 'computation', messages: 6, latency }],
      pipelines: [],
      ingressEgress: { messages: 0, latency: m.take() },
      threads: [],
      sources: [],
      channels: [],
      routing: { version: 1, members: ['w'], partitions: [] },
      checkpoints: [],
      checkpointsDropped: 0,
      events: [],
      eventsDropped: 0,
    };
    expect(() => validateMetricsMessage(report)).not.toThrow();
  });

  it('starts a new period after a take', () => {
    const m = new LatencyMeter();
    m.record(10);
    expect(m.take().count).toBe(1);
    expect(m.count).toBe(0);
    expect(m.take()).toMatchObject({ count: 0, min: 0, max: 0, sum: 0, buckets: [] });
  });

  it('clamps negative and huge values into the trackable range', () => {
    const m = new LatencyMeter();
    m.record(-5);
    m.record(2 ** 60);
    const h = m.take();
    expect(h.min).toBe(0);
    expect(h.max).toBe(2 ** 42 - 1);
  });

  it('samples half as often each time a period passes its budget, and twice as often after a quiet period', () => {
    const m = new LatencyMeter();
    expect(m.mask).toBe(0);
    for (let i = 0; i < SAMPLE_BUDGET; i++) m.record(1);
    expect(m.mask).toBe(1);
    for (let i = 0; i < SAMPLE_BUDGET * 20; i++) m.record(1);
    expect(m.mask).toBe(MAX_MASK);
    m.take();
    expect(m.mask).toBe(MAX_MASK);
    m.take(); // a period with no samples
    expect(m.mask).toBe(MAX_MASK >> 1);
  });

  it('subtracts the clock cost from a span, never going below 0', () => {
    const m = new LatencyMeter(100);
    m.span(0, 0.001); // 1000 ns
    m.span(0, 0.00005); // 50 ns: less than the clock's cost
    const h = m.take();
    expect(h.max).toBe(900);
    expect(h.min).toBe(0);
    expect(clockCostNs(50)).toBeGreaterThanOrEqual(0);
  });
});
