/**
 * What the external channel reports about a worker: its status, where its
 * key groups and keys are (partition query), and how many state entities it
 * holds (entity counts).
 *
 * Decide in pure functions, act at the edge: `buildStatus`,
 * `buildPartitionQuery` and `buildEntityCounts` turn facts (the plan, the
 * placement, the threads' counters and keys) into plain JSON-ready records;
 * `formatStatus`, `formatPartitionQuery` and `formatEntityCounts` turn those
 * records into the tables `roo status` prints; `parse...` check a record that
 * came over the wire before it is formatted. Only the three `collect...`
 * functions at the bottom do I/O (they ask a running engine for its facts).
 *
 * Every record names the worker each fact is about, and the status lists the
 * cluster's members, so the same shapes serve a cluster of several workers.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';
import type { EngineStats } from '../engine/engine.js';
import type { KeyGroupKeys } from '../engine/thread-control.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';

/** Keys listed per key group in a partition query unless asked otherwise. */
export const DEFAULT_KEYS_PER_GROUP = 100;
/** Most keys listed per key group (a larger request is clamped to it). */
export const MAX_KEYS_PER_GROUP = 10_000;

// ---------------------------------------------------------------------------
// Records.

/** A member of the cluster, as the status reports it. */
export interface MemberStatus {
  readonly name: string;
  /** Its external channel address, if it has one. */
  readonly external: string | null;
  /** True for the worker that answered. */
  readonly self: boolean;
}

/** One scheduler thread's counters. */
export interface ThreadStatus {
  readonly thread: number;
  readonly actors: number;
  readonly idle: boolean;
  /** Share of time busy since the thread started, 0..1. */
  readonly utilization: number;
  readonly turns: number;
  readonly delivered: number;
  readonly sentLocal: number;
  readonly sentRemote: number;
  readonly batchesIn: number;
  readonly batchesOut: number;
  readonly parks: number;
  /** State entities on this thread, over all partitions. */
  readonly entities: number;
  /** Messages this thread sent to other workers over data channels. */
  readonly sentToWorkers: number;
  /** Messages received from other workers (on the thread that listens for data). */
  readonly receivedFromWorkers: number;
}

/** A source of the application on this worker. */
export interface SourceStatus {
  readonly name: string;
  readonly kind: string;
  /** Bound address of a TCP source. */
  readonly listening: string | null;
  readonly threads: readonly number[];
  readonly received: number;
  readonly bytes: number;
  readonly mutes: number;
  readonly finished: boolean;
}

/** A sink of the application on this worker. */
export interface SinkStatus {
  readonly id: number;
  readonly name: string;
  readonly kind: string;
  /** Where it writes: an address, a path, `stdout`, or null for a null sink. */
  readonly target: string | null;
  /** Thread of its writer. */
  readonly thread: number;
  readonly outputs: number;
  readonly bytes: number;
}

/** A state partition in the status. */
export interface PartitionSummary {
  readonly name: string;
  readonly keyGroups: number;
  readonly entities: number;
}

/** The answer to `status`. */
export interface WorkerStatus {
  readonly worker: string;
  readonly application: string;
  readonly pid: number;
  /** When the worker became ready, ISO 8601. */
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly threads: number;
  /** Version of the routing table (key group -> owner). */
  readonly routingVersion: number;
  readonly cluster: { readonly members: readonly MemberStatus[] };
  readonly totals: {
    readonly received: number;
    readonly written: number;
    readonly encoded: number;
    readonly entities: number;
  };
  readonly threadStats: readonly ThreadStatus[];
  readonly sources: readonly SourceStatus[];
  readonly sinks: readonly SinkStatus[];
  readonly partitions: readonly PartitionSummary[];
  /** Errors by code and place. */
  readonly errors: Readonly<Record<string, number>>;
}

/** One key group in a partition query. */
export interface KeyGroupReport {
  readonly keyGroup: number;
  readonly worker: string;
  /** The thread that hosts the group (as it reported itself). */
  readonly thread: number;
  /** State entities in the group. */
  readonly count: number;
  /** The first keys of the group (at most the query's `keysPerGroup`). */
  readonly keys: readonly string[];
  /** True when `count` exceeds the keys listed. */
  readonly truncated: boolean;
}

