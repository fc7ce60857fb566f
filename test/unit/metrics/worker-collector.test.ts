import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { application, computation, nullSink, tcpSource } from '../../../runtime/api/index.js';
import type { ThreadMetricsTake } from '../../../runtime/engine/thread-control.js';
import { metricSteps } from '../../../runtime/engine/metric-steps.js';
import { workerEvents } from '../../../runtime/engine/worker-events.js';
import {
  METRICS_PERIOD_MS,
  metricsPeriodMs,
  WorkerCollector,
} from '../../../runtime/metrics/worker-collector.js';
import { placePlan } from '../../../runtime/topology/placement.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

const plan = (() => {
  const app = application('Tiny');
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'in' }))
    .to(computation<string, string>('id', (s) => s))
    .toSink(nullSink('out'));
  return buildPlan(app.build());
})();

/** A take of one thread whose source has taken `n` messages. */
function take(n: number): ThreadMetricsTake {
  const steps = metricSteps(plan);
  return {
    utilization: 0.5,
    recorder: {
      steps: steps.steps.map((s) => ({
        messages: s.kind === 'computation' ? n : 0,
        latency: { count: 0, min: 0, max: 0, sum: 0, buckets: [] },
      })),
      pipelines: [{ count: 0, min: 0, max: 0, sum: 0, buckets: [] }],
      ingressEgress: { count: 0, min: 0, max: 0, sum: 0, buckets: [] },
    },
    stats: {
      thread: 0,
      scheduler: {
        turns: 0,
        delivered: 0,
        direct: 0,
        sentLocal: 0,
        sentRemote: 0,
        batchesOut: 0,
        batchesIn: 0,
        bytesOut: 0,
        actorErrors: 0,
        badBatches: 0,
      },
      loop: { iterations: 0, parks: 0, utilization: 0 },
      actors: 2,
      gc: {
        minor: { count: 0, ms: 0, maxMs: 0 },
        major: { count: 0, ms: 0, maxMs: 0 },
        other: { count: 0, ms: 0, maxMs: 0 },
      },
      mailboxes: { queued: 0, deepest: 0, deepestActor: '' },
      sources: [
        { name: 'in', stage: 0, received: n, bytes: n, mutes: 0, muted: false, finished: false },
      ],
      sinks: [],
      encoded: [{ id: 0, received: n, shipped: n }],
      entities: {},
      errors: {},
      idle: true,
      dataChannel: { sent: [], received: 0, out: [], in: [] },
    },
  };
}

describe('WorkerCollector', () => {
  it('keeps each period for roo status: messages since the period before, and the events of the worker', async () => {
    let n = 0;
    const engine = {
      plan,
      placement: placePlan(plan, 1),
      threads: 1,
      metrics: () => Promise.resolve([take(n)]),
    };
    const c = new WorkerCollector({
      worker: 'w',
      engine: () => engine,
      log: pino({ level: 'silent' }),
    });
    expect(c.latest()).toBeUndefined();
    n = 40;
    workerEvents.drain();
    workerEvents.event('recovery', 'recovered');
    await c.collect();
    expect(c.latest()).toMatchObject({
      messages: 40,
      pipelines: [{ outputs: 40 }],
      reporter: null,
    });
    n = 45;
    await c.collect();
    expect(c.latest()).toMatchObject({ messages: 5, pipelines: [{ outputs: 5 }] });
    // The events went into the first period's report and were drained.
    expect(workerEvents.drain().events).toEqual([]);
    expect(c.hello()).toMatchObject({ type: 'hello', worker: 'w', app: 'Tiny', threads: 1 });
  });

  it('counts a period whose take failed as missed and keeps the last good one', async () => {
    const engine = {
      plan,
      placement: placePlan(plan, 1),
      threads: 1,
      metrics: () => Promise.reject(new Error('thread gone')),
    };
    const c = new WorkerCollector({
      worker: 'w',
      engine: () => engine,
      log: pino({ level: 'silent' }),
    });
    await c.collect();
    expect(c.missed).toBe(1);
    expect(c.latest()).toBeUndefined();
  });

  it('reports every 2 s unless ROO_METRICS_PERIOD_MS says otherwise (1 ms to 60 s)', () => {
    expect(METRICS_PERIOD_MS).toBe(2_000);
    expect(metricsPeriodMs(undefined)).toBe(2_000);
    expect(metricsPeriodMs('50')).toBe(50);
    for (const bad of ['', '0', '60001', '1.5', 'fast']) expect(metricsPeriodMs(bad)).toBe(2_000);
  });
});
