/**
 * What the metrics receiver knows, with bounded memory: per application its
 * workers (their hello, latest report and running totals), and time series
 * of 2 s points over the last 5 minutes (metrics-series.ts) for the
 * application, each pipeline and each step (merged over workers) and each
 * worker; the last checkpoints and events. Workers and applications that
 * go silent age out, so memory does not grow over a day.
 *
 * Bounds, and the behaviour at each: at most `maxApps` applications and
 * `maxWorkers` workers per application (a hello beyond is refused with
 * ROO_ERR_QUEUE_FULL, the connection closed: room comes back as others age
 * out); at most `maxSteps` step series and METRICS_LIMITS.pipelines
 * pipeline series per application (one beyond is not charted, and counted
 * in `untracked`); the last `maxCheckpoints`
 * checkpoints (the lowest id is dropped) and `maxEvents` events (the oldest
 * is dropped) per application.
 */
import {
  ErrorCode,
  METRICS_LIMITS,
  RooError,
  type MetricsEventKind,
  type MetricsHello,
  type MetricsReport,
  type MetricsStepKind,
} from '../../protocols/index.js';
import { Ring, Series } from './metrics-series.js';
import { stepKey } from './metrics-session.js';
import { WorkerTotals } from './metrics-totals.js';

/** The store's bounds and clocks; every field has a default. */
export interface MetricsStoreOptions {
  /** A point's length, ms (default 2000, the workers' default period). */
  readonly pointMs?: number;
  /** How far back series go, ms (default 5 minutes). */
  readonly windowMs?: number;
  /** A worker with no report for this long is silent (default 10 s: five periods). */
  readonly silentAfterMs?: number;
  /** A worker silent this long is forgotten, and an application with no worker left (default 5 minutes). */
  readonly ageOutMs?: number;
  readonly maxApps?: number;
  readonly maxWorkers?: number;
  readonly maxSteps?: number;
  readonly maxCheckpoints?: number;
  readonly maxEvents?: number;
}

/** Whether a worker is heard from: `live` (reporting), `silent` (connected, no recent report), `disconnected`. */
export type WorkerStatus = 'live' | 'silent' | 'disconnected';

/** One worker as the store holds it. */
export interface WorkerState {
  readonly name: string;
  hello: MetricsHello;
  /** The id of the connection whose reports count (the newest hello's). */
  connection: number;
  connected: boolean;
  readonly firstHeard: number;
  /** When its last message arrived (receiver clock, ms). */
  lastHeard: number;
  report: MetricsReport | undefined;
  readonly totals: WorkerTotals;
  /** Ingress to egress of this worker. */
  readonly series: Series;
}

/** A step's series, merged over workers. */
export interface StepSeries {
  readonly pipeline: string;
  readonly step: string;
  readonly kind: MetricsStepKind;
  readonly series: Series;
}

/** A checkpoint, merged over the workers that reported it. */
export interface CheckpointEntry {
  readonly id: number;
  startedAt: number;
  durationMs: number;
  bytes: number;
  outcome: 'committed' | 'aborted';
  workers: number;
}

/** An event, with the worker that reported it. */
export interface EventEntry {
  readonly at: number;
  readonly worker: string;
  readonly kind: MetricsEventKind;
  readonly text: string;
  readonly detail: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** One application. */
export interface AppState {
  readonly name: string;
  readonly workers: Map<string, WorkerState>;
  /** Every pipeline's completions and start-to-end latency together. */
  readonly series: Series;
  readonly pipelines: Map<string, Series>;
  readonly steps: Map<string, StepSeries>;
  readonly checkpoints: Map<number, CheckpointEntry>;
  readonly events: Ring<EventEntry>;
  /** Steps and pipelines not charted: over their bound. */
  untracked: number;
}

/** What the store decided about a hello. */
export type HelloOutcome =
  | { readonly ok: true; readonly superseded: number | undefined }
  | { readonly ok: false; readonly error: RooError };

/** The store. Every method takes the time (`now`, ms) so that tests own the clock. */
export class MetricsStore {
  readonly pointMs: number;
  readonly windowMs: number;
  readonly silentAfterMs: number;
  readonly ageOutMs: number;
  private readonly maxApps: number;
  private readonly maxWorkers: number;
  private readonly maxSteps: number;
  private readonly maxCheckpoints: number;
  private readonly maxEvents: number;
  private readonly appStates = new Map<string, AppState>();
  private changes = 0;

  constructor(options: MetricsStoreOptions = {}) {
    this.pointMs = options.pointMs ?? 2000;
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.silentAfterMs = options.silentAfterMs ?? 10_000;
    this.ageOutMs = options.ageOutMs ?? 5 * 60_000;
    this.maxApps = options.maxApps ?? 16;
    this.maxWorkers = options.maxWorkers ?? 256;
    this.maxSteps = options.maxSteps ?? 512;
    this.maxCheckpoints = options.maxCheckpoints ?? 100;
    this.maxEvents = options.maxEvents ?? 200;
  }

  /** Bumped by every change: a UI pushes when it moved. */
  get version(): number {
    return this.changes;
  }

  /** The applications, by name. */
  get apps(): ReadonlyMap<string, AppState> {
    return this.appStates;
  }

  /** Points per series. */
  get points(): number {
    return Math.ceil(this.windowMs / this.pointMs);
  }

  /** A worker's status at `now`. */
  status(w: WorkerState, now: number): WorkerStatus {
    if (!w.connected) return 'disconnected';
    return now - w.lastHeard > this.silentAfterMs ? 'silent' : 'live';
  }

