/**
 * A worker's metrics messages from the threads' takes, without threads:
 * every report passes the format's validator, counts are the growth since
 * the report before (from 0 when a counter starts over), histograms merge
 * over threads, and the routing table lists the threads of this worker's
 * key groups.
 */
import { describe, expect, it } from 'vitest';
import {
  application,
  computation,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
} from '../../../runtime/api/index.js';
import { histOf, validateMetricsMessage, EMPTY_HIST, type Hist } from '../../../protocols/index.js';
import { metricSteps } from '../../../runtime/engine/metric-steps.js';
import type { ThreadMetricsTake, ThreadStats } from '../../../runtime/engine/thread-control.js';
import {
  buildHello,
  buildReport,
  grown,
  NO_TOTALS,
  type PeriodFacts,
} from '../../../runtime/metrics/report-builder.js';
import { statusMetrics } from '../../../runtime/metrics/status-metrics.js';
import { placePlan } from '../../../runtime/topology/placement.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

const split = computation<string, string>('split', (s) => s.split(' '));
const count = stateComputation<string, { n: number }, string>('count', (w, s) => `${w}=${++s.n}`);
const totals = statePartition('totals', { initial: () => ({ n: 0 }), keyGroups: 4 });

function plan() {
  const app = application('Counting');
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'lines' }))
    .toParallel(split)
    .keyBy((w) => w)
    .toStateful(count, totals)
    .toSink(tcpSink<string>({ address: { host: '127.0.0.1', port: 7002 }, encoder: (s) => s }));
  return buildPlan(app.build());
}

const P = plan();
const STEPS = metricSteps(P);

/** One thread's take: `lines` source messages, `words` through split/count/sink, some traffic. */
function take(
  thread: number,
  n: { lines: number; words: number; gcMs?: number; out?: number; in?: number },
  latency: Hist = EMPTY_HIST,
): ThreadMetricsTake {
  const stats: ThreadStats = {
    thread,
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
    loop: { iterations: 0, parks: 0, utilization: 0.5 },
    actors: 3,
    gc: {
      minor: { count: 0, ms: n.gcMs ?? 0, maxMs: 0 },
      major: { count: 0, ms: 0, maxMs: 0 },
      other: { count: 0, ms: 0, maxMs: 0 },
    },
    mailboxes: { queued: 7, deepest: 5, deepestActor: 'totals/kg1' },
    sources: [
      {
        name: 'lines',
        stage: 0,
        received: n.lines,
        bytes: n.lines * 10,
        mutes: 0,
        muted: thread === 1,
        finished: false,
      },
    ],
    sinks: [],
    encoded: [{ id: 0, received: n.words, shipped: n.words }],
    entities: { totals: 3 },
    errors: {},
    idle: true,
    dataChannel: {
      sent: [],
      received: n.in ?? 0,
      out: [{ peer: 'w2', messages: n.out ?? 0, bytes: (n.out ?? 0) * 8 }],
      in: [
        { peer: 'w2', messages: n.in ?? 0, bytes: (n.in ?? 0) * 8 },
        { peer: '(others)', messages: 99, bytes: 99 },
      ],
    },
  };
  return {
    stats,
    utilization: 0.25 + thread / 10,
    recorder: {
      steps: STEPS.steps.map((s) => ({
        // computation and state steps count in the recorder
        messages: s.kind === 'computation' ? n.lines : s.kind === 'state' ? n.words : 0,
        latency,
      })),
      pipelines: [latency],
      ingressEgress: latency,
    },
  };
}

function facts(takes: ThreadMetricsTake[], over: Partial<PeriodFacts> = {}): PeriodFacts {
  return {
    app: 'Counting',
    worker: 'w1',
    clusterId: 'c1',
    seq: 0,
    atMs: 10_000,
    periodMs: 2_000,
    steps: STEPS,
    plan: P,
    placement: placePlan(P, 2),
    routingVersion: 3,
    members: ['w1', 'w2'],
    owners: [[0, 1, 0, 1]],
    takes,
    events: { checkpoints: [], checkpointsDropped: 0, events: [], eventsDropped: 0 },
    ...over,
  };
}

