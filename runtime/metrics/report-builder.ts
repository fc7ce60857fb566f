/**
 * A worker's metrics messages (protocols/metrics-report.ts) from what its
 * threads handed over (`ThreadControl.metrics`): the hello once per
 * connection, a report per period. Pure: facts in, messages out. The
 * threads' counters are cumulative, so each report carries the difference
 * from the `Totals` of the report before; a counter smaller than before
 * (an engine replaced by a rollback started from 0) counts from 0. The
 * histograms are per period already (each thread resets its own).
 */
import {
  EMPTY_HIST,
  mergeAllHists,
  METRICS_LIMITS,
  METRICS_PROTOCOL_VERSION,
  type ChannelMetrics,
  type MetricsHello,
  type MetricsReport,
  type RoutingPartition,
} from '../../protocols/index.js';
import type { ThreadMetricsTake } from '../engine/thread-control.js';
import type { MetricSteps } from '../engine/metric-steps.js';
import type { DrainedEvents } from '../engine/worker-events.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';

/** A data channel peer name the listener uses for senders past its limit: not a worker. */
const OTHERS = '(others)';

/** The cumulative counters the next report's differences start from. */
export interface Totals {
  /** By flat step index. */
  readonly steps: readonly number[];
  /** By source name. */
  readonly sources: ReadonlyMap<string, { readonly received: number; readonly bytes: number }>;
  /** By peer: messages and bytes out and in. */
  readonly channels: ReadonlyMap<string, Omit<ChannelMetrics, 'peer'>>;
  /** GC ms by thread. */
  readonly gcMs: readonly number[];
  /** Data-channel messages received, by thread. */
  readonly channelIn: readonly number[];
}

/** Before the first report: nothing counted yet. */
export const NO_TOTALS: Totals = {
  steps: [],
  sources: new Map(),
  channels: new Map(),
  gcMs: [],
  channelIn: [],
};

/** Who reports, and the plan's shape. */
export interface WorkerIdentityFacts {
  readonly app: string;
  readonly worker: string;
  readonly clusterId: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly rooVersion: string;
  readonly steps: MetricSteps;
  readonly threads: number;
  readonly plan: Pick<Plan, 'partitions'>;
}

/** The hello of a connection. */
export function buildHello(f: WorkerIdentityFacts): MetricsHello {
  return {
    type: 'hello',
    version: METRICS_PROTOCOL_VERSION,
    app: clip(f.app),
    worker: f.worker,
    clusterId: clip(f.clusterId),
    pid: f.pid,
    startedAt: Math.round(f.startedAt),
    rooVersion: f.rooVersion.slice(0, METRICS_LIMITS.version),
    pipelines: f.steps.pipelines.map((name, p) => ({
      name: clip(name),
      steps: f.steps.steps
        .filter((s) => s.pipeline === p)
        .map((s) => ({ name: clip(s.name), kind: s.kind })),
    })),
    threads: f.threads,
    partitions: f.plan.partitions.map((p) => ({ name: clip(p.name), keyGroups: p.grouper.groups })),
  };
}

/** What one report is made of. */
export interface PeriodFacts {
  readonly app: string;
  readonly worker: string;
  readonly clusterId: string;
  readonly seq: number;
  /** When the period ended, and its length, ms. */
  readonly atMs: number;
  readonly periodMs: number;
  readonly steps: MetricSteps;
  readonly plan: Pick<Plan, 'partitions'>;
  readonly placement: Pick<Placement, 'keyGroupOwner'>;
  readonly routingVersion: number;
  /** The cluster's members by index (a worker alone: itself). */
  readonly members: readonly string[];
  /** owners[partition][keyGroup] = member index; undefined for a worker alone (it owns all). */
  readonly owners: readonly (readonly number[])[] | undefined;
  readonly takes: readonly ThreadMetricsTake[];
  readonly events: DrainedEvents;
}

/** A counter's growth since `before` (from 0 if it went down: it started over). */
export function grown(now: number, before: number | undefined): number {
  return before === undefined || now < before ? now : now - before;
}

/** Every step's cumulative message count over the threads: computation and state steps from the recorders, sources and sinks from their counters. */
export function stepTotals(steps: MetricSteps, takes: readonly ThreadMetricsTake[]): number[] {
  const totals = steps.steps.map(() => 0);
  for (const t of takes) {
    t.recorder?.steps.forEach((s, i) => {
      if (totals[i] !== undefined) totals[i] += s.messages;
    });
    for (const s of t.stats.sources) {
      const i = steps.stageSteps[s.stage]?.[0];
      if (i !== undefined) totals[i] = (totals[i] ?? 0) + s.received;
    }
    for (const e of t.stats.encoded) {
      const i = steps.sinkStep[e.id];
      if (i !== undefined) totals[i] = (totals[i] ?? 0) + e.received;
    }
  }
  return totals;
}