/** One state partition in a partition query. */
export interface PartitionReport {
  readonly name: string;
  /** Key groups of the partition in the whole cluster (`groups` lists those on this worker). */
  readonly keyGroups: number;
  readonly entities: number;
  readonly groups: readonly KeyGroupReport[];
}

/** The answer to `partition-query`. */
export interface PartitionQuery {
  readonly worker: string;
  readonly routingVersion: number;
  readonly keysPerGroup: number;
  readonly partitions: readonly PartitionReport[];
}

/** Entities of one partition on one thread of one worker. */
export interface EntityCount {
  readonly worker: string;
  readonly thread: number;
  readonly entities: number;
}

/** The answer to `entity-counts`. */
export interface EntityCounts {
  readonly worker: string;
  readonly partitions: readonly {
    readonly name: string;
    readonly total: number;
    readonly threads: readonly EntityCount[];
  }[];
}

// ---------------------------------------------------------------------------
// Pure builders.

/** What the status is made of. */
export interface StatusFacts {
  readonly worker: string;
  readonly pid: number;
  readonly startedAtMs: number;
  readonly nowMs: number;
  /** This worker's external address, if any. */
  readonly external: string | null;
  readonly plan: Pick<Plan, 'application' | 'stages' | 'partitions' | 'sinks'>;
  readonly placement: Placement;
  /** TCP sources' bound addresses by source name. */
  readonly listening: Readonly<Record<string, string>>;
  readonly stats: EngineStats;
  /** Names of every worker of the cluster (default: this worker alone). */
  readonly members?: readonly string[];
}

function sinkTarget(config: Plan['sinks'][number]['config']): string | null {
  switch (config.kind) {
    case 'tcp-sink':
      return `${config.address.host}:${config.address.port}`;
    case 'file-sink':
      return config.path;
    case 'stdout-sink':
      return 'stdout';
    case 'null-sink':
      return null;
  }
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** Builds the answer to `status` from a worker's facts. */
export function buildStatus(f: StatusFacts): WorkerStatus {
  const threads = f.stats.threads;
  const sources: SourceStatus[] = [];
  for (const stage of f.plan.stages) {
    if (stage.kind !== 'source') continue;
    const name = stage.source.name;
    const mine = threads.flatMap((t) => t.sources.filter((s) => s.name === name));
    sources.push({
      name,
      kind: stage.source.kind,
      listening: f.listening[name] ?? null,
      threads: [...(f.placement.sourceThreads.get(stage.id) ?? [])],
      received: sum(mine.map((s) => s.received)),
      bytes: sum(mine.map((s) => s.bytes)),
      mutes: sum(mine.map((s) => s.mutes)),
      finished: mine.length > 0 && mine.every((s) => s.finished),
    });
  }
  const sinks: SinkStatus[] = f.plan.sinks.map((sink) => {
    const mine = threads.flatMap((t) => t.sinks.filter((s) => s.id === sink.id));
    return {
      id: sink.id,
      name: sink.config.name,
      kind: sink.config.kind,
      target: sinkTarget(sink.config),
      thread: f.placement.sinkThread[sink.id] ?? 0,
      outputs: sum(mine.map((s) => s.outputs)),
      bytes: sum(mine.map((s) => s.bytes)),
    };
  });
  const partitions: PartitionSummary[] = f.plan.partitions.map((p) => ({
    name: p.name,
    keyGroups: p.grouper.groups,
    entities: sum(threads.map((t) => t.entities[p.name] ?? 0)),
  }));
  return {
    worker: f.worker,
    application: f.plan.application,
    pid: f.pid,
    startedAt: new Date(f.startedAtMs).toISOString(),
    uptimeMs: Math.max(0, Math.round(f.nowMs - f.startedAtMs)),
    threads: threads.length,
    routingVersion: f.placement.version,
    cluster: {
      members: (f.members ?? [f.worker]).map((name) =>
        name === f.worker
          ? { name, external: f.external, self: true }
          : { name, external: null, self: false },
      ),
    },
    totals: {
      received: f.stats.received,
      written: f.stats.written,
      encoded: f.stats.encoded,
      entities: sum(partitions.map((p) => p.entities)),
    },
    threadStats: threads.map((t) => ({
      thread: t.thread,
      actors: t.actors,
      idle: t.idle,
      utilization: t.loop.utilization,
      turns: t.scheduler.turns,
      delivered: t.scheduler.delivered,
      sentLocal: t.scheduler.sentLocal,
      sentRemote: t.scheduler.sentRemote,
      batchesIn: t.scheduler.batchesIn,
      batchesOut: t.scheduler.batchesOut,
      parks: t.loop.parks,
      entities: sum(Object.values(t.entities)),
      sentToWorkers: sum(t.dataChannel.sent),
      receivedFromWorkers: t.dataChannel.received,
    })),
    sources,
    sinks,
    partitions,
    errors: { ...f.stats.errors },
  };
}

/**
 * Reads the `keysPerGroup` argument of a partition query: absent means
 * {@link DEFAULT_KEYS_PER_GROUP}; a whole number from 0 is clamped to
 * {@link MAX_KEYS_PER_GROUP}; anything else is refused with ROO_ERR_BAD_MESSAGE.
 */
export function keysPerGroupArg(args: unknown): number {
  if (args === undefined || args === null) return DEFAULT_KEYS_PER_GROUP;
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new RooError(ErrorCode.BadMessage, 'partition-query args must be an object');
  }
  const value = (args as Record<string, unknown>)['keysPerGroup'];
  if (value === undefined) return DEFAULT_KEYS_PER_GROUP;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RooError(
      ErrorCode.BadMessage,
      `partition-query keysPerGroup must be a whole number from 0, got ${JSON.stringify(value)}`,
    );
  }
  return Math.min(value, MAX_KEYS_PER_GROUP);
}

