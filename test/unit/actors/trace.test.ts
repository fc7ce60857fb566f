import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { monotonicMs, ThreadTrace, TraceKind, type SavedTrace } from '../../../actors/index.js';

describe('ThreadTrace', () => {
  it('records nothing and saves nothing when off', () => {
    const t = new ThreadTrace(undefined);
    expect(t.on).toBe(false);
    t.event(TraceKind.PARK);
    t.at(1, TraceKind.WAKE, 2);
    expect(t.snapshot('x').events).toEqual([]);
    expect(t.save('x')).toBeUndefined();
  });

  it('keeps the newest events when the ring wraps, oldest first, and counts the dropped', () => {
    const t = new ThreadTrace('/nonexistent', 4);
    for (let i = 0; i < 10; i++) t.at(i, TraceKind.FLUSH, i * 10, i);
    const s = t.snapshot('t');
    expect(s.dropped).toBe(6);
    expect(s.events).toEqual([
      [6, TraceKind.FLUSH, 60, 6],
      [7, TraceKind.FLUSH, 70, 7],
      [8, TraceKind.FLUSH, 80, 8],
      [9, TraceKind.FLUSH, 90, 9],
    ]);
  });

  it('stamps events on CLOCK_MONOTONIC, the clock of process.hrtime.bigint()', () => {
    const t = new ThreadTrace('/nonexistent', 8);
    const before = Number(process.hrtime.bigint()) / 1e6;
    t.event(TraceKind.PARK);
    const after = monotonicMs();
    const [ms] = t.snapshot('t').events[0] as readonly number[];
    expect(ms).toBeGreaterThanOrEqual(before - 0.001);
    expect(ms).toBeLessThanOrEqual(after + 0.001);
  });

  it('saves a trace file named after the thread, with the kinds spelled out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roo-trace-'));
    try {
      const t = new ThreadTrace(dir, 8);
      t.at(5, TraceKind.SINK_WRITE, 100, 3);
      const path = t.save('w1/thread 0');
      expect(path).toBe(join(dir, 'w1_thread_0.trace.json'));
      const saved = JSON.parse(readFileSync(path as string, 'utf8')) as SavedTrace;
      expect(saved.events).toEqual([[5, TraceKind.SINK_WRITE, 100, 3]]);
      expect(saved.kinds[TraceKind.SINK_WRITE]).toBe('SINK_WRITE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
