import { describe, expect, it } from 'vitest';
import type { WorkerStatus } from '../../../runtime/cluster/status.js';
import { bar, formatWatchFrame, perSecond } from '../../../runtime/cli/status-frame.js';

/** A status with the fields the frame reads; counters scaled by `k`. */
function status(k: number, over: Partial<WorkerStatus> = {}): WorkerStatus {
  return {
    worker: 'w1',
    application: 'Word Count',
    pid: 42,
    startedAt: '2026-01-01T00:00:00.000Z',
    uptimeMs: 61_000,
    threads: 2,
    routingVersion: 3,
    lifecycle: null,
    cluster: {
      id: 'c',
      members: [
        { name: 'w1', external: '127.0.0.1:1', self: true, keyGroups: 128 },
        { name: 'w2', external: null, self: false, keyGroups: 128 },
      ],
      reconfiguration: null,
    },
    totals: { received: 1_000 * k, written: 4_000 * k, encoded: 4_000 * k, entities: 10 },
    threadStats: [0, 1].map((t) => ({
      thread: t,
      actors: 3,
      idle: false,
      utilization: 0.9,
      turns: 0,
      delivered: 2_000 * k * (t + 1),
      direct: 0,
      queued: 5 * t,
      deepestMailbox: 4 * t,
      gcMs: 0,
      gcLongestMs: 0,
      sentLocal: 0,
      sentRemote: 0,
      batchesIn: 0,
      batchesOut: 0,
      parks: 0,
      entities: 5,
      sentToWorkers: 0,
      receivedFromWorkers: 0,
    })),
    sources: [],
    sinks: [],
    partitions: [],
    errors: {},
    lastCheckpoint: 0,
    metrics: null,
    ...over,
  };
}

describe('the roo status --watch frame', () => {
  it('computes throughput between two polls and shows the routing version and threads', () => {
    const lines = formatWatchFrame(
      { status: status(3), atMs: 3_000 },
      { status: status(1), atMs: 1_000 },
      '127.0.0.1:1',
    );
    expect(lines[0]).toBe('roo status --watch 127.0.0.1:1    (Ctrl-C to quit)');
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe(
      "worker w1 (pid 42) running 'Word Count' for 1m 01s; 2 threads; routing table version 3; 2 workers",
    );
    // (3000 - 1000) received over 2 s; (12000 - 4000) written over 2 s.
    expect(lines[3]).toBe(
      'throughput   1,000 msgs/s in, 4,000 outputs/s written  (totals 3,000 in, 12,000 written)',
    );
    const text = lines.join('\n');
    // No metrics period yet: cumulative utilisation; delivered/s from the two polls.
    expect(text).toMatch(/^ +0 +90\.0% +#{18}\.\. +0 +0 +2,000$/m);
    expect(text).toMatch(/^ +1 +90\.0% +#{18}\.\. +5 +4 +4,000$/m);
    expect(text).toContain('latency: none yet');
  });

  it('shows "-" for rates on the first frame, and the last good frame with the reason a poll failed', () => {
    const first = formatWatchFrame({ status: status(1), atMs: 0 }, undefined, 'h:1');
    expect(first[3]).toMatch(/^throughput {3}- msgs\/s in, - outputs\/s written/);
    const failed = formatWatchFrame({ status: status(1), atMs: 0 }, undefined, 'h:1', 'timed out');
    expect(failed[1]).toBe('no answer: timed out');
    expect(failed.slice(2)).toEqual(first.slice(2));
  });

  it("shows the metrics period's latency and per-thread utilisation, checkpoints and errors", () => {
    const latency = { samples: 9, p50Ms: 0.5, p99Ms: 2, maxMs: 3 };
    const s = status(2, {
      lastCheckpoint: 7,
      errors: { 'ROO_ERR_DECODER_FAILED @ source': 3 },
      metrics: {
        at: '2026-01-01T00:01:00.000Z',
        periodMs: 2_000,
        messages: 500,
        pipelines: [{ name: 'Split and Count', outputs: 800, latency }],
        ingressEgress: latency,
        utilization: [0.25, 1],
        reporter: {
          address: '127.0.0.1:5001',
          phase: 'connected',
          sent: 30,
          dropped: 2,
          skipped: 1,
        },
      },
      cluster: { id: 'c', members: [], reconfiguration: { id: 4, phase: 'moving' } },
    });
    const text = formatWatchFrame({ status: s, atMs: 1 }, undefined, 'h:1').join('\n');
    expect(text).toContain('checkpoint   7 committed (newest)');
    expect(text).toContain('reconfiguration 4 under way (moving)');
    expect(text).toMatch(/^ +0 +25\.0% +#{5}\.{15} /m);
    expect(text).toMatch(/^ +1 +100\.0% +#{20} /m);
    expect(text).toMatch(/^pipeline 'Split and Count' +800 +9 +0\.500 ms +2\.000 ms +3\.000 ms$/m);
    expect(text).toContain('errors: 3 (roo status for the list)');
    expect(text).toContain(
      'metrics reports to 127.0.0.1:5001: connected; 30 sent, 2 dropped (receiver not reading), 1 skipped (not connected)',
    );
  });

  it('rates and bars are bounded', () => {
    expect(perSecond(10, 20, 1_000)).toBe(0);
    expect(perSecond(10, 5, 0)).toBe(0);
    expect(perSecond(1_005, 5, 500)).toBe(2_000);
    expect(bar(-1, 4)).toBe('....');
    expect(bar(2, 4)).toBe('####');
    expect(bar(0.5, 4)).toBe('##..');
  });
});
