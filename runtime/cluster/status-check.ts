/**
 * Checking the external channel's answers as `roo status` reads them off the
 * wire, before they are formatted: each `parse...` makes sure a record has
 * the fields (and field types) the tables show, and refuses it with
 * ROO_ERR_BAD_MESSAGE (`malformed answer: ...`) otherwise.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { EntityCounts, PartitionQuery, WorkerStatus } from './status.js';

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new RooError(ErrorCode.BadMessage, `malformed answer: ${what}`);
}

function needFields(x: unknown, what: string, fields: Record<string, string>): asserts x is Json {
  need(isObject(x), `${what} is not an object`);
  for (const [field, type] of Object.entries(fields)) {
    const v = (x as Json)[field];
    const ok =
      type === 'array'
        ? Array.isArray(v)
        : type === 'object'
          ? isObject(v)
          : type === 'string?'
            ? v === null || typeof v === 'string'
            : typeof v === type;
    need(ok, `${what}.${field} should be ${type}`);
  }
}

/** Checks that `x` is a {@link WorkerStatus} (the fields the table shows); throws ROO_ERR_BAD_MESSAGE. */
export function parseWorkerStatus(x: unknown): WorkerStatus {
  needFields(x, 'status', {
    worker: 'string',
    application: 'string',
    pid: 'number',
    startedAt: 'string',
    uptimeMs: 'number',
    threads: 'number',
    routingVersion: 'number',
    cluster: 'object',
    totals: 'object',
    threadStats: 'array',
    sources: 'array',
    sinks: 'array',
    partitions: 'array',
    errors: 'object',
  });
  needFields(x['cluster'], 'status.cluster', { members: 'array' });
  for (const m of (x['cluster'] as Json)['members'] as unknown[])
    needFields(m, 'member', { name: 'string', external: 'string?', self: 'boolean' });
  needFields(x['totals'], 'status.totals', {
    received: 'number',
    written: 'number',
    encoded: 'number',
    entities: 'number',
  });
  for (const t of x['threadStats'] as unknown[]) {
    needFields(t, 'thread', {
      thread: 'number',
      actors: 'number',
      idle: 'boolean',
      utilization: 'number',
      turns: 'number',
      delivered: 'number',
      sentLocal: 'number',
      sentRemote: 'number',
      batchesIn: 'number',
      batchesOut: 'number',
      parks: 'number',
      entities: 'number',
    });
  }
  for (const s of x['sources'] as unknown[]) {
    needFields(s, 'source', {
      name: 'string',
      kind: 'string',
      listening: 'string?',
      threads: 'array',
      received: 'number',
      bytes: 'number',
      mutes: 'number',
      finished: 'boolean',
    });
  }
  for (const s of x['sinks'] as unknown[]) {
    needFields(s, 'sink', {
      id: 'number',
      name: 'string',
      kind: 'string',
      target: 'string?',
      thread: 'number',
      outputs: 'number',
      bytes: 'number',
    });
  }
  for (const p of x['partitions'] as unknown[])
    needFields(p, 'partition', { name: 'string', keyGroups: 'number', entities: 'number' });
  for (const v of Object.values(x['errors'] as Json)) need(typeof v === 'number', 'error counts');
  // Added with metrics: a worker of an older build leaves them out.
  const lastCheckpoint = x['lastCheckpoint'] ?? 0;
  need(typeof lastCheckpoint === 'number', 'status.lastCheckpoint should be number');
  const metrics = x['metrics'] ?? null;
  if (metrics !== null) {
    needFields(metrics, 'status.metrics', {
      at: 'string',
      periodMs: 'number',
      messages: 'number',
      pipelines: 'array',
      ingressEgress: 'object',
      utilization: 'array',
    });
    const latency = { samples: 'number', p50Ms: 'number', p99Ms: 'number', maxMs: 'number' };
    needFields(metrics['ingressEgress'], 'status.metrics.ingressEgress', latency);
    for (const p of metrics['pipelines'] as unknown[]) {
      needFields(p, 'metrics pipeline', { name: 'string', outputs: 'number', latency: 'object' });
      needFields(p['latency'], 'metrics pipeline latency', latency);
    }
    for (const u of metrics['utilization'] as unknown[])
      need(typeof u === 'number', 'status.metrics.utilization holds numbers');
    const reporter = metrics['reporter'] ?? null;
    if (reporter !== null)
      needFields(reporter, 'status.metrics.reporter', {
        address: 'string',
        phase: 'string',
        sent: 'number',
        dropped: 'number',
        skipped: 'number',
      });
    metrics['reporter'] = reporter;
  }
  // Added with the worker's lifecycle: a worker of an older build leaves it out.
  const lifecycle = x['lifecycle'] ?? null;
  if (lifecycle !== null)
    needFields(lifecycle, 'status.lifecycle', {
      phase: 'string',
      role: 'string',
      description: 'string',
    });
  return { ...x, lastCheckpoint, metrics, lifecycle } as unknown as WorkerStatus;
}

/** Checks that `x` is a {@link PartitionQuery}; throws ROO_ERR_BAD_MESSAGE. */
export function parsePartitionQuery(x: unknown): PartitionQuery {
  needFields(x, 'partition query', {
    worker: 'string',
    routingVersion: 'number',
    keysPerGroup: 'number',
    partitions: 'array',
  });
  for (const p of x['partitions'] as unknown[]) {
    needFields(p, 'partition', {
      name: 'string',
      keyGroups: 'number',
      entities: 'number',
      groups: 'array',
    });
    for (const g of p['groups'] as unknown[]) {
      needFields(g, 'key group', {
        keyGroup: 'number',
        worker: 'string',
        thread: 'number',
        count: 'number',
        keys: 'array',
        truncated: 'boolean',
      });
      for (const k of g['keys'] as unknown[]) need(typeof k === 'string', 'keys are strings');
    }
  }
  return x as unknown as PartitionQuery;
}

/** Checks that `x` is {@link EntityCounts}; throws ROO_ERR_BAD_MESSAGE. */
export function parseEntityCounts(x: unknown): EntityCounts {
  needFields(x, 'entity counts', { worker: 'string', partitions: 'array' });
  for (const p of x['partitions'] as unknown[]) {
    needFields(p, 'partition', { name: 'string', total: 'number', threads: 'array' });
    for (const t of p['threads'] as unknown[])
      needFields(t, 'thread', { worker: 'string', thread: 'number', entities: 'number' });
  }
  return x as unknown as EntityCounts;
}
