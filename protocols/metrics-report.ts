/**
 * Metrics reports: what a worker started with `--metrics ADDR` tells the
 * metrics receiver (`roo metrics`), Wallaroo's metrics reporter in roo's
 * form (docs/metrics.md).
 *
 * One TCP connection per worker, one way (worker → receiver: the receiver
 * never answers, so a stalled receiver can only fill the worker's bounded
 * send buffer). Each message is a msgpack map in a length-prefixed frame
 * (frame.ts) of at most {@link MAX_METRICS_MESSAGE_BYTES}: first one `hello`
 * naming the worker and its plan, then a `report` every period (2 s by
 * default). A reconnecting worker starts with a `hello` again.
 *
 * Counts in a report (messages, bytes) are what happened in the period since
 * the previous report on the connection; `queued`, `deepestMailbox`,
 * `entities` and the routing table are the state at `at`. Latencies are
 * histograms of nanoseconds (histogram.ts). Every array and string has a
 * limit, so a receiver's memory per message is bounded; a worker with more
 * to say than a limit allows drops the excess and counts it where the
 * format has a counter for it (`eventsDropped`, `checkpointsDropped`).
 * Pure: no I/O. The nested validators are in metrics-report-checker.ts,
 * the limits and enumerations in metrics-limits.ts.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { Hist } from './histogram.js';
import { validateMetricsHello, validateMetricsReport } from './metrics-report-checker.js';

import {
  asRecord,
  bad,
  clip,
  describe,
  field,
  packWire,
  supportedVersion,
  unpackWire,
} from './validate.js';

/** Version of the metrics format; a peer speaking another is refused. */
export const METRICS_PROTOCOL_VERSION = 1;

/** Largest message (16 MiB, the frame limit), the receiver's frame limit too. */
export const MAX_METRICS_MESSAGE_BYTES = 16 * 1024 * 1024;

/** What a step is: how the plan names the pieces of a pipeline. */
export type MetricsStepKind = 'source' | 'computation' | 'state' | 'sink';

/** One step of a pipeline, as a hello declares it. */
export interface MetricsPlanStep {
  readonly name: string;
  readonly kind: MetricsStepKind;
}

/** One pipeline of the plan and its steps, in order. */
export interface MetricsPlanPipeline {
  readonly name: string;
  readonly steps: readonly MetricsPlanStep[];
}

/** A state partition and its key-group count. */
export interface MetricsPlanPartition {
  readonly name: string;
  readonly keyGroups: number;
}

/** The first message on a connection: who reports, and the shape of its plan. */
export interface MetricsHello {
  readonly type: 'hello';
  readonly version: typeof METRICS_PROTOCOL_VERSION;
  /** The application's name. */
  readonly app: string;
  /** The worker's `--name` (a worker name, protocols/README.md). */
  readonly worker: string;
  /** The cluster's id; empty for a worker that runs alone. */
  readonly clusterId: string;
  readonly pid: number;
  /** When the worker process started, in ms since the epoch. */
  readonly startedAt: number;
  /** roo's version (package.json). */
  readonly rooVersion: string;
  readonly pipelines: readonly MetricsPlanPipeline[];
  /** Scheduler threads (`--ponythreads`), at least 1. */
  readonly threads: number;
  readonly partitions: readonly MetricsPlanPartition[];
}

/** Time in one step (per computation), for the messages the step handled in the period. */
export interface StepMetrics {
  readonly pipeline: string;
  readonly step: string;
  readonly kind: MetricsStepKind;
  readonly messages: number;
  readonly latency: Hist;
}

/** Start to end of one pipeline: from source ingest to sink write. */
export interface PipelineMetrics {
  readonly pipeline: string;
  readonly messages: number;
  readonly latency: Hist;
}

/** Ingress to egress of the whole worker: from a message's arrival at the worker to its leaving it. */
export interface WorkerMetrics {
  readonly messages: number;
  readonly latency: Hist;
}

/** One scheduler thread. */
export interface ThreadMetrics {
  readonly thread: number;
  /** Share of the period the thread ran actors, 0 to 1. */
  readonly utilization: number;
  /** Messages waiting in its actors' mailboxes at `at`. */
  readonly queued: number;
  /** The longest mailbox at `at`, and its actor's name ('' when all are empty). */
  readonly deepestMailbox: number;
  readonly deepestActor: string;
  /** Time spent in garbage collection in the period, ms. */
  readonly gcMs: number;
  /** State entities the thread holds at `at`. */
  readonly entities: number;
}

/** One source (a listener or a file) of this worker. */
export interface SourceMetrics {
  readonly name: string;
  /** Messages and bytes read in the period. */
  readonly received: number;
  readonly bytes: number;
  /** Muted by backpressure at `at`: not reading. */
  readonly muted: boolean;
}

/** The data channel to and from one peer worker, in the period. */
export interface ChannelMetrics {
  readonly peer: string;
  readonly messagesOut: number;
  readonly messagesIn: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
}

