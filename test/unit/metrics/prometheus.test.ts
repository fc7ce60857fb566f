import { describe, expect, it } from 'vitest';
import { MetricsStore, prometheusRegistry, QUANTILES } from '../../../runtime/metrics/index.js';
import { parsePrometheus, sampleValue } from './prometheus-text.js';
import { hello, lat, report } from './reports.js';

const T0 = 1_700_000_000_000;

describe('prometheus page', () => {
  it('exposes every worker heard from under roo_ names, with totals and latest quantiles', async () => {
    const store = new MetricsStore();
    store.hello(hello('initializer'), 1, T0);
    store.hello(hello('worker2'), 2, T0);
    store.report(report('initializer', 0, T0 + 2000, 30), 1, T0 + 2000);
    store.report(
      report('initializer', 1, T0 + 4000, 10, {
        checkpoints: [{ id: 1, startedAt: T0, durationMs: 4, bytes: 10, outcome: 'committed' }],
        events: [{ at: T0, kind: 'rebalance', text: 'moved 2 groups' }],
      }),
      1,
      T0 + 4000,
    );
    store.report(report('worker2', 0, T0 + 2500, 12), 2, T0 + 2500);
    const refused = new Map([['ROO_ERR_BAD_MESSAGE', 3]]);
    const registry = prometheusRegistry(
      store,
      () => ({ open: 2, refused }),
      () => T0 + 4000,
    );
    const page = parsePrometheus(await registry.metrics());

    for (const name of page.types.keys()) expect(name).toMatch(/^roo_/);
    expect(page.types.get('roo_step_messages_total')).toBe('counter');
    expect(page.types.get('roo_step_latency_seconds')).toBe('gauge');
    const w1 = { app: 'word-count', worker: 'initializer' };
    const w2 = { app: 'word-count', worker: 'worker2' };
    expect(sampleValue(page, 'roo_worker_up', w1)).toBe(1);
    expect(sampleValue(page, 'roo_worker_reports_total', w1)).toBe(2);
    expect(
      sampleValue(page, 'roo_step_messages_total', { ...w1, step: 'split', kind: 'computation' }),
    ).toBe(40);
    expect(sampleValue(page, 'roo_step_messages_total', { ...w2, step: 'split' })).toBe(12);
    // 40 messages of 5 µs in the step.
    expect(sampleValue(page, 'roo_step_time_seconds_total', { ...w1, step: 'split' })).toBeCloseTo(
      40 * 5e-6,
      12,
    );
    for (const q of QUANTILES) {
      const v = sampleValue(page, 'roo_step_latency_seconds', {
        ...w1,
        step: 'split',
        quantile: String(q),
      });
      expect(Math.abs(v - 5e-6)).toBeLessThanOrEqual(5e-6 / 64);
      const p = sampleValue(page, 'roo_pipeline_latency_seconds', { ...w2, quantile: String(q) });
      expect(Math.abs(p - 1e-3)).toBeLessThanOrEqual(1e-3 / 64);
    }
    expect(sampleValue(page, 'roo_pipeline_messages_total', w1)).toBe(40);
    expect(sampleValue(page, 'roo_worker_messages_total', w2)).toBe(12);
    expect(sampleValue(page, 'roo_thread_utilization', { ...w1, thread: '1' })).toBe(0.5);
    expect(sampleValue(page, 'roo_thread_queued_messages', { ...w1, thread: '0' })).toBe(3);
    expect(sampleValue(page, 'roo_thread_gc_seconds_total', { ...w1, thread: '0' })).toBeCloseTo(
      0.003,
      9,
    );
    expect(sampleValue(page, 'roo_source_messages_total', { ...w1, source: 'lines' })).toBe(40);
    expect(sampleValue(page, 'roo_source_bytes_total', { ...w1, source: 'lines' })).toBe(400);
    expect(sampleValue(page, 'roo_source_muted', { ...w1, source: 'lines' })).toBe(0);
    expect(
      sampleValue(page, 'roo_channel_bytes_total', { ...w1, peer: 'worker2', direction: 'out' }),
    ).toBe(4000);
    expect(sampleValue(page, 'roo_key_groups_owned', { ...w2, partition: 'word totals' })).toBe(4);
    expect(sampleValue(page, 'roo_routing_version', w1)).toBe(1);
    expect(sampleValue(page, 'roo_checkpoints_total', { ...w1, outcome: 'committed' })).toBe(1);
    expect(sampleValue(page, 'roo_events_total', { ...w1, kind: 'rebalance' })).toBe(1);
    expect(sampleValue(page, 'roo_worker_info', { ...w1, pid: '4242', roo_version: '0.1.0' })).toBe(
      1,
    );
    expect(sampleValue(page, 'roo_metrics_receiver_connections')).toBe(2);
    expect(
      sampleValue(page, 'roo_metrics_receiver_refused_total', { code: 'ROO_ERR_BAD_MESSAGE' }),
    ).toBe(3);
  });

  it('drops a worker that aged out, and shows no quantile for a period without latencies', async () => {
    const store = new MetricsStore({ ageOutMs: 1000 });
    store.hello(hello('initializer'), 1, T0);
    store.report(
      report('initializer', 0, T0, 0, { ingressEgress: { messages: 0, latency: lat(0, 0) } }),
      1,
      T0,
    );
    const registry = prometheusRegistry(
      store,
      () => ({ open: 0, refused: new Map() }),
      () => T0,
    );
    let page = parsePrometheus(await registry.metrics());
    expect(page.samples.filter((s) => s.name === 'roo_worker_latency_seconds')).toEqual([]);
    expect(sampleValue(page, 'roo_worker_up', { worker: 'initializer' })).toBe(1);
    store.sweep(T0 + 1001);
    page = parsePrometheus(await registry.metrics());
    expect(page.samples.filter((s) => s.labels['worker'] === 'initializer')).toEqual([]);
  });
});
