import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { histOf } from '../../../protocols/index.js';
import { OPEN_SLOTS, Ring, Series } from '../../../runtime/metrics/index.js';
import { lat } from './reports.js';

describe('ring', () => {
  it('keeps the newest `capacity` items, oldest first', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer(), { maxLength: 100 }),
        (cap, xs) => {
          const r = new Ring<number>(cap);
          const dropped: number[] = [];
          for (const x of xs) {
            const d = r.push(x);
            if (d !== undefined) dropped.push(d);
          }
          expect(r.toArray()).toEqual(xs.slice(-cap));
          expect(r.length).toBe(Math.min(cap, xs.length));
          expect(dropped).toEqual(xs.slice(0, Math.max(0, xs.length - cap)));
          expect(r.last()).toBe(xs[xs.length - 1]);
        },
      ),
    );
    expect(() => new Ring(0)).toThrow(RangeError);
    const r = new Ring<number>(2);
    r.push(1);
    r.clear();
    expect(r.toArray()).toEqual([]);
  });
});

describe('series', () => {
  it('sums messages and merges latencies per 2 s slot', () => {
    const s = new Series(2000, 150);
    s.add(10_000, 5, lat(1000, 5));
    s.add(11_999, 3, lat(3000, 3));
    s.add(12_000, 2, lat(2000, 2));
    const points = s.toPoints();
    expect(points.map((p) => [p.t, p.messages, p.count])).toEqual([
      [10_000, 8, 8],
      [12_000, 2, 2],
    ]);
    // Bucket middles: 1000 is one exactly; 3000 is read within 1/64.
    expect(points[0]!.p50).toBe(1000);
    expect(Math.abs(points[0]!.p99 - 3000)).toBeLessThanOrEqual(3000 / 64);
    expect(points[0]!.max).toBe(3000);
    expect(points[1]!.p50).toBe(2000);
  });

  it('closes slots older than the open ones and keeps a fixed number of points', () => {
    const s = new Series(1000, 10);
    for (let t = 0; t < 100; t++) s.add(t * 1000, 1, lat(100, 1));
    const points = s.toPoints();
    expect(points).toHaveLength(10);
    expect(points.map((p) => p.t)).toEqual(Array.from({ length: 10 }, (_, i) => (90 + i) * 1000));
    expect(s.recent()).toHaveLength(OPEN_SLOTS);
    expect(s.toPoints(97_000).map((p) => p.t)).toEqual([97_000, 98_000, 99_000]);
  });

  it('counts a report for a closed slot in the oldest open one, losing nothing', () => {
    const s = new Series(1000, 10);
    s.add(10_000, 1, lat(100, 1));
    s.add(20_000, 1, lat(100, 1));
    s.add(5_000, 4, histOf([[7, 4]]));
    const points = s.toPoints();
    expect(points.reduce((n, p) => n + p.messages, 0)).toBe(6);
    expect(points.find((p) => p.t === 20_000)!.messages).toBe(5);
  });

  it('closes the slots of a silent series as time advances', () => {
    const s = new Series(1000, 10);
    s.add(1000, 1, lat(100, 1));
    expect(s.recent()).toHaveLength(1);
    s.advance(1 + OPEN_SLOTS);
    expect(s.recent()).toHaveLength(0);
    expect(s.toPoints()).toHaveLength(1);
  });
});

describe('series points', () => {
  it('stay unique and ascending, and count every message, whatever the order reports come in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 40 }), fc.integer({ min: 1, max: 9 }), fc.boolean()), {
          maxLength: 80,
        }),
        (adds) => {
          const s = new Series(1000, 1000);
          let total = 0;
          for (const [slot, n, sweep] of adds) {
            s.add(slot * 1000 + 10, n, lat(100, n));
            total += n;
            if (sweep) s.advance(slot + OPEN_SLOTS + 1);
          }
          const ts = s.toPoints().map((p) => p.t);
          expect(ts).toEqual([...new Set(ts)].sort((a, b) => a - b));
          expect(s.toPoints().reduce((n, p) => n + p.messages, 0)).toBe(total);
        },
      ),
    );
  });
});
