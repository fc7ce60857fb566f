/**
 * The metrics receiver's `/metrics` page in the Prometheus text format, by
 * prom-client: every figure of every worker heard from, named `roo_...`,
 * read from the store at each scrape (so a worker that ages out of the store
 * leaves the page with it). Counters are the receiver's running totals
 * (metrics-totals.ts: sums of the workers' per-period counts since the
 * receiver first heard each worker); latencies are gauges of the
 * percentiles of the latest period that recorded any (a quiet period keeps
 * the figures before it), in seconds, with a `quantile` label; the time spent
 * is a counter, so `rate(time) / rate(messages)` is the mean latency.
 * docs/metrics.md lists the names.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { percentile, type Hist } from '../../protocols/index.js';
import type { MetricsStore, WorkerState } from './metrics-store.js';

/** The quantiles of every latency gauge. */
export const QUANTILES = [0.5, 0.95, 0.99, 0.999] as const;

type Labels = Record<string, string | number>;
type Sample = readonly [Labels, number];

/** One family: what it is and how to read it from the store. */
interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labels: readonly string[];
  readonly samples: (w: WorkerState, base: Labels, now: number) => Iterable<Sample>;
}

const NS_PER_S = 1e9;

function* quantiles(base: Labels, h: Hist): Iterable<Sample> {
  if (h.count === 0) return;
  for (const q of QUANTILES) yield [{ ...base, quantile: q }, percentile(h, q * 100) / NS_PER_S];
}

const STEP = ['app', 'worker', 'pipeline', 'step', 'kind'];
const PIPELINE = ['app', 'worker', 'pipeline'];
const WORKER = ['app', 'worker'];
const THREAD = ['app', 'worker', 'thread'];

