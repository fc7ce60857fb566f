import { describe, expect, it } from 'vitest';
import { MAX_HELD, WorkerEvents } from '../../../runtime/engine/worker-events.js';

describe('WorkerEvents', () => {
  it('records a checkpoint this worker took once it commits, with its bytes and time', () => {
    const e = new WorkerEvents();
    e.checkpointTaken(3, 1_000.4, 12.5, 4096);
    expect(e.bytesOf(3)).toBe(4096);
    expect(e.drain().checkpoints).toEqual([]);
    e.checkpointCommitted(3);
    expect(e.lastCommitted).toBe(3);
    expect(e.bytesOf(3)).toBe(0);
    expect(e.drain().checkpoints).toEqual([
      { id: 3, startedAt: 1_000, durationMs: 12.5, bytes: 4096, outcome: 'committed' },
    ]);
    expect(e.drain().checkpoints).toEqual([]);
  });

  it('records an aborted checkpoint and its event', () => {
    const e = new WorkerEvents();
    e.checkpointTaken(4, 1, 1, 10);
    e.checkpointAborted(4, 'a worker was lost');
    const d = e.drain();
    expect(d.checkpoints.map((c) => c.outcome)).toEqual(['aborted']);
    expect(d.events.map((x) => [x.kind, x.text])).toEqual([
      ['checkpoint-aborted', 'checkpoint 4 aborted: a worker was lost'],
    ]);
  });

  it('holds at most MAX_HELD of each between drains and counts the rest as dropped', () => {
    const e = new WorkerEvents();
    for (let i = 1; i <= MAX_HELD + 7; i++) {
      e.event('join', `worker ${i} joined`);
      e.checkpointTaken(i, 0, 0, 0);
      e.checkpointCommitted(i);
    }
    const d = e.drain();
    expect(d.events).toHaveLength(MAX_HELD);
    expect(d.eventsDropped).toBe(7);
    expect(d.checkpoints).toHaveLength(MAX_HELD);
    expect(d.checkpointsDropped).toBe(7);
    const next = e.drain();
    expect([next.eventsDropped, next.checkpointsDropped]).toEqual([0, 0]);
  });
});
