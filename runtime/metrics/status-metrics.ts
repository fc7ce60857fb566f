/**
 * A period's report (protocols/metrics-report.ts) reduced to what
 * `roo status` shows (cluster/status-latency.ts): messages in, each
 * pipeline's start-to-end percentiles, the worker's ingress to egress, and
 * each thread's busy share. Pure.
 */
import { percentile, type Hist, type MetricsReport } from '../../protocols/index.js';
import type { LatencySummary, StatusMetrics } from '../cluster/status-latency.js';

/** Percentiles of a histogram of nanoseconds, in ms (3 decimals). */
export function latencySummary(h: Hist): LatencySummary {
  const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
  return {
    samples: h.count,
    p50Ms: ms(percentile(h, 50)),
    p99Ms: ms(percentile(h, 99)),
    maxMs: ms(h.max),
  };
}

/** The status view of one report, with the reporter's counts if the worker has `--metrics`. */
export function statusMetrics(
  r: MetricsReport,
  reporter: StatusMetrics['reporter'] = null,
): StatusMetrics {
  return {
    reporter,
    at: new Date(r.at).toISOString(),
    periodMs: r.periodMs,
    messages: r.ingressEgress.messages,
    pipelines: r.pipelines.map((p) => ({
      name: p.pipeline,
      outputs: p.messages,
      latency: latencySummary(p.latency),
    })),
    ingressEgress: latencySummary(r.ingressEgress.latency),
    utilization: r.threads.map((t) => Math.round(t.utilization * 1000) / 1000),
  };
}