/** What a partition query is made of. */
export interface PartitionFacts {
  readonly worker: string;
  readonly plan: Pick<Plan, 'partitions'>;
  readonly placement: Placement;
  readonly keysPerGroup: number;
  /** Per thread, the key groups it hosts (as {@link collectPartitionQuery} gets them). */
  readonly threads: readonly {
    readonly thread: number;
    readonly groups: readonly KeyGroupKeys[];
  }[];
}

/**
 * Builds the answer to `partition-query`: every key group of every
 * partition on this worker, with the thread that hosts it and its first
 * keys. A group the placement gives to another worker (owner -1) and no
 * thread here reported is left out: that worker answers for it. A group
 * placed here that no thread reported (it should not happen) is listed at
 * its placed thread with no keys.
 */
export function buildPartitionQuery(f: PartitionFacts): PartitionQuery {
  const hosted = new Map<string, { thread: number; group: KeyGroupKeys }>();
  for (const t of f.threads) {
    for (const g of t.groups)
      hosted.set(`${g.partition}/${g.keyGroup}`, { thread: t.thread, group: g });
  }
  const partitions = f.plan.partitions.map((p, pi): PartitionReport => {
    const owners = f.placement.keyGroupOwner[pi] ?? [];
    const groups: KeyGroupReport[] = [];
    for (let kg = 0; kg < p.grouper.groups; kg++) {
      const found = hosted.get(`${pi}/${kg}`);
      const placed = owners[kg] ?? -1;
      if (found === undefined && placed < 0) continue;
      const keys = found === undefined ? [] : found.group.keys.slice(0, f.keysPerGroup);
      const count = found?.group.count ?? 0;
      groups.push({
        keyGroup: kg,
        worker: f.worker,
        thread: found?.thread ?? placed,
        count,
        keys,
        truncated: count > keys.length,
      });
    }
    return {
      name: p.name,
      keyGroups: p.grouper.groups,
      entities: sum(groups.map((g) => g.count)),
      groups,
    };
  });
  return {
    worker: f.worker,
    routingVersion: f.placement.version,
    keysPerGroup: f.keysPerGroup,
    partitions,
  };
}