describe('buildReport', () => {
  it('reports the growth of every counter since the report before, valid for the format', () => {
    const first = buildReport(
      NO_TOTALS,
      facts([
        take(0, { lines: 10, words: 50, gcMs: 4, out: 5, in: 2 }),
        take(1, { lines: 5, words: 20, out: 1 }),
      ]),
    );
    expect(() => validateMetricsMessage(first.report)).not.toThrow();
    expect(first.report.steps.map((s) => [s.step, s.kind, s.messages])).toEqual([
      ['lines', 'source', 15],
      ['split', 'computation', 15],
      ['count', 'state', 70],
      ['tcp sink', 'sink', 70],
    ]);
    expect(first.report.pipelines[0]!.messages).toBe(70);
    expect(first.report.ingressEgress.messages).toBe(15 + 2);
    expect(first.report.sources).toEqual([
      { name: 'lines', received: 15, bytes: 150, muted: true },
    ]);
    // The listener's count of senders past its limit is not a worker: left out.
    expect(first.report.channels).toEqual([
      { peer: 'w2', messagesOut: 6, messagesIn: 2, bytesOut: 48, bytesIn: 16 },
    ]);

    const second = buildReport(
      first.totals,
      facts([
        take(0, { lines: 13, words: 60, gcMs: 6, out: 9, in: 2 }),
        take(1, { lines: 5, words: 25, out: 1 }),
      ]),
    );
    expect(() => validateMetricsMessage(second.report)).not.toThrow();
    expect(second.report.steps.map((s) => s.messages)).toEqual([3, 3, 15, 15]);
    expect(second.report.pipelines[0]!.messages).toBe(15);
    expect(second.report.ingressEgress.messages).toBe(3);
    expect(second.report.sources[0]).toMatchObject({ received: 3, bytes: 30 });
    expect(second.report.channels[0]).toEqual({
      peer: 'w2',
      messagesOut: 4,
      messagesIn: 0,
      bytesOut: 32,
      bytesIn: 0,
    });
    expect(second.report.threads.map((t) => t.gcMs)).toEqual([2, 0]);
  });

  it('counts from 0 a counter that went down (an engine replaced by a rollback)', () => {
    const first = buildReport(NO_TOTALS, facts([take(0, { lines: 100, words: 500 })]));
    const after = buildReport(first.totals, facts([take(0, { lines: 4, words: 9 })]));
    expect(after.report.steps.map((s) => s.messages)).toEqual([4, 4, 9, 9]);
    expect(grown(4, 100)).toBe(4);
    expect(grown(104, 100)).toBe(4);
    expect(grown(7, undefined)).toBe(7);
  });

  it('merges the histograms of every thread', () => {
    const a = histOf([[1_000, 3]]);
    const b = histOf([[5_000_000, 1]]);
    const r = buildReport(
      NO_TOTALS,
      facts([take(0, { lines: 1, words: 1 }, a), take(1, { lines: 1, words: 1 }, b)]),
    ).report;
    expect(r.pipelines[0]!.latency).toMatchObject({ count: 4, min: 1_000, max: 5_000_000 });
    expect(r.steps[2]!.latency.count).toBe(4);
    expect(
      r.threads.map((t) => [t.thread, t.utilization, t.queued, t.deepestActor, t.entities]),
    ).toEqual([
      [0, 0.25, 7, 'totals/kg1', 3],
      [1, 0.35, 7, 'totals/kg1', 3],
    ]);
    const s = statusMetrics(r);
    expect(s.pipelines[0]).toMatchObject({ name: P.stages[0]!.pipeline, outputs: 2 });
    expect(s.pipelines[0]!.latency.maxMs).toBe(5);
    expect(s.utilization).toEqual([0.25, 0.35]);
  });

  it('lists the thread of each key group this worker owns, and owns every group when alone', () => {
    const placement = { keyGroupOwner: [[1, -1, 0, -1]] };
    const r = buildReport(
      NO_TOTALS,
      facts([take(0, { lines: 0, words: 0 })], { placement }),
    ).report;
    expect(r.routing).toEqual({
      version: 3,
      members: ['w1', 'w2'],
      partitions: [{ name: 'totals', owners: [0, 1, 0, 1], threads: [1, 0], moving: [] }],
    });
    const alone = buildReport(
      NO_TOTALS,
      facts([take(0, { lines: 0, words: 0 })], {
        members: ['w1'],
        owners: undefined,
        placement: { keyGroupOwner: [[0, 1, 0, 1]] },
      }),
    ).report;
    expect(alone.routing.partitions[0]).toEqual({
      name: 'totals',
      owners: [0, 0, 0, 0],
      threads: [0, 1, 0, 1],
      moving: [],
    });
    expect(() => validateMetricsMessage(alone)).not.toThrow();
  });

  it('passes the drained checkpoints and events on', () => {
    const events = {
      checkpoints: [
        { id: 4, startedAt: 5, durationMs: 1.5, bytes: 10, outcome: 'committed' as const },
      ],
      checkpointsDropped: 2,
      events: [{ at: 7, kind: 'join' as const, text: "worker 'w3' joined", detail: { id: 2 } }],
      eventsDropped: 1,
    };
    const r = buildReport(NO_TOTALS, facts([take(0, { lines: 0, words: 0 })], { events })).report;
    expect(() => validateMetricsMessage(r)).not.toThrow();
    expect([r.checkpoints, r.checkpointsDropped, r.events, r.eventsDropped]).toEqual([
      events.checkpoints,
      2,
      events.events,
      1,
    ]);
  });
});

describe('buildHello', () => {
  it('declares the plan: pipelines with their steps, threads, partitions', () => {
    const hello = buildHello({
      app: 'Counting',
      worker: 'w1',
      clusterId: '',
      pid: 42,
      startedAt: 1.7,
      rooVersion: '0.1.0',
      steps: STEPS,
      threads: 2,
      plan: P,
    });
    expect(validateMetricsMessage(hello)).toEqual(hello);
    expect(hello.pipelines).toEqual([
      {
        name: P.stages[0]!.pipeline,
        steps: [
          { name: 'lines', kind: 'source' },
          { name: 'split', kind: 'computation' },
          { name: 'count', kind: 'state' },
          { name: 'tcp sink', kind: 'sink' },
        ],
      },
    ]);
    expect(hello.partitions).toEqual([{ name: 'totals', keyGroups: 4 }]);
    expect(hello.startedAt).toBe(2);
  });
});
