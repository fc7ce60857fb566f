import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPool, type ActorRef } from '../../../actors/index.js';
import { tsThread } from '../../fixtures/ts-entry.js';

interface Api {
  counterRef(): ActorRef;
  blast(targets: ActorRef[], n: number): void;
  produce(targets: ActorRef[], n: number): void;
  waitFor(n: number): Promise<number>;
  stats(): { parks: number; batchesOut: number };
}

let pool: ThreadPool<Api> | undefined;
afterEach(async () => {
  await pool?.terminate();
  pool = undefined;
});

describe('ThreadPool with real scheduler threads', () => {
  it('moves messages between threads over the rings, exactly once', async () => {
    pool = await ThreadPool.start<Api, unknown>({
      threads: 3,
      ...tsThread('./counting-thread.ts'),
      appData: {},
      ringBytes: 64 * 1024,
    });
    const refs = await Promise.all(pool.remotes.map((r) => r.counterRef()));
    const n = 20_000;
    await Promise.all(pool.remotes.map((r) => r.blast(refs, n)));
    const counts = await Promise.all(pool.remotes.map((r) => r.waitFor(3 * n)));
    expect(counts).toEqual([3 * n, 3 * n, 3 * n]);
    const stats = await Promise.all(pool.remotes.map((r) => r.stats()));
    for (const s of stats) expect(s.batchesOut).toBeGreaterThan(0);
  });

  it('wakes a parked thread when a batch arrives', async () => {
    pool = await ThreadPool.start<Api, unknown>({
      threads: 2,
      ...tsThread('./counting-thread.ts'),
      appData: {},
    });
    const refs = await Promise.all(pool.remotes.map((r) => r.counterRef()));
    // Let thread 1 go idle and park, then send it a single message.
    const parked = async () => (await pool!.remotes[1]!.stats()).parks;
    while ((await parked()) === 0) await new Promise((r) => setTimeout(r, 5));
    await pool.remotes[0]!.blast([refs[1]!], 1);
    expect(await pool.remotes[1]!.waitFor(1)).toBe(1);
  });

  // Regression: a thread could count the "pressure relieved" doorbell ring in
  // the value it parked on, then sleep forever with its sources muted.
  it('never sleeps with muted sources once pressure is relieved', async () => {
    pool = await ThreadPool.start<Api, unknown>({
      threads: 2,
      ...tsThread('./counting-thread.ts'),
      appData: { overloadHigh: 64 },
    });
    const refs = await Promise.all(pool.remotes.map((r) => r.counterRef()));
    const n = 200_000;
    await Promise.all(pool.remotes.map((r) => r.produce(refs, n)));
    const counts = await Promise.all(pool.remotes.map((r) => r.waitFor(2 * n)));
    expect(counts).toEqual([2 * n, 2 * n]);
  }, 30_000);
});