/** Builds the answer to `entity-counts`: per partition, per thread. */
export function buildEntityCounts(
  worker: string,
  plan: Pick<Plan, 'partitions'>,
  stats: Pick<EngineStats, 'threads'>,
): EntityCounts {
  return {
    worker,
    partitions: plan.partitions.map((p) => {
      const threads = stats.threads.map((t) => ({
        worker,
        thread: t.thread,
        entities: t.entities[p.name] ?? 0,
      }));
      return { name: p.name, total: sum(threads.map((t) => t.entities)), threads };
    }),
  };
}

// ---------------------------------------------------------------------------
// Checking records that came over the wire.

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
  return x as unknown as WorkerStatus;
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

// ---------------------------------------------------------------------------
// Pure formatting for people.

/** `3723004` ms -> `1h 02m 03s`; under a minute -> `4.2s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const total = Math.floor(ms / 1000);
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${two(h)}h ${two(m)}m`;
  if (h > 0) return `${h}h ${two(m)}m ${two(s)}s`;
  return `${m}m ${two(s)}s`;
}

/** `1234567` -> `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * A plain-text table: a header row, a rule, the rows; numbers (cells that
 * look like numbers) right-aligned, text left-aligned; two spaces between
 * columns; no trailing spaces.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^-?[0-9][0-9,.]*%?$/.test(r[i] ?? '')),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The human-readable status `roo status` prints. */
export function formatStatus(s: WorkerStatus): string {
  const out: string[] = [];
  out.push(`worker       ${s.worker} (pid ${s.pid})`);
  out.push(`application  ${s.application}`);
  out.push(`uptime       ${formatDuration(s.uptimeMs)} (since ${s.startedAt})`);
  out.push(`threads      ${s.threads}`);
  out.push(`routing      version ${s.routingVersion}`);
  out.push(
    `totals       ${formatCount(s.totals.received)} received, ${formatCount(s.totals.written)} written, ` +
      `${formatCount(s.totals.entities)} state entities`,
  );
  out.push('', `cluster members (${s.cluster.members.length})`);
  out.push(
    ...formatTable(
      ['worker', 'external', 'role'],
      s.cluster.members.map((m) => [m.name, m.external ?? '-', m.self ? 'answering' : 'member']),
    ),
  );
  out.push('', 'threads');
  out.push(
    ...formatTable(
      ['thread', 'actors', 'busy', 'delivered', 'sent local', 'sent remote', 'entities', 'idle'],
      s.threadStats.map((t) => [
        String(t.thread),
        formatCount(t.actors),
        `${(t.utilization * 100).toFixed(1)}%`,
        formatCount(t.delivered),
        formatCount(t.sentLocal),
        formatCount(t.sentRemote),
        formatCount(t.entities),
        t.idle ? 'yes' : 'no',
      ]),
    ),
  );
  out.push('', 'sources');
  out.push(
    ...(s.sources.length === 0
      ? ['(none)']
      : formatTable(
          ['source', 'kind', 'listening', 'threads', 'received', 'bytes', 'mutes', 'finished'],
          s.sources.map((x) => [
            x.name,
            x.kind,
            x.listening ?? '-',
            x.threads.join(','),
            formatCount(x.received),
            formatCount(x.bytes),
            formatCount(x.mutes),
            x.finished ? 'yes' : 'no',
          ]),
        )),
  );
  out.push('', 'sinks');
  out.push(
    ...(s.sinks.length === 0
      ? ['(none)']
      : formatTable(
          ['sink', 'kind', 'target', 'thread', 'outputs', 'bytes'],
          s.sinks.map((x) => [
            x.name,
            x.kind,
            x.target ?? '-',
            String(x.thread),
            formatCount(x.outputs),
            formatCount(x.bytes),
          ]),
        )),
  );
  out.push('', 'state partitions');
  out.push(
    ...(s.partitions.length === 0
      ? ['(none)']
      : formatTable(
          ['partition', 'key groups', 'entities'],
          s.partitions.map((p) => [p.name, formatCount(p.keyGroups), formatCount(p.entities)]),
        )),
  );
  const errors = Object.entries(s.errors).sort(([a], [b]) => a.localeCompare(b));
  out.push('', `errors${errors.length === 0 ? ': none' : ''}`);
  if (errors.length > 0) {
    out.push(
      ...formatTable(
        ['count', 'code and place'],
        errors.map(([k, v]) => [formatCount(v), k]),
      ),
    );
  }
  return out.join('\n') + '\n';
}

