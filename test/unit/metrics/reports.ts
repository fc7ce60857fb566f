/**
 * Metrics messages for the receiver's tests, built the way a worker of a
 * two-worker word count would send them and checked by the real encoder.
 */
import { Socket } from 'node:net';
import {
  encodeFrame,
  encodeMetricsMessage,
  histOf,
  METRICS_PROTOCOL_VERSION,
  type Hist,
  type MetricsHello,
  type MetricsMessage,
  type MetricsReport,
} from '../../../protocols/index.js';
import type { Address } from '../../../protocols/address.js';

export const APP = 'word-count';
export const PIPELINE = 'word count';
export const MEMBERS = ['initializer', 'worker2'];
/** Key groups of the one partition. */
export const GROUPS = 8;

/** A hello of worker `worker`. */
export function hello(worker: string, patch: Partial<MetricsHello> = {}): MetricsHello {
  return {
    type: 'hello',
    version: METRICS_PROTOCOL_VERSION,
    app: APP,
    worker,
    clusterId: 'cluster-1',
    pid: 4242,
    startedAt: 1_700_000_000_000,
    rooVersion: '0.1.0',
    pipelines: [
      {
        name: PIPELINE,
        steps: [
          { name: 'lines', kind: 'source' },
          { name: 'split', kind: 'computation' },
          { name: 'count', kind: 'state' },
          { name: 'counts out', kind: 'sink' },
        ],
      },
    ],
    threads: 2,
    partitions: [{ name: 'word totals', keyGroups: GROUPS }],
    ...patch,
  };
}

/** `n` latencies of `ns` each. */
export function lat(ns: number, n: number): Hist {
  return histOf(n === 0 ? [] : [[ns, n]]);
}

/** Key group g is owned by worker g % 2, on thread (g >> 1) % 2. */
function routing(worker: string, moving: number[] = []): MetricsReport['routing'] {
  const self = MEMBERS.indexOf(worker);
  const owners = Array.from({ length: GROUPS }, (_, g) => g % 2);
  const threads = owners.flatMap((o, g) => (o === self ? [(g >> 1) % 2] : []));
  return {
    version: 1,
    members: MEMBERS,
    partitions: [{ name: 'word totals', owners, threads, moving }],
  };
}

/** A report of `worker`: `n` messages through every step in the period ending at `at`. */
export function report(
  worker: string,
  seq: number,
  at: number,
  n: number,
  patch: Partial<MetricsReport> = {},
): MetricsReport {
  return {
    type: 'report',
    version: METRICS_PROTOCOL_VERSION,
    app: APP,
    worker,
    clusterId: 'cluster-1',
    seq,
    at,
    periodMs: 2000,
    steps: [
      { pipeline: PIPELINE, step: 'lines', kind: 'source', messages: n, latency: lat(2_000, n) },
      {
        pipeline: PIPELINE,
        step: 'split',
        kind: 'computation',
        messages: n,
        latency: lat(5_000, n),
      },
      { pipeline: PIPELINE, step: 'count', kind: 'state', messages: n, latency: lat(3_000, n) },
      { pipeline: PIPELINE, step: 'counts out', kind: 'sink', messages: n, latency: lat(1_000, n) },
    ],
    pipelines: [{ pipeline: PIPELINE, messages: n, latency: lat(1_000_000, n) }],
    ingressEgress: { messages: n, latency: lat(800_000, n) },
    threads: [
      {
        thread: 0,
        utilization: 0.25,
        queued: 3,
        deepestMailbox: 2,
        deepestActor: 'count#1',
        gcMs: 1.5,
        entities: 10,
      },
      {
        thread: 1,
        utilization: 0.5,
        queued: 0,
        deepestMailbox: 0,
        deepestActor: '',
        gcMs: 0.5,
        entities: 7,
      },
    ],
    sources: [{ name: 'lines', received: n, bytes: n * 10, muted: false }],
    channels: [
      {
        peer: MEMBERS.find((m) => m !== worker)!,
        messagesOut: n,
        messagesIn: n,
        bytesOut: 100 * n,
        bytesIn: 50 * n,
      },
    ],
    routing: routing(worker),
    checkpoints: [],
    checkpointsDropped: 0,
    events: [],
    eventsDropped: 0,
    ...patch,
  };
}

/** A report whose routing marks `moving` as moving. */
export function movingRouting(worker: string, moving: number[]): MetricsReport['routing'] {
  return routing(worker, moving);
}

/** A framed message, ready to write. */
export function frame(m: MetricsMessage): Buffer {
  return encodeFrame(encodeMetricsMessage(m));
}

/** A connected socket to `address`. */
export async function connect(address: Address): Promise<Socket> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(address.port, address.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** Resolves when `socket` closes. */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}
