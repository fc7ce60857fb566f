/**
 * The metrics part of `roo status`: the last reporting period of the
 * worker's metrics (runtime/metrics/), reduced to what a person reads at a
 * glance. The record's shape only; the worker's collector fills it.
 */

/** Latency of one period: percentiles of a histogram, ms. */
export interface LatencySummary {
  /** Values in the histogram (markers or samples, not messages). */
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** The last metrics period (docs/metrics.md), as `roo status` shows it. */
export interface StatusMetrics {
  /** When the period ended, ISO 8601, and its length. */
  readonly at: string;
  readonly periodMs: number;
  /** Messages into the worker in the period (sources and data channels). */
  readonly messages: number;
  /** Start to end (source ingest to sink write) per pipeline, with its sink outputs in the period. */
  readonly pipelines: readonly {
    readonly name: string;
    readonly outputs: number;
    readonly latency: LatencySummary;
  }[];
  /** Ingress to egress of this worker. */
  readonly ingressEgress: LatencySummary;
  /** Each thread's busy share of the period, 0..1. */
  readonly utilization: readonly number[];
  /** With `--metrics`: where reports go and what became of them so far; null without. */
  readonly reporter: {
    readonly address: string;
    /** The connection's phase: idle, connecting, connected, backoff, closed. */
    readonly phase: string;
    /** Reports written, dropped (the receiver did not read: send buffer full), skipped (no connection). */
    readonly sent: number;
    readonly dropped: number;
    readonly skipped: number;
  } | null;
}