/** Who owns the key groups of one state partition. */
export interface RoutingPartition {
  readonly name: string;
  /** owners[keyGroup] = index in `members` of the worker that owns the group. */
  readonly owners: readonly number[];
  /**
   * The scheduler thread of each key group this worker owns, in ascending
   * key-group order (one per `owners` entry naming this worker; the other
   * workers' threads are in their own reports).
   */
  readonly threads: readonly number[];
  /** Key groups being moved now (a grow, shrink or rebalance), ascending. */
  readonly moving: readonly number[];
}

/** The routing table as this worker holds it. */
export interface RoutingMetrics {
  readonly version: number;
  /** The cluster's workers, by name; a worker alone lists itself. */
  readonly members: readonly string[];
  readonly partitions: readonly RoutingPartition[];
}

/** A checkpoint this worker finished taking part in. */
export interface CheckpointMetrics {
  readonly id: number;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** Bytes of this worker's snapshot file. */
  readonly bytes: number;
  readonly outcome: 'committed' | 'aborted';
}

/** Kinds of {@link MetricsEvent}. */
export type MetricsEventKind =
  'recovery' | 'migration' | 'rebalance' | 'join' | 'leave' | 'checkpoint-aborted' | 'worker-lost';

/** A value of an event's detail: short text, a finite number or a boolean. */
export type MetricsDetailValue = string | number | boolean;

/** Something that happened to the cluster, as this worker saw it. */
export interface MetricsEvent {
  /** ms since the epoch. */
  readonly at: number;
  readonly kind: MetricsEventKind;
  /** One sentence for people (a log line's words). */
  readonly text: string;
  readonly detail?: Readonly<Record<string, MetricsDetailValue>>;
}

/** What a worker measured in one period. */
export interface MetricsReport {
  readonly type: 'report';
  readonly version: typeof METRICS_PROTOCOL_VERSION;
  readonly app: string;
  readonly worker: string;
  readonly clusterId: string;
  /** 0, 1, 2, ... per connection. */
  readonly seq: number;
  /** When the period ended, ms since the epoch. */
  readonly at: number;
  /** The period's length, ms (at least 1). */
  readonly periodMs: number;
  readonly steps: readonly StepMetrics[];
  readonly pipelines: readonly PipelineMetrics[];
  /** Ingress to egress of this worker (Wallaroo's per-worker figure). */
  readonly ingressEgress: WorkerMetrics;
  readonly threads: readonly ThreadMetrics[];
  readonly sources: readonly SourceMetrics[];
  readonly channels: readonly ChannelMetrics[];
  readonly routing: RoutingMetrics;
  readonly checkpoints: readonly CheckpointMetrics[];
  /** Checkpoints finished in the period beyond METRICS_LIMITS.checkpoints, not listed. */
  readonly checkpointsDropped: number;
  readonly events: readonly MetricsEvent[];
  /** Events of the period beyond METRICS_LIMITS.events, not listed. */
  readonly eventsDropped: number;
}

/** Any metrics message, discriminated by `type`. */
export type MetricsMessage = MetricsHello | MetricsReport;

/** The `type` of each kind of {@link MetricsMessage}. */
export type MetricsMessageType = MetricsMessage['type'];

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a message (validated first, so a malformed one fails at its
 * sender with ROO_ERR_BAD_MESSAGE). Returns the msgpack payload alone,
 * without its frame header, in a buffer of its own.
 */
export function encodeMetricsMessage(message: MetricsMessage): Uint8Array {
  return packWire(
    (v) => packr.pack(v),
    validateMetricsMessage(message),
    MAX_METRICS_MESSAGE_BYTES,
    'metrics message',
  );
}

/**
 * Decodes and validates one message payload. Throws RooError
 * ROO_ERR_BAD_VERSION for another format version and ROO_ERR_BAD_MESSAGE for
 * anything else malformed (garbage, truncated or padded msgpack, a value that
 * is not a valid message, a list or string over its limit, a payload over
 * {@link MAX_METRICS_MESSAGE_BYTES}).
 */
export function decodeMetricsMessage(bytes: Uint8Array): MetricsMessage {
  if (bytes.length > MAX_METRICS_MESSAGE_BYTES) {
    throw bad(
      `metrics message of ${bytes.length} bytes exceeds the maximum of ${MAX_METRICS_MESSAGE_BYTES} bytes`,
    );
  }
  return validateMetricsMessage(unpackWire((b) => unpackr.unpack(b), bytes, 'metrics message'));
}

/**
 * Checks that `value` is a metrics message of the current version and
 * returns a fresh copy holding only its fields; throws like
 * {@link decodeMetricsMessage}.
 */
export function validateMetricsMessage(value: unknown): MetricsMessage {
  const record = asRecord(value, 'metrics message');
  const version = supportedVersion(
    record,
    'metrics message',
    METRICS_PROTOCOL_VERSION,
    'receiver',
    (r) => {
      const type = field(r, 'type');
      return typeof type === 'string' ? { type: clip(type) } : {};
    },
  );
  const type = field(record, 'type');
  if (type === 'hello') return validateMetricsHello(record, version);
  if (type === 'report') return validateMetricsReport(record, version);
  throw bad(`unknown metrics message type ${describe(type)}`);
}
