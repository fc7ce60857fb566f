import { describe, expect, it } from 'vitest';
import { clusterMap } from '../../../runtime/metrics/index.js';
import { movingRouting, report } from './reports.js';

const T0 = 1_700_000_000_000;

describe('cluster map', () => {
  it('places every key group on its owner and the thread the owner reports', () => {
    const map = clusterMap([
      { name: 'initializer', threads: 2, live: true, report: report('initializer', 0, T0, 1) },
      { name: 'worker2', threads: 2, live: true, report: report('worker2', 0, T0, 1) },
    ]);
    expect(map).toEqual({
      version: 1,
      members: [
        { name: 'initializer', threads: 2, live: true },
        { name: 'worker2', threads: 2, live: true },
      ],
      partitions: [
        {
          name: 'word totals',
          owner: [0, 1, 0, 1, 0, 1, 0, 1],
          thread: [0, 0, 1, 1, 0, 0, 1, 1],
          moving: [],
        },
      ],
    });
  });

  it('leaves a thread unknown until its owner reports, and unions moving groups', () => {
    const map = clusterMap([
      {
        name: 'initializer',
        threads: 2,
        live: true,
        report: report('initializer', 0, T0, 1, { routing: movingRouting('initializer', [3, 5]) }),
      },
      { name: 'worker2', threads: 2, live: true, report: undefined },
    ])!;
    expect(map.partitions[0]!.thread).toEqual([0, -1, 1, -1, 0, -1, 1, -1]);
    expect(map.partitions[0]!.moving).toEqual([3, 5]);
  });

  it('takes the newest routing version and ignores reports of older ones', () => {
    const newer = report('worker2', 0, T0, 1);
    const bumped = { ...newer, routing: { ...newer.routing, version: 2 } };
    const older = report('initializer', 0, T0 + 10, 1, {
      routing: movingRouting('initializer', [1]),
    });
    const map = clusterMap([
      { name: 'initializer', threads: 2, live: true, report: older },
      { name: 'worker2', threads: 2, live: true, report: bumped },
    ])!;
    expect(map.version).toBe(2);
    expect(map.partitions[0]!.moving).toEqual([]);
    expect(map.partitions[0]!.thread).toEqual([-1, 0, -1, 1, -1, 0, -1, 1]);
    expect(clusterMap([{ name: 'x', threads: 1, live: true, report: undefined }])).toBeUndefined();
  });
});
