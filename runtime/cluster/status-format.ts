/**
 * The tables `roo status` prints: the external channel's answers (status,
 * partition query, entity counts) as plain text for people. Pure: records in,
 * strings out.
 */
import type { EntityCounts, PartitionQuery, StatusMetrics, WorkerStatus } from './status.js';

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

/** {@link formatTable} of the rows, or `(none)` when there are no rows. */
function tableOrNone(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return rows.length === 0 ? ['(none)'] : formatTable(headers, rows);
}

/** The human-readable status `roo status` prints. */
export function formatStatus(s: WorkerStatus): string {
  const out: string[] = [];
  out.push(`worker       ${s.worker} (pid ${s.pid})`);
  out.push(`application  ${s.application}`);
  out.push(`uptime       ${formatDuration(s.uptimeMs)} (since ${s.startedAt})`);
  if (s.lifecycle !== null)
    out.push(`lifecycle    ${s.lifecycle.description} (${s.lifecycle.role})`);
  out.push(`threads      ${s.threads}`);
  out.push(`routing      version ${s.routingVersion}`);
  out.push(
    `totals       ${formatCount(s.totals.received)} received, ${formatCount(s.totals.written)} written, ` +
      `${formatCount(s.totals.entities)} state entities`,
  );
  const r = s.cluster.reconfiguration;
  out.push(
    '',
    `cluster ${s.cluster.id === '' ? '(alone)' : s.cluster.id}: ${s.cluster.members.length} members` +
      (r === null
        ? ''
        : `; reconfiguration ${r.id} under way (${r.phase}${r.moving === undefined ? '' : `, ${r.moving} key groups moving`})`),
  );
  out.push(
    ...formatTable(
      ['worker', 'external', 'key groups', 'role'],
      s.cluster.members.map((m) => [
        m.name,
        m.external ?? '-',
        String(m.keyGroups),
        m.self ? 'answering' : 'member',
      ]),
    ),
  );
  if (s.lastCheckpoint > 0) out.push(`checkpoint   ${s.lastCheckpoint} committed (newest)`);
  out.push('', 'threads');
  // Messages sent to an actor of the same thread, of another thread of this
  // worker (a ring), and of another worker (a data channel).
  out.push(
    ...formatTable(
      [
        'thread',
        'actors',
        'busy',
        'delivered',
        'to same thread',
        'to other threads',
        'to workers',
        'from workers',
        'entities',
        'idle',
      ],
      s.threadStats.map((t) => [
        String(t.thread),
        formatCount(t.actors),
        `${(t.utilization * 100).toFixed(1)}%`,
        formatCount(t.delivered),
        formatCount(t.sentLocal),
        formatCount(t.sentRemote),
        formatCount(t.sentToWorkers ?? 0),
        formatCount(t.receivedFromWorkers ?? 0),
        formatCount(t.entities),
        t.idle ? 'yes' : 'no',
      ]),
    ),
  );
  if (s.metrics !== null && s.metrics !== undefined) out.push('', ...formatLatency(s.metrics));
  out.push('', 'sources');
  out.push(
    ...tableOrNone(
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
    ),
  );
  out.push('', 'sinks');
  out.push(
    ...tableOrNone(
      ['sink', 'kind', 'target', 'thread', 'outputs', 'bytes'],
      s.sinks.map((x) => [
        x.name,
        x.kind,
        x.target ?? '-',
        String(x.thread),
        formatCount(x.outputs),
        formatCount(x.bytes),
      ]),
    ),
  );
  out.push('', 'state partitions');
  out.push(
    ...tableOrNone(
      ['partition', 'key groups', 'entities'],
      s.partitions.map((p) => [p.name, formatCount(p.keyGroups), formatCount(p.entities)]),
    ),
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

/** `0.4321` ms -> `0.432 ms`; from 1 s on, seconds. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(3)} ms`;
}

/** The last metrics period: messages in, start-to-end latency per pipeline, ingress to egress. */
export function formatLatency(m: StatusMetrics): string[] {
  const secs = m.periodMs / 1000;
  const rows = [
    ...m.pipelines.map((p) => [
      `pipeline '${p.name}'`,
      formatCount(p.outputs),
      formatCount(p.latency.samples),
      formatMs(p.latency.p50Ms),
      formatMs(p.latency.p99Ms),
      formatMs(p.latency.maxMs),
    ]),
    [
      'worker ingress to egress',
      formatCount(m.messages),
      formatCount(m.ingressEgress.samples),
      formatMs(m.ingressEgress.p50Ms),
      formatMs(m.ingressEgress.p99Ms),
      formatMs(m.ingressEgress.maxMs),
    ],
  ];
  const r = m.reporter;
  return [
    `latency in the last ${secs.toFixed(1)} s (${formatCount(m.messages / secs)} msgs/s in; markers, see docs/metrics.md)`,
    ...formatTable(['', 'messages', 'markers', 'p50', 'p99', 'max'], rows),
    ...(r === null
      ? []
      : [
          `metrics reports to ${r.address}: ${r.phase}; ${formatCount(r.sent)} sent, ` +
            `${formatCount(r.dropped)} dropped (receiver not reading), ${formatCount(r.skipped)} skipped (not connected)`,
        ]),
  ];
}
