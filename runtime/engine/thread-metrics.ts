/**
 * A scheduler thread's metrics recorder: one latency meter per step of the
 * plan (metric-steps.ts), one per pipeline for start-to-end latency, and one
 * for the worker's ingress to egress, the last two fed by latency markers
 * (runtime/connectors/latency-marker.ts). Thread-local, so recording takes
 * no lock and no atomic; the main thread asks for a take once per reporting
 * period (`ThreadControl.metrics`) and merges the threads' takes.
 *
 * Absent (undefined) when metrics are off (`ROO_METRICS=off`): the actors
 * then run the very code they ran before metrics existed.
 */
import type { Hist } from '../../protocols/histogram.js';
import { markerClock } from '../connectors/latency-marker.js';
import type { MetricSteps } from './metric-steps.js';
import { clockCostNs, LatencyMeter } from './step-meter.js';

/** One step's part of a take. */
export interface StepTake {
  /** Messages it handled so far on this thread (cumulative; computation and state steps). */
  readonly messages: number;
  /** Time in the step, ns, of the messages sampled since the last take. */
  readonly latency: Hist;
}

/** What a thread's recorder hands the main thread once per period. */
export interface RecorderTake {
  /** By flat step index (metric-steps.ts). */
  readonly steps: readonly StepTake[];
  /** By pipeline index: start-to-end latency of the markers that ended on this thread since the last take, ns. */
  readonly pipelines: readonly Hist[];
  /** Ingress to egress of the markers that left the worker (or ended) on this thread since the last take, ns. */
  readonly ingressEgress: Hist;
}

/** How often a busy source emits a latency marker, ms. */
export const MARKER_PERIOD_MS = 10;

/** The recorder of one scheduler thread. */
export class ThreadRecorder {
  /** By flat step index. */
  readonly steps: readonly LatencyMeter[];
  private readonly pipelines: readonly LatencyMeter[];
  private readonly ingressEgress = new LatencyMeter();

  constructor(readonly table: MetricSteps) {
    const clock = clockCostNs();
    this.steps = table.steps.map(() => new LatencyMeter(clock));
    this.pipelines = table.pipelines.map(() => new LatencyMeter());
  }

  /** The meter of a step (by flat index); throws on an index the plan does not have. */
  step(index: number | undefined): LatencyMeter {
    const m = index === undefined ? undefined : this.steps[index];
    if (m === undefined) throw new RangeError(`no metric step #${index}`);
    return m;
  }

  /**
   * A marker reached the end of its pipeline on this worker (written by a
   * sink, or dropped by a route that goes nowhere): its age is the
   * pipeline's start-to-end latency, and it leaves the worker.
   */
  markerEnded(pipeline: number, origin: number, ingress: number): void {
    const now = markerClock();
    this.pipelines[pipeline]?.record((now - origin) * 1e6);
    this.ingressEgress.record((now - ingress) * 1e6);
  }

  /** A marker is handed to a data channel to another worker: it leaves this one. */
  markerLeft(ingress: number): void {
    this.ingressEgress.record((markerClock() - ingress) * 1e6);
  }

  /** The histograms since the last take (then reset) and the steps' message counts. */
  take(): RecorderTake {
    return {
      steps: this.steps.map((m) => ({ messages: m.messages, latency: m.take() })),
      pipelines: this.pipelines.map((m) => m.take()),
      ingressEgress: this.ingressEgress.take(),
    };
  }
}
