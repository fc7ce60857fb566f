import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import { MetricsStore, uiMessage } from '../../../runtime/metrics/index.js';
import { APP, hello, PIPELINE, report } from './reports.js';

const T0 = 1_700_000_000_000;

function twoWorkers(store: MetricsStore): void {
  expect(store.hello(hello('initializer'), 1, T0)).toEqual({ ok: true, superseded: undefined });
  expect(store.hello(hello('worker2'), 2, T0)).toEqual({ ok: true, superseded: undefined });
}

describe('metrics store', () => {
  it('keeps totals per worker and merges series over workers', () => {
    const store = new MetricsStore();
    twoWorkers(store);
    expect(store.report(report('initializer', 0, T0 + 2000, 30), 1, T0 + 2000)).toBe(true);
    expect(store.report(report('worker2', 0, T0 + 2500, 12), 2, T0 + 2500)).toBe(true);
    expect(store.report(report('initializer', 1, T0 + 4000, 8), 1, T0 + 4000)).toBe(true);
    const app = store.apps.get(APP)!;
    const w1 = app.workers.get('initializer')!;
    expect(w1.totals.reports).toBe(2);
    expect(w1.totals.ingressEgress.messages).toBe(38);
    expect(w1.totals.sources.get('lines')).toEqual({ received: 38, bytes: 380, muted: false });
    expect(w1.totals.channels.get('worker2')).toEqual({
      messagesOut: 38,
      messagesIn: 38,
      bytesOut: 3800,
      bytesIn: 1900,
    });
    expect(w1.totals.gcMs.get(0)).toBe(3);
    const points = app.pipelines.get(PIPELINE)!.toPoints();
    expect(points.map((p) => [p.t, p.messages])).toEqual([
      [T0 + 2000, 42],
      [T0 + 4000, 8],
    ]);
    expect(app.series.toPoints().reduce((n, p) => n + p.messages, 0)).toBe(50);
    const view = uiMessage(store, T0 + 4000, true);
    const a = view.apps[0]!;
    expect(a.messages).toBe(50);
    expect(a.steps.map((s) => [s.step, s.kind, s.messages])).toEqual([
      ['lines', 'source', 50],
      ['split', 'computation', 50],
      ['count', 'state', 50],
      ['counts out', 'sink', 50],
    ]);
    expect(a.workers.map((w) => [w.name, w.status, w.messages])).toEqual([
      ['initializer', 'live', 38],
      ['worker2', 'live', 12],
    ]);
    expect(a.threads).toHaveLength(4);
    expect(a.sources.map((s) => [s.worker, s.received])).toEqual([
      ['initializer', 38],
      ['worker2', 12],
    ]);
  });

  it('merges a checkpoint over workers and keeps the last ones', () => {
    const store = new MetricsStore({ maxCheckpoints: 3 });
    twoWorkers(store);
    const cp = (
      id: number,
      durationMs: number,
      outcome: 'committed' | 'aborted' = 'committed',
    ) => ({
      id,
      startedAt: T0 + id,
      durationMs,
      bytes: 100,
      outcome,
    });
    store.report(report('initializer', 0, T0, 0, { checkpoints: [cp(1, 5), cp(2, 7)] }), 1, T0);
    store.report(
      report('worker2', 0, T0, 0, { checkpoints: [cp(1, 9), cp(2, 3, 'aborted')] }),
      2,
      T0,
    );
    store.report(report('initializer', 1, T0, 0, { checkpoints: [cp(3, 1), cp(4, 1)] }), 1, T0);
    const list = uiMessage(store, T0, true).apps[0]!.checkpoints;
    expect(list.map((c) => [c.id, c.durationMs, c.bytes, c.outcome, c.workers])).toEqual([
      [2, 7, 200, 'aborted', 2],
      [3, 1, 100, 'committed', 1],
      [4, 1, 100, 'committed', 1],
    ]);
  });

  it('keeps the last events, with the worker that reported each', () => {
    const store = new MetricsStore({ maxEvents: 2 });
    twoWorkers(store);
    const ev = (text: string) => ({ at: T0, kind: 'migration' as const, text });
    store.report(report('initializer', 0, T0, 0, { events: [ev('a'), ev('b')] }), 1, T0);
    store.report(report('worker2', 0, T0, 0, { events: [ev('c')] }), 2, T0);
    expect(uiMessage(store, T0, true).apps[0]!.events.map((e) => `${e.worker}:${e.text}`)).toEqual([
      'initializer:b',
      'worker2:c',
    ]);
  });

  it('hands a worker to its newest connection and ignores the old one', () => {
    const store = new MetricsStore();
    twoWorkers(store);
    expect(store.hello(hello('initializer', { pid: 9 }), 7, T0)).toEqual({
      ok: true,
      superseded: 1,
    });
    expect(store.report(report('initializer', 0, T0, 5), 1, T0)).toBe(false);
    expect(store.report(report('initializer', 0, T0, 5), 7, T0)).toBe(true);
    store.disconnected(APP, 'initializer', 1, T0);
    expect(store.status(store.apps.get(APP)!.workers.get('initializer')!, T0)).toBe('live');
    store.disconnected(APP, 'initializer', 7, T0);
    expect(store.status(store.apps.get(APP)!.workers.get('initializer')!, T0)).toBe('disconnected');
  });

  it('marks a quiet worker silent, then forgets it and its application', () => {
    const store = new MetricsStore({ silentAfterMs: 10_000, ageOutMs: 60_000 });
    twoWorkers(store);
    store.report(report('worker2', 0, T0 + 50_000, 1), 2, T0 + 50_000);
    const w = store.apps.get(APP)!.workers.get('initializer')!;
    expect(store.status(w, T0 + 10_000)).toBe('live');
    expect(store.status(w, T0 + 10_001)).toBe('silent');
    store.sweep(T0 + 60_001);
    expect([...store.apps.get(APP)!.workers.keys()]).toEqual(['worker2']);
    store.sweep(T0 + 110_001);
    expect(store.apps.size).toBe(0);
  });

  it('refuses applications and workers beyond its bounds with ROO_ERR_QUEUE_FULL', () => {
    const store = new MetricsStore({ maxApps: 1, maxWorkers: 1 });
    expect(store.hello(hello('initializer'), 1, T0).ok).toBe(true);
    const w = store.hello(hello('worker2'), 2, T0);
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.error.code).toBe(ErrorCode.QueueFull);
    const a = store.hello(hello('initializer', { app: 'other' }), 3, T0);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.error.message).toMatch(/tracks 1 applications/);
  });

  it('charts at most maxSteps steps and counts the rest', () => {
    const store = new MetricsStore({ maxSteps: 2 });
    twoWorkers(store);
    store.report(report('initializer', 0, T0, 1), 1, T0);
    const app = store.apps.get(APP)!;
    expect(app.steps.size).toBe(2);
    expect(app.untracked).toBe(2);
  });

  it('holds a fixed number of points per series however long it runs', () => {
    const store = new MetricsStore({ pointMs: 2000, windowMs: 60_000 });
    twoWorkers(store);
    for (let i = 0; i < 500; i++) {
      const at = T0 + i * 2000;
      store.report(report('initializer', i, at, 1), 1, at);
      store.report(report('worker2', i, at + 700, 1), 2, at + 700);
      store.sweep(at + 700);
    }
    const now = T0 + 499 * 2000 + 700;
    const view = uiMessage(store, now, true).apps[0]!;
    for (const s of [view, ...view.pipelines, ...view.steps, ...view.workers]) {
      expect(s.points.length).toBeLessThanOrEqual(31);
      expect(s.points.length).toBeGreaterThanOrEqual(29);
    }
    expect(view.messages).toBe(1000);
    // An update carries only the recent points.
    expect(uiMessage(store, now, false).apps[0]!.points.length).toBeLessThanOrEqual(4);
  });
});