/**
 * The human-readable partition query: per partition, one line per key group
 * that holds entities (empty groups are summed up, not listed), with its
 * worker, thread, count and keys.
 */
export function formatPartitionQuery(q: PartitionQuery): string {
  const out: string[] = [];
  for (const p of q.partitions) {
    const used = p.groups.filter((g) => g.count > 0);
    if (out.length > 0) out.push('');
    out.push(
      `partition '${p.name}': ${formatCount(p.entities)} entities in ${used.length} of ${p.keyGroups} key groups`,
    );
    const perThread = new Map<string, number>();
    for (const g of p.groups) {
      const at = `${g.worker}/${g.thread}`;
      perThread.set(at, (perThread.get(at) ?? 0) + 1);
    }
    out.push(
      '  key groups by worker/thread: ' +
        [...perThread.entries()].map(([at, n]) => `${at}: ${n}`).join(', '),
    );
    if (used.length === 0) continue;
    out.push(
      ...formatTable(
        ['key group', 'worker', 'thread', 'entities', 'keys'],
        used.map((g) => [
          String(g.keyGroup),
          g.worker,
          String(g.thread),
          formatCount(g.count),
          g.keys.join(' ') + (g.truncated ? ` ... (+${formatCount(g.count - g.keys.length)})` : ''),
        ]),
      ).map((l) => `  ${l}`),
    );
  }
  if (q.partitions.length === 0) out.push('no state partitions');
  return out.join('\n') + '\n';
}

/** The human-readable entity counts: one row per partition and thread. */
export function formatEntityCounts(c: EntityCounts): string {
  if (c.partitions.length === 0) return 'no state partitions\n';
  const rows = c.partitions.flatMap((p) => [
    ...p.threads.map((t) => [p.name, t.worker, String(t.thread), formatCount(t.entities)]),
    [p.name, 'all', '', formatCount(p.total)],
  ]);
  return formatTable(['partition', 'worker', 'thread', 'entities'], rows).join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// Collecting from a running engine (the only I/O here).

/** What the collectors need of a running engine ({@link Engine} has it). */
export interface StatusEngine {
  readonly plan: Plan;
  readonly placement: Placement;
  readonly listening: Readonly<Record<string, string>>;
  stats(): Promise<EngineStats>;
  keys(limit: number): Promise<{ thread: number; groups: KeyGroupKeys[] }[]>;
}

/** Who is answering, for the collectors. */
export interface WorkerIdentity {
  readonly worker: string;
  readonly startedAtMs: number;
  readonly external: string | null;
  /** The cluster's members, when this worker is part of a cluster. */
  readonly members?: () => readonly string[];
}

/** Asks the engine for its counters and builds the status. */
export async function collectStatus(
  engine: StatusEngine,
  me: WorkerIdentity,
): Promise<WorkerStatus> {
  const stats = await engine.stats();
  return buildStatus({
    worker: me.worker,
    pid: process.pid,
    startedAtMs: me.startedAtMs,
    nowMs: Date.now(),
    external: me.external,
    plan: engine.plan,
    placement: engine.placement,
    listening: engine.listening,
    stats,
    ...(me.members === undefined ? {} : { members: me.members() }),
  });
}

/** Asks every thread for its key groups and builds the partition query. */
export async function collectPartitionQuery(
  engine: StatusEngine,
  me: WorkerIdentity,
  keysPerGroup: number,
): Promise<PartitionQuery> {
  const threads = await engine.keys(keysPerGroup);
  return buildPartitionQuery({
    worker: me.worker,
    plan: engine.plan,
    placement: engine.placement,
    keysPerGroup,
    threads,
  });
}

/** Asks the engine for its counters and builds the entity counts. */
export async function collectEntityCounts(
  engine: StatusEngine,
  me: WorkerIdentity,
): Promise<EntityCounts> {
  return buildEntityCounts(me.worker, engine.plan, await engine.stats());
}
