/**
 * One frame of `roo status --watch`: what a worker is doing now, from two
 * successive status answers (throughput is the difference of their counters
 * over the time between them). Pure: records in, lines out; the loop that
 * polls and redraws is status-watch.ts.
 */
import type { WorkerStatus } from '../cluster/status.js';
import {
  formatCount,
  formatDuration,
  formatLatency,
  formatTable,
} from '../cluster/status-format.js';

/** A status answer and when it came (ms, any monotonic clock). */
export interface Polled {
  readonly status: WorkerStatus;
  readonly atMs: number;
}

/** `n` per second between two counters `dtMs` apart (0 when no time passed or the counter went down). */
export function perSecond(now: number, before: number, dtMs: number): number {
  return dtMs > 0 && now >= before ? ((now - before) * 1000) / dtMs : 0;
}

/** A bar of `width` cells for a share 0..1. */
export function bar(share: number, width = 20): string {
  const n = Math.round(Math.min(1, Math.max(0, share)) * width);
  return '#'.repeat(n) + '.'.repeat(width - n);
}

/**
 * The frame's lines. `before` is the previous answer (undefined on the
 * first frame: throughput shows as `-`); `problem` is why the last poll
 * got no answer, shown under the header while the last good one stays on
 * screen.
 */
export function formatWatchFrame(
  now: Polled,
  before: Polled | undefined,
  address: string,
  problem?: string,
): string[] {
  const s = now.status;
  const dt = before === undefined ? 0 : now.atMs - before.atMs;
  const rate = (pick: (x: WorkerStatus) => number) =>
    before === undefined ? '-' : formatCount(perSecond(pick(s), pick(before.status), dt));
  const out = [
    `roo status --watch ${address}    (Ctrl-C to quit)`,
    problem === undefined ? '' : `no answer: ${problem}`,
    `worker ${s.worker} (pid ${s.pid}) running '${s.application}' for ${formatDuration(s.uptimeMs)}; ` +
      `${s.threads} threads; routing table version ${s.routingVersion}` +
      (s.cluster.members.length > 1 ? `; ${s.cluster.members.length} workers` : ''),
    `throughput   ${rate((x) => x.totals.received)} msgs/s in, ${rate((x) => x.totals.written)} outputs/s written` +
      `  (totals ${formatCount(s.totals.received)} in, ${formatCount(s.totals.written)} written)`,
  ];
  if (s.lastCheckpoint > 0) out.push(`checkpoint   ${s.lastCheckpoint} committed (newest)`);
  const r = s.cluster.reconfiguration;
  if (r !== null) out.push(`reconfiguration ${r.id} under way (${r.phase})`);
  out.push('');
  const period = s.metrics?.utilization;
  out.push(
    ...formatTable(
      ['thread', 'busy', '', 'queued', 'deepest mailbox', 'delivered/s'],
      s.threadStats.map((t, i) => {
        const busy = period?.[i] ?? t.utilization;
        const was = before?.status.threadStats.find((x) => x.thread === t.thread);
        return [
          String(t.thread),
          `${(busy * 100).toFixed(1)}%`,
          bar(busy),
          formatCount(t.queued),
          formatCount(t.deepestMailbox),
          was === undefined ? '-' : formatCount(perSecond(t.delivered, was.delivered, dt)),
        ];
      }),
    ),
  );
  out.push('');
  if (s.metrics === null)
    out.push('latency: none yet (the first metrics period ends 2 s after start)');
  else out.push(...formatLatency(s.metrics));
  const muted = s.sources.filter((x) => x.mutes > 0 && !x.finished);
  if (muted.length > 0)
    out.push(
      '',
      `backpressure: ${muted.map((x) => `'${x.name}' muted ${formatCount(x.mutes)} times`).join(', ')}`,
    );
  const errors = Object.values(s.errors).reduce((a, b) => a + b, 0);
  if (errors > 0) out.push('', `errors: ${formatCount(errors)} (roo status for the list)`);
  return out;
}
