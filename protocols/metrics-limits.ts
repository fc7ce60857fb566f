/**
 * The limits of metrics messages (metrics-report.ts) and the names their
 * enumerated fields may take: what the validator checks, in one place for
 * the reporters that must stay within them. Pure.
 */
import type { MetricsEventKind, MetricsStepKind } from './metrics-report.js';

/** The limits of every list and string of a metrics message. */
export const METRICS_LIMITS = Object.freeze({
  /** An application, pipeline, step, source, partition or actor name, a cluster id (UTF-16 units). */
  name: 256,
  /** The roo version string. */
  version: 64,
  /** An event's text. */
  text: 1024,
  /** Pipelines of a plan or a report. */
  pipelines: 256,
  /** Steps of one pipeline in a hello; steps in a report. */
  steps: 1024,
  /** Scheduler threads. */
  threads: 1024,
  /** Sources in a report. */
  sources: 1024,
  /** Peers in `channels`; members of the routing table. */
  workers: 1024,
  /** State partitions. */
  partitions: 64,
  /** Key groups of all partitions together. */
  keyGroups: 65536,
  /** Checkpoints in one report. */
  checkpoints: 64,
  /** Events in one report. */
  events: 64,
  /** Entries of an event's `detail`. */
  detailEntries: 16,
  /** An event detail's key. */
  detailKey: 64,
  /** An event detail's text value. */
  detailValue: 256,
});

/** Every {@link MetricsStepKind}. */
export const METRICS_STEP_KINDS: readonly MetricsStepKind[] = [
  'source',
  'computation',
  'state',
  'sink',
];

/** Every {@link MetricsEventKind}. */
export const METRICS_EVENT_KINDS: readonly MetricsEventKind[] = [
  'recovery',
  'migration',
  'rebalance',
  'join',
  'leave',
  'checkpoint-aborted',
  'worker-lost',
];