/** Every family on the page, each with help text that says what it counts. */
function families(store: MetricsStore): Family[] {
  const steps = (w: WorkerState, base: Labels) =>
    [...w.totals.steps.values()].map((s) => ({
      s,
      labels: { ...base, pipeline: s.pipeline, step: s.step, kind: s.kind },
    }));
  const pipelines = (w: WorkerState, base: Labels) =>
    [...w.totals.pipelines.entries()].map(([pipeline, f]) => ({
      f,
      labels: { ...base, pipeline },
    }));
  const threads = (w: WorkerState, base: Labels) =>
    (w.report?.threads ?? []).map((t) => ({ t, labels: { ...base, thread: t.thread } }));
  const gauge = (
    name: string,
    help: string,
    labels: readonly string[],
    samples: Family['samples'],
  ): Family => ({ name, help, type: 'gauge', labels, samples });
  const counter = (
    name: string,
    help: string,
    labels: readonly string[],
    samples: Family['samples'],
  ): Family => ({ name, help, type: 'counter', labels, samples });
  return [
    gauge(
      'roo_worker_up',
      '1 while the worker reports, 0 when silent or disconnected',
      WORKER,
      (w, b, now) => [[b, store.status(w, now) === 'live' ? 1 : 0]],
    ),
    gauge(
      'roo_worker_info',
      "the worker's process and version, always 1",
      [...WORKER, 'cluster', 'pid', 'roo_version', 'threads'],
      (w, b) => [
        [
          {
            ...b,
            cluster: w.hello.clusterId,
            pid: w.hello.pid,
            roo_version: w.hello.rooVersion,
            threads: w.hello.threads,
          },
          1,
        ],
      ],
    ),
    counter('roo_worker_reports_total', 'reports received from the worker', WORKER, (w, b) => [
      [b, w.totals.reports],
    ]),
    counter('roo_step_messages_total', 'messages handled by the step', STEP, (w, b) =>
      steps(w, b).map(({ s, labels }) => [labels, s.messages] as const),
    ),
    counter('roo_step_time_seconds_total', 'time messages spent in the step', STEP, (w, b) =>
      steps(w, b).map(({ s, labels }) => [labels, s.timeNs / NS_PER_S] as const),
    ),
    gauge(
      'roo_step_latency_seconds',
      "time in the step, the latest period's quantiles",
      [...STEP, 'quantile'],
      (w, b) => steps(w, b).flatMap(({ s, labels }) => [...quantiles(labels, s.last)]),
    ),
    counter(
      'roo_pipeline_messages_total',
      'messages that reached the end of the pipeline on the worker',
      PIPELINE,
      (w, b) => pipelines(w, b).map(({ f, labels }) => [labels, f.messages] as const),
    ),
    counter(
      'roo_pipeline_time_seconds_total',
      'source ingest to sink write, summed',
      PIPELINE,
      (w, b) => pipelines(w, b).map(({ f, labels }) => [labels, f.timeNs / NS_PER_S] as const),
    ),
    gauge(
      'roo_pipeline_latency_seconds',
      "source ingest to sink write, the latest period's quantiles",
      [...PIPELINE, 'quantile'],
      (w, b) => pipelines(w, b).flatMap(({ f, labels }) => [...quantiles(labels, f.last)]),
    ),
    counter(
      'roo_worker_messages_total',
      'messages that left the worker (ingress to egress)',
      WORKER,
      (w, b) => [[b, w.totals.ingressEgress.messages]],
    ),
    counter(
      'roo_worker_time_seconds_total',
      'ingress to egress time on the worker, summed',
      WORKER,
      (w, b) => [[b, w.totals.ingressEgress.timeNs / NS_PER_S]],
    ),
    gauge(
      'roo_worker_latency_seconds',
      "ingress to egress, the latest period's quantiles",
      [...WORKER, 'quantile'],
      (w, b) => quantiles(b, w.totals.ingressEgress.last),
    ),
    gauge(
      'roo_thread_utilization',
      'share of the latest period the thread ran actors (0 to 1)',
      THREAD,
      (w, b) => threads(w, b).map(({ t, labels }) => [labels, t.utilization] as const),
    ),
    gauge(
      'roo_thread_queued_messages',
      "messages waiting in the thread's mailboxes",
      THREAD,
      (w, b) => threads(w, b).map(({ t, labels }) => [labels, t.queued] as const),
    ),
    gauge('roo_thread_deepest_mailbox', "the thread's longest mailbox", THREAD, (w, b) =>
      threads(w, b).map(({ t, labels }) => [labels, t.deepestMailbox] as const),
    ),
    gauge('roo_thread_entities', 'state entities the thread holds', THREAD, (w, b) =>
      threads(w, b).map(({ t, labels }) => [labels, t.entities] as const),
    ),
    counter(
      'roo_thread_gc_seconds_total',
      'garbage collection time of the thread',
      THREAD,
      (w, b) =>
        [...w.totals.gcMs.entries()].map(([thread, ms]) => [{ ...b, thread }, ms / 1000] as const),
    ),
    counter(
      'roo_source_messages_total',
      'messages the source read',
      [...WORKER, 'source'],
      (w, b) =>
        [...w.totals.sources.entries()].map(
          ([source, s]) => [{ ...b, source }, s.received] as const,
        ),
    ),
    counter('roo_source_bytes_total', 'bytes the source read', [...WORKER, 'source'], (w, b) =>
      [...w.totals.sources.entries()].map(([source, s]) => [{ ...b, source }, s.bytes] as const),
    ),
    gauge(
      'roo_source_muted',
      '1 while backpressure mutes the source',
      [...WORKER, 'source'],
      (w, b) =>
        [...w.totals.sources.entries()].map(
          ([source, s]) => [{ ...b, source }, s.muted ? 1 : 0] as const,
        ),
    ),
    counter(
      'roo_channel_messages_total',
      'messages on the data channel with the peer',
      [...WORKER, 'peer', 'direction'],
      (w, b) =>
        [...w.totals.channels.entries()].flatMap(([peer, c]) => [
          [{ ...b, peer, direction: 'out' }, c.messagesOut] as const,
          [{ ...b, peer, direction: 'in' }, c.messagesIn] as const,
        ]),
    ),
    counter(
      'roo_channel_bytes_total',
      'bytes on the data channel with the peer',
      [...WORKER, 'peer', 'direction'],
      (w, b) =>
        [...w.totals.channels.entries()].flatMap(([peer, c]) => [
          [{ ...b, peer, direction: 'out' }, c.bytesOut] as const,
          [{ ...b, peer, direction: 'in' }, c.bytesIn] as const,
        ]),
    ),
    gauge('roo_routing_version', "the version of the worker's routing table", WORKER, (w, b) =>
      w.report === undefined ? [] : [[b, w.report.routing.version]],
    ),
    gauge(
      'roo_key_groups_owned',
      'key groups of the partition the worker owns',
      [...WORKER, 'partition'],
      (w, b) => {
        const r = w.report?.routing;
        if (r === undefined) return [];
        const self = r.members.indexOf(w.name);
        return r.partitions.map(
          (p) => [{ ...b, partition: p.name }, p.owners.filter((o) => o === self).length] as const,
        );
      },
    ),
    gauge(
      'roo_key_groups_moving',
      'key groups of the partition being moved now',
      [...WORKER, 'partition'],
      (w, b) =>
        (w.report?.routing.partitions ?? []).map(
          (p) => [{ ...b, partition: p.name }, p.moving.length] as const,
        ),
    ),
    counter(
      'roo_checkpoints_total',
      'checkpoints the worker finished, by outcome',
      [...WORKER, 'outcome'],
      (w, b) => [
        [{ ...b, outcome: 'committed' }, w.totals.checkpoints.committed],
        [{ ...b, outcome: 'aborted' }, w.totals.checkpoints.aborted],
      ],
    ),
    counter(
      'roo_events_total',
      'cluster events the worker reported, by kind',
      [...WORKER, 'kind'],
      (w, b) => [...w.totals.events.entries()].map(([kind, n]) => [{ ...b, kind }, n] as const),
    ),
    counter(
      'roo_dropped_total',
      'checkpoints and events the worker could not report (over the format limits)',
      [...WORKER, 'what'],
      (w, b) => [
        [{ ...b, what: 'checkpoints' }, w.totals.checkpointsDropped],
        [{ ...b, what: 'events' }, w.totals.eventsDropped],
      ],
    ),
  ];
}