  /**
   * A worker's hello on connection `connection`. A worker already known by
   * that application and name is taken over by the new connection (a
   * restarted worker): the old one's id comes back as `superseded`, for the
   * caller to close. Refused with ROO_ERR_QUEUE_FULL at the bounds.
   */
  hello(hello: MetricsHello, connection: number, now: number): HelloOutcome {
    let app = this.appStates.get(hello.app);
    if (app === undefined) {
      if (this.appStates.size >= this.maxApps) {
        return full(`the receiver tracks ${this.maxApps} applications already`);
      }
      app = this.newApp(hello.app);
      this.appStates.set(hello.app, app);
    }
    const known = app.workers.get(hello.worker);
    let superseded: number | undefined;
    if (known !== undefined) {
      if (known.connected && known.connection !== connection) superseded = known.connection;
      known.hello = hello;
      known.connection = connection;
      known.connected = true;
      known.lastHeard = now;
    } else {
      if (app.workers.size >= this.maxWorkers) {
        return full(`application ${hello.app} has ${this.maxWorkers} workers reporting already`);
      }
      app.workers.set(hello.worker, {
        name: hello.worker,
        hello,
        connection,
        connected: true,
        firstHeard: now,
        lastHeard: now,
        report: undefined,
        totals: new WorkerTotals(),
        series: this.series(),
      });
    }
    this.changes++;
    return { ok: true, superseded };
  }

  /**
   * A report on connection `connection`, whose session accepted it. Returns
   * false (and changes nothing) if the connection no longer speaks for the
   * worker: a newer connection took it over.
   */
  report(report: MetricsReport, connection: number, now: number): boolean {
    const app = this.appStates.get(report.app);
    const w = app?.workers.get(report.worker);
    if (app === undefined || w === undefined || w.connection !== connection) return false;
    w.lastHeard = now;
    w.report = report;
    w.totals.add(report);
    w.series.add(report.at, report.ingressEgress.messages, report.ingressEgress.latency);
    for (const p of report.pipelines) {
      let s = app.pipelines.get(p.pipeline);
      if (s === undefined) {
        if (app.pipelines.size >= METRICS_LIMITS.pipelines) {
          app.untracked++;
          continue;
        }
        s = this.series();
        app.pipelines.set(p.pipeline, s);
      }
      s.add(report.at, p.messages, p.latency);
      app.series.add(report.at, p.messages, p.latency);
    }
    for (const s of report.steps) {
      const key = stepKey(s.pipeline, s.step);
      let entry = app.steps.get(key);
      if (entry === undefined) {
        if (app.steps.size >= this.maxSteps) {
          app.untracked++;
          continue;
        }
        entry = { pipeline: s.pipeline, step: s.step, kind: s.kind, series: this.series() };
        app.steps.set(key, entry);
      }
      entry.series.add(report.at, s.messages, s.latency);
    }
    for (const c of report.checkpoints) this.checkpoint(app, c);
    for (const e of report.events) {
      app.events.push({
        at: e.at,
        worker: report.worker,
        kind: e.kind,
        text: e.text,
        detail: e.detail,
      });
    }
    this.changes++;
    return true;
  }

  /** Connection `connection` of a worker ended. */
  disconnected(app: string, worker: string, connection: number, now: number): void {
    const w = this.appStates.get(app)?.workers.get(worker);
    if (w === undefined || w.connection !== connection || !w.connected) return;
    w.connected = false;
    w.lastHeard = now;
    this.changes++;
  }

  /**
   * Time passes: closes the series' old slots, forgets workers silent for
   * `ageOutMs` and applications left without workers. Call every second or so.
   */
  sweep(now: number): void {
    const slot = Math.floor(now / this.pointMs);
    for (const [name, app] of this.appStates) {
      for (const [wname, w] of app.workers) {
        if (now - w.lastHeard > this.ageOutMs) {
          app.workers.delete(wname);
          this.changes++;
        } else {
          w.series.advance(slot);
        }
      }
      if (app.workers.size === 0) {
        this.appStates.delete(name);
        this.changes++;
        continue;
      }
      app.series.advance(slot);
      for (const s of app.pipelines.values()) s.advance(slot);
      for (const s of app.steps.values()) s.series.advance(slot);
    }
  }

  private checkpoint(app: AppState, c: MetricsReport['checkpoints'][number]): void {
    const known = app.checkpoints.get(c.id);
    if (known !== undefined) {
      known.startedAt = Math.min(known.startedAt, c.startedAt);
      known.durationMs = Math.max(known.durationMs, c.durationMs);
      known.bytes += c.bytes;
      if (c.outcome === 'aborted') known.outcome = 'aborted';
      known.workers++;
      return;
    }
    app.checkpoints.set(c.id, { ...c, workers: 1 });
    if (app.checkpoints.size > this.maxCheckpoints) {
      app.checkpoints.delete(Math.min(...app.checkpoints.keys()));
    }
  }

  private series(): Series {
    return new Series(this.pointMs, this.points);
  }

  private newApp(name: string): AppState {
    return {
      name,
      workers: new Map(),
      series: this.series(),
      pipelines: new Map(),
      steps: new Map(),
      checkpoints: new Map(),
      events: new Ring(this.maxEvents),
      untracked: 0,
    };
  }
}

function full(message: string): HelloOutcome {
  return { ok: false, error: new RooError(ErrorCode.QueueFull, message) };
}
