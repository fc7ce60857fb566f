/**
 * What the metrics UI's page receives (JSON over its WebSocket, and from
 * `/api/state`): views of the store, one per application. A `snapshot`
 * carries whole series (5 minutes); an `update` carries only their recent
 * points (the slots still open and the one just closed), which the page
 * merges by time. Everything else (workers, the cluster map, threads,
 * sources, the last checkpoints and events) is sent whole each time, each
 * list bounded, so the page replaces rather than accumulates. Pure.
 */
import { percentile, type Hist } from '../../protocols/index.js';
import { clusterMap, type ClusterMapView } from './cluster-map.js';
import { OPEN_SLOTS, type Series, type SeriesPoint } from './metrics-series.js';
import type {
  AppState,
  CheckpointEntry,
  EventEntry,
  MetricsStore,
  WorkerStatus,
} from './metrics-store.js';

/** Checkpoints a view carries (the newest ids). */
export const VIEW_CHECKPOINTS = 50;
/** Events a view carries (the newest). */
export const VIEW_EVENTS = 100;

/** Latency percentiles of one histogram, ns. */
export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** A chartable series and its running total. */
export interface SeriesView {
  /** Messages since the receiver first heard of it. */
  readonly messages: number;
  /** Latency of the latest period. */
  readonly latest: Percentiles;
  readonly points: readonly SeriesPoint[];
}

/** One worker. */
export interface WorkerView extends SeriesView {
  readonly name: string;
  readonly status: WorkerStatus;
  readonly pid: number;
  readonly rooVersion: string;
  readonly clusterId: string;
  readonly threads: number;
  readonly startedAt: number;
  readonly lastHeard: number;
  readonly reports: number;
}

/** One scheduler thread of one worker, as of its latest report. */
export interface ThreadView {
  readonly worker: string;
  readonly thread: number;
  readonly utilization: number;
  readonly queued: number;
  readonly deepestMailbox: number;
  readonly deepestActor: string;
  readonly gcMs: number;
  readonly entities: number;
}

/** One source of one worker: totals, and muted as of its latest report. */
export interface SourceView {
  readonly worker: string;
  readonly name: string;
  readonly received: number;
  readonly bytes: number;
  readonly muted: boolean;
}

/** One application. */
export interface AppView extends SeriesView {
  readonly name: string;
  readonly workers: readonly WorkerView[];
  readonly pipelines: readonly (SeriesView & { readonly name: string })[];
  readonly steps: readonly (SeriesView & {
    readonly pipeline: string;
    readonly step: string;
    readonly kind: string;
  })[];
  readonly cluster: ClusterMapView | null;
  readonly threads: readonly ThreadView[];
  readonly sources: readonly SourceView[];
  readonly checkpoints: readonly CheckpointEntry[];
  readonly events: readonly EventEntry[];
  /** Steps or pipelines beyond the store's bounds, not charted. */
  readonly untracked: number;
}

/** A message to the page. */
export interface UiMessage {
  readonly type: 'snapshot' | 'update';
  /** The receiver's clock, ms since the epoch. */
  readonly now: number;
  readonly pointMs: number;
  readonly windowMs: number;
  readonly apps: readonly AppView[];
}

function percentiles(h: Hist): Percentiles {
  return {
    p50: percentile(h, 50),
    p95: percentile(h, 95),
    p99: percentile(h, 99),
    p999: percentile(h, 99.9),
    max: h.max,
  };
}

/** No latency recorded. */
const NONE: Percentiles = { p50: 0, p95: 0, p99: 0, p999: 0, max: 0 };

/** The store as the page sees it at `now`; `full` for a snapshot, else an update. */
export function uiMessage(store: MetricsStore, now: number, full: boolean): UiMessage {
  const since = full
    ? now - store.windowMs
    : (Math.floor(now / store.pointMs) - OPEN_SLOTS) * store.pointMs;
  return {
    type: full ? 'snapshot' : 'update',
    now,
    pointMs: store.pointMs,
    windowMs: store.windowMs,
    apps: [...store.apps.values()].map((a) => appView(store, a, now, since)),
  };
}

function appView(store: MetricsStore, app: AppState, now: number, since: number): AppView {
  const workers = [...app.workers.values()].sort((a, b) => a.name.localeCompare(b.name));
  // A worker's latest latency is its latest report's; a merged series' is its newest point's.
  const view = (series: Series, messages: number, latest?: Hist): SeriesView => ({
    messages,
    latest: latest === undefined ? latestOf(series) : percentiles(latest),
    points: series.toPoints(since),
  });
  const sum = (f: (t: (typeof workers)[number]['totals']) => number): number =>
    workers.reduce((n, w) => n + f(w.totals), 0);
  return {
    name: app.name,
    ...view(
      app.series,
      sum((t) => [...t.pipelines.values()].reduce((n, f) => n + f.messages, 0)),
    ),
    workers: workers.map((w) => ({
      name: w.name,
      status: store.status(w, now),
      pid: w.hello.pid,
      rooVersion: w.hello.rooVersion,
      clusterId: w.hello.clusterId,
      threads: w.hello.threads,
      startedAt: w.hello.startedAt,
      lastHeard: w.lastHeard,
      reports: w.totals.reports,
      ...view(w.series, w.totals.ingressEgress.messages, w.totals.ingressEgress.last),
    })),
    pipelines: [...app.pipelines.entries()].map(([name, series]) => ({
      name,
      ...view(
        series,
        sum((t) => t.pipelines.get(name)?.messages ?? 0),
      ),
    })),
    steps: [...app.steps.entries()].map(([key, s]) => ({
      pipeline: s.pipeline,
      step: s.step,
      kind: s.kind,
      ...view(
        s.series,
        sum((t) => t.steps.get(key)?.messages ?? 0),
      ),
    })),
    cluster:
      clusterMap(
        workers.map((w) => ({
          name: w.name,
          threads: w.hello.threads,
          live: store.status(w, now) === 'live',
          report: w.report,
        })),
      ) ?? null,
    threads: workers.flatMap((w) =>
      (w.report?.threads ?? []).map((t) => ({ worker: w.name, ...t })),
    ),
    sources: workers.flatMap((w) =>
      [...w.totals.sources.entries()].map(([name, s]) => ({ worker: w.name, name, ...s })),
    ),
    checkpoints: [...app.checkpoints.values()]
      .sort((a, b) => a.id - b.id)
      .slice(-VIEW_CHECKPOINTS)
      .map((c) => ({ ...c })),
    events: app.events.toArray().slice(-VIEW_EVENTS),
    untracked: app.untracked,
  };
}

/** The percentiles of a series' newest point with latencies (merged over workers). */
function latestOf(series: Series): Percentiles {
  const points = series.toPoints();
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!;
    if (p.count > 0) return { p50: p.p50, p95: p.p95, p99: p.p99, p999: p.p999, max: p.max };
  }
  return NONE;
}