/** Counts of the receiver itself, for `roo_metrics_receiver_*`. */
export interface ReceiverCounts {
  /** Connections open now. */
  readonly open: number;
  /** Messages refused, by error code. */
  readonly refused: ReadonlyMap<string, number>;
}

/**
 * A registry whose families read `store` (and the receiver's own counts) at
 * each scrape. `now` is the clock for worker status.
 */
export function prometheusRegistry(
  store: MetricsStore,
  receiver: () => ReceiverCounts,
  now: () => number = Date.now,
): Registry {
  const registry = new Registry();
  for (const family of families(store)) {
    const read = (metric: { reset(): void; inc(l: Labels, v: number): void }): void => {
      metric.reset();
      const t = now();
      for (const app of store.apps.values()) {
        for (const w of app.workers.values()) {
          for (const [labels, value] of family.samples(w, { app: app.name, worker: w.name }, t)) {
            metric.inc(labels, value);
          }
        }
      }
    };
    const config = {
      name: family.name,
      help: family.help,
      labelNames: family.labels,
      registers: [registry],
    };
    if (family.type === 'counter') {
      new Counter({
        ...config,
        collect: function (this: Counter) {
          read(this);
        },
      });
    } else {
      new Gauge({
        ...config,
        collect: function (this: Gauge) {
          read(this);
        },
      });
    }
  }
  new Gauge({
    name: 'roo_metrics_receiver_connections',
    help: 'worker connections open on the metrics receiver',
    registers: [registry],
    collect: function (this: Gauge) {
      this.set(receiver().open);
    },
  });
  new Counter({
    name: 'roo_metrics_receiver_refused_total',
    help: 'metrics messages the receiver refused, by error code (each closed its connection)',
    labelNames: ['code'],
    registers: [registry],
    collect: function (this: Counter) {
      this.reset();
      for (const [code, n] of receiver().refused) this.inc({ code }, n);
    },
  });
  return registry;
}