/** One period's report, and the totals the next one starts from. */
export function buildReport(
  before: Totals,
  f: PeriodFacts,
): { readonly report: MetricsReport; readonly totals: Totals } {
  const { steps, takes } = f;
  const stepNow = stepTotals(steps, takes);
  const stepDelta = stepNow.map((n, i) => grown(n, before.steps[i]));
  const sources = new Map<string, { received: number; bytes: number; muted: boolean }>();
  const channels = new Map<string, Omit<ChannelMetrics, 'peer'>>();
  let channelIn = 0;
  const gcNow: number[] = [];
  const inNow: number[] = [];
  for (const t of takes) {
    const s = t.stats;
    for (const src of s.sources) {
      const x = sources.get(src.name) ?? { received: 0, bytes: 0, muted: false };
      sources.set(src.name, {
        received: x.received + src.received,
        bytes: x.bytes + src.bytes,
        muted: x.muted || src.muted,
      });
    }
    const add = (peer: string, out: boolean, messages: number, bytes: number) => {
      if (peer === OTHERS) return;
      const c = channels.get(peer) ?? { messagesOut: 0, messagesIn: 0, bytesOut: 0, bytesIn: 0 };
      channels.set(
        peer,
        out
          ? { ...c, messagesOut: c.messagesOut + messages, bytesOut: c.bytesOut + bytes }
          : { ...c, messagesIn: c.messagesIn + messages, bytesIn: c.bytesIn + bytes },
      );
    };
    for (const p of s.dataChannel.out) add(p.peer, true, p.messages, p.bytes);
    for (const p of s.dataChannel.in) add(p.peer, false, p.messages, p.bytes);
    gcNow[s.thread] = s.gc.minor.ms + s.gc.major.ms + s.gc.other.ms;
    inNow[s.thread] = s.dataChannel.received;
    channelIn += grown(s.dataChannel.received, before.channelIn[s.thread]);
  }
  let sourceMessages = 0;
  const sourceList = [...sources].map(([name, x]) => {
    const was = before.sources.get(name);
    const received = grown(x.received, was?.received);
    sourceMessages += received;
    return { name: clip(name), received, bytes: grown(x.bytes, was?.bytes), muted: x.muted };
  });
  const pipelineOutputs = steps.pipelines.map(() => 0);
  steps.sinkStep.forEach((i, sink) => {
    const p = steps.sinkPipeline[sink];
    if (p !== undefined) pipelineOutputs[p] = (pipelineOutputs[p] ?? 0) + (stepDelta[i] ?? 0);
  });
  const report: MetricsReport = {
    type: 'report',
    version: METRICS_PROTOCOL_VERSION,
    app: clip(f.app),
    worker: f.worker,
    clusterId: clip(f.clusterId),
    seq: f.seq,
    at: Math.round(f.atMs),
    periodMs: Math.max(1, Math.round(f.periodMs)),
    steps: steps.steps.map((s) => ({
      pipeline: clip(steps.pipelines[s.pipeline] ?? ''),
      step: clip(s.name),
      kind: s.kind,
      messages: stepDelta[s.index] ?? 0,
      latency: mergeAllHists(takes.map((t) => t.recorder?.steps[s.index]?.latency ?? EMPTY_HIST)),
    })),
    pipelines: steps.pipelines.map((name, p) => ({
      pipeline: clip(name),
      messages: pipelineOutputs[p] ?? 0,
      latency: mergeAllHists(takes.map((t) => t.recorder?.pipelines[p] ?? EMPTY_HIST)),
    })),
    ingressEgress: {
      messages: sourceMessages + channelIn,
      latency: mergeAllHists(takes.map((t) => t.recorder?.ingressEgress ?? EMPTY_HIST)),
    },
    threads: takes.map((t) => ({
      thread: t.stats.thread,
      utilization: Math.min(1, Math.max(0, Number.isFinite(t.utilization) ? t.utilization : 0)),
      queued: t.stats.mailboxes.queued,
      deepestMailbox: t.stats.mailboxes.deepest,
      deepestActor: clip(t.stats.mailboxes.deepestActor),
      gcMs: Math.max(0, grown(gcNow[t.stats.thread] ?? 0, before.gcMs[t.stats.thread])),
      entities: Object.values(t.stats.entities).reduce((a, b) => a + b, 0),
    })),
    sources: sourceList.slice(0, METRICS_LIMITS.sources),
    channels: [...channels]
      .map(([peer, c]) => {
        const was = before.channels.get(peer);
        return {
          peer,
          messagesOut: grown(c.messagesOut, was?.messagesOut),
          messagesIn: grown(c.messagesIn, was?.messagesIn),
          bytesOut: grown(c.bytesOut, was?.bytesOut),
          bytesIn: grown(c.bytesIn, was?.bytesIn),
        };
      })
      .slice(0, METRICS_LIMITS.workers),
    routing: {
      version: f.routingVersion,
      members: [...f.members],
      partitions: routingPartitions(f),
    },
    checkpoints: f.events.checkpoints.map((c) => ({ ...c })),
    checkpointsDropped: f.events.checkpointsDropped,
    events: f.events.events.map((e) => ({
      ...e,
      text: e.text.slice(0, METRICS_LIMITS.text),
    })),
    eventsDropped: f.events.eventsDropped,
  };
  return {
    report,
    totals: {
      steps: stepNow,
      sources: new Map([...sources].map(([n, x]) => [n, { received: x.received, bytes: x.bytes }])),
      channels,
      gcMs: gcNow,
      channelIn: inNow,
    },
  };
}

/** The routing table's partitions as this worker holds them, with the thread of each group it owns. */
function routingPartitions(f: PeriodFacts): RoutingPartition[] {
  const self = f.members.indexOf(f.worker);
  return f.plan.partitions.map((p, pi) => {
    const groups = p.grouper.groups;
    const owners =
      f.members.length === 0
        ? []
        : (f.owners?.[pi] ?? (f.owners === undefined ? new Array<number>(groups).fill(0) : []));
    const threads: number[] = [];
    owners.forEach((o, g) => {
      if (o === self) threads.push(Math.max(0, f.placement.keyGroupOwner[pi]?.[g] ?? 0));
    });
    return { name: clip(p.name), owners: [...owners], threads, moving: [] };
  });
}

/** A name within the format's limit. */
function clip(s: string): string {
  return s.length > METRICS_LIMITS.name ? s.slice(0, METRICS_LIMITS.name) : s;
}
