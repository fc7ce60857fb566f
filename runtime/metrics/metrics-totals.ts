/**
 * One worker's running totals, as the metrics receiver has heard them since
 * it first heard the worker: a report's counts are per period, these are
 * their sums (Prometheus counters, and the UI's "total" figures). Each map
 * is bounded by the format's limit for its kind (protocols/metrics-limits.ts):
 * a name beyond it is not tracked and counted in `untracked` instead.
 */
import {
  EMPTY_HIST,
  METRICS_LIMITS,
  type Hist,
  type MetricsEventKind,
  type MetricsReport,
  type MetricsStepKind,
} from '../../protocols/index.js';
import { stepKey } from './metrics-session.js';

/** Messages through one place and the time they spent there. */
export interface Flow {
  messages: number;
  /** Sum of the latencies recorded, ns. */
  timeNs: number;
  /** Latencies recorded. */
  recorded: number;
  /** The histogram of the latest report that recorded any latency (a quiet period keeps the one before). */
  last: Hist;
}

/** A step's flow and what it is. */
export interface StepFlow extends Flow {
  readonly pipeline: string;
  readonly step: string;
  readonly kind: MetricsStepKind;
}

/** A source's totals and its latest state. */
export interface SourceTotals {
  received: number;
  bytes: number;
  muted: boolean;
}

/** The data channel to and from one peer. */
export interface ChannelTotals {
  messagesOut: number;
  messagesIn: number;
  bytesOut: number;
  bytesIn: number;
}

function flow(): Flow {
  return { messages: 0, timeNs: 0, recorded: 0, last: EMPTY_HIST };
}

function addFlow(f: Flow, messages: number, latency: Hist): void {
  f.messages += messages;
  f.timeNs += latency.sum;
  f.recorded += latency.count;
  if (latency.count > 0) f.last = latency;
}

/** The value of `key` in `map`, created if there is room for it; undefined at the bound. */
function entry<K, V>(map: Map<K, V>, key: K, limit: number, create: () => V): V | undefined {
  const found = map.get(key);
  if (found !== undefined) return found;
  if (map.size >= limit) return undefined;
  const made = create();
  map.set(key, made);
  return made;
}

/** A worker's totals. */
export class WorkerTotals {
  readonly steps = new Map<string, StepFlow>();
  readonly pipelines = new Map<string, Flow>();
  readonly ingressEgress: Flow = flow();
  readonly sources = new Map<string, SourceTotals>();
  readonly channels = new Map<string, ChannelTotals>();
  /** GC time per thread, ms. */
  readonly gcMs = new Map<number, number>();
  readonly checkpoints = { committed: 0, aborted: 0 };
  readonly events = new Map<MetricsEventKind, number>();
  /** Checkpoints and events the worker could not list (over the format's limits). */
  checkpointsDropped = 0;
  eventsDropped = 0;
  /** Reports added. */
  reports = 0;
  /** Names not tracked because their map was full. */
  untracked = 0;

  /** Adds one report's counts. */
  add(report: MetricsReport): void {
    this.reports++;
    for (const s of report.steps) {
      const f = entry(this.steps, stepKey(s.pipeline, s.step), METRICS_LIMITS.steps, () => ({
        ...flow(),
        pipeline: s.pipeline,
        step: s.step,
        kind: s.kind,
      }));
      if (f === undefined) this.untracked++;
      else addFlow(f, s.messages, s.latency);
    }
    for (const p of report.pipelines) {
      const f = entry(this.pipelines, p.pipeline, METRICS_LIMITS.pipelines, flow);
      if (f === undefined) this.untracked++;
      else addFlow(f, p.messages, p.latency);
    }
    addFlow(this.ingressEgress, report.ingressEgress.messages, report.ingressEgress.latency);
    for (const s of report.sources) {
      const t = entry(this.sources, s.name, METRICS_LIMITS.sources, () => ({
        received: 0,
        bytes: 0,
        muted: false,
      }));
      if (t === undefined) {
        this.untracked++;
        continue;
      }
      t.received += s.received;
      t.bytes += s.bytes;
      t.muted = s.muted;
    }
    for (const c of report.channels) {
      const t = entry(this.channels, c.peer, METRICS_LIMITS.workers, () => ({
        messagesOut: 0,
        messagesIn: 0,
        bytesOut: 0,
        bytesIn: 0,
      }));
      if (t === undefined) {
        this.untracked++;
        continue;
      }
      t.messagesOut += c.messagesOut;
      t.messagesIn += c.messagesIn;
      t.bytesOut += c.bytesOut;
      t.bytesIn += c.bytesIn;
    }
    for (const t of report.threads) {
      if (entry(this.gcMs, t.thread, METRICS_LIMITS.threads, () => 0) === undefined) {
        this.untracked++;
      } else {
        this.gcMs.set(t.thread, (this.gcMs.get(t.thread) ?? 0) + t.gcMs);
      }
    }
    for (const c of report.checkpoints) this.checkpoints[c.outcome]++;
    for (const e of report.events) this.events.set(e.kind, (this.events.get(e.kind) ?? 0) + 1);
    this.checkpointsDropped += report.checkpointsDropped;
    this.eventsDropped += report.eventsDropped;
  }
}
