import { describe, expect, it } from 'vitest';
import { TraceKind, type SavedTrace } from '../../../actors/index.js';
import { analyzeTail, formatTail, percentile } from '../../../bench/latency-trace.js';

type Ev = [number, number, number, number];

function saved(name: string, events: Ev[]): SavedTrace {
  return { name, clock: 'CLOCK_MONOTONIC ms', kinds: {}, dropped: 0, events };
}

/**
 * 100 messages, one per ms: sent at i, read at i + 0.1, taken at i + 0.2,
 * written at i + 0.3, received at i + 0.4 (0.4 ms each), except message 50,
 * whose write waits for a 5 ms GC pause on the sink thread, and messages 80
 * to 83, whose reads wait for a slice of the source thread that ends at 83.
 */
function scenario(o: { gc: boolean; slowWrite: boolean } = { gc: true, slowWrite: true }) {
  const n = 100;
  const sendMs = new Float64Array(n);
  const recvMs = new Float64Array(n);
  const source: Ev[] = [];
  const sink: Ev[] = [];
  for (let i = 0; i < n; i++) {
    sendMs[i] = i;
    let read = i + 0.1;
    let write = i + 0.3;
    if (i === 50 && o.slowWrite) write = i + 5.5;
    if (i >= 80 && i <= 83) {
      read = 83.1;
      write = read + 0.2;
    }
    recvMs[i] = write + 0.1;
    source.push([read, TraceKind.SOURCE_READ, 100, 1], [read + 0.1, TraceKind.SOURCE_TAKE, 100, 0]);
    sink.push([write, TraceKind.SINK_WRITE, 10, 1]);
  }
  if (o.gc) sink.push([50.3, TraceKind.GC, 5, 0]);
  source.push([79.9, TraceKind.ITERATION_START, 0, 0], [83.05, TraceKind.ITERATION_END, 9, 1]);
  source.sort((a, b) => a[0] - b[0]);
  sink.sort((a, b) => a[0] - b[0]);
  return {
    sendMs,
    recvMs,
    count: n,
    threads: [saved('t0', source), saved('t1', sink)],
    benchGc: [],
  };
}

describe('analyzeTail', () => {
  it('finds the p99 threshold and puts each slow message down to what overlapped it', () => {
    const b = analyzeTail(scenario());
    expect(b.messages).toBe(100);
    expect(b.slow).toBe(1);
    expect(b.thresholdMs).toBeCloseTo(3.4, 5);
    expect(b.causes).toEqual([
      { cause: 'GC pause in worker t1', count: 1, medianMs: expect.closeTo(5.6, 5) as number },
    ]);
    expect(b.gc.find((g) => g.where === 'worker t1')).toMatchObject({ count: 1, maxMs: 5 });
    expect(b.longIterations.find((l) => l.thread === 't0')?.count).toBe(1);
  });

  it('without the pause, puts the slow write down to the engine stage', () => {
    const b = analyzeTail(scenario({ gc: false, slowWrite: true }));
    expect(b.slow).toBe(1);
    expect(b.causes[0]?.cause).toBe(
      'C: in the engine (sink thread between iterations (event loop) after the take)',
    );
    expect(b.stages.find((s) => s.stage.startsWith('C'))?.allMs).toBeCloseTo(0.1, 5);
  });

  it('blames a source thread busy in a long slice when the read is what waited', () => {
    const b = analyzeTail(scenario({ gc: false, slowWrite: false }));
    expect(b.slow).toBe(1);
    expect(b.causes[0]?.cause).toBe('A: source thread in a slice over 1 ms when sent');
    expect(b.stages.find((s) => s.stage.startsWith('A'))?.slowMs).toBeCloseTo(3.1, 5);
  });

  it('formats a markdown breakdown', () => {
    const lines = formatTail(analyzeTail(scenario()));
    expect(lines[0]).toMatch(/^Messages above p99 \(3\.400 ms\): 1 of 100\./);
    expect(lines.some((l) => l.startsWith('| GC pause in worker t1 | 1 | 100.0 % |'))).toBe(true);
  });

  it('percentile picks the nearest rank', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 100)).toBe(5);
    expect(percentile([], 99)).toBeNaN();
  });
});
