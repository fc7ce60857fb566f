/**
 * The external channel's answers, built and formatted from facts without
 * threads or sockets: status, partition query, entity counts; the checks
 * that records from the wire have the fields the tables show; and the
 * tables themselves.
 */
import { describe, expect, it } from 'vitest';
import {
  application,
  nullSink,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
} from '../../../runtime/api/index.js';
import {
  parseEntityCounts,
  parsePartitionQuery,
  parseWorkerStatus,
} from '../../../runtime/cluster/status-check.js';
import {
  formatCount,
  formatDuration,
  formatEntityCounts,
  formatPartitionQuery,
  formatStatus,
  formatTable,
} from '../../../runtime/cluster/status-format.js';
import {
  DEFAULT_KEYS_PER_GROUP,
  MAX_KEYS_PER_GROUP,
  buildEntityCounts,
  buildPartitionQuery,
  buildStatus,
  keysPerGroupArg,
  type StatusFacts,
} from '../../../runtime/cluster/status.js';
import type { EngineStats } from '../../../runtime/engine/engine.js';
import type { KeyGroupKeys, ThreadStats } from '../../../runtime/engine/thread-control.js';
import { placePlan } from '../../../runtime/topology/placement.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

const count = stateComputation<string, { n: number }, string>('count', (w, s) => {
  s.n++;
  return `${w}=${s.n}`;
});
const totals = statePartition('totals', { initial: () => ({ n: 0 }), keyGroups: 8 });
const letters = statePartition('letters', { initial: () => ({ n: 0 }), keys: ['a', 'b', 'c'] });

/** Two pipelines: words into `totals` to a TCP sink, letters into `letters` to a null sink. */
function twoPipelines() {
  const app = application('Test App');
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'words' }))
    .keyBy((w) => w)
    .toStateful(count, totals)
    .toSink(tcpSink<string>({ address: { host: '127.0.0.1', port: 7002 }, encoder: (s) => s }));
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'letters' }))
    .keyBy((w) => w)
    .toStateful(count, letters)
    .toSink(nullSink('discard'));
  const plan = buildPlan(app.build());
  return { plan, placement: placePlan(plan, 2) };
}

function thread(t: number, over: Partial<ThreadStats> = {}): ThreadStats {
  return {
    thread: t,
    scheduler: {
      turns: 10 + t,
      delivered: 100 + t,
      direct: 40,
      sentLocal: 50,
      sentRemote: 7,
      batchesOut: 3,
      batchesIn: 4,
      bytesOut: 999,
      actorErrors: 0,
      badBatches: 0,
    },
    loop: { iterations: 5, parks: 2, utilization: 0.25 },
    actors: 12,
    mailboxes: { queued: 0, deepest: 0, deepestActor: '' },
    gc: {
      minor: { count: 0, ms: 0, maxMs: 0 },
      major: { count: 0, ms: 0, maxMs: 0 },
      other: { count: 0, ms: 0, maxMs: 0 },
    },
    sources: [],
    sinks: [],
    encoded: [],
    entities: {},
    errors: {},
    idle: true,
    dataChannel: { sent: [], received: 0, out: [], in: [] },
    ...over,
  };
}

function engineStats(threads: ThreadStats[]): EngineStats {
  return { threads, received: 30, written: 20, encoded: 25, errors: { 'X @ y': 2 } };
}

function facts(): StatusFacts {
  const { plan, placement } = twoPipelines();
  return {
    worker: 'w1',
    pid: 4242,
    startedAtMs: Date.UTC(2026, 0, 1),
    nowMs: Date.UTC(2026, 0, 1) + 3_723_004,
    external: '127.0.0.1:5050',
    plan,
    placement,
    listening: { words: '127.0.0.1:40001', letters: '127.0.0.1:40002' },
    stats: engineStats([
      thread(0, {
        sources: [
          {
            name: 'words',
            stage: 0,
            received: 20,
            bytes: 200,
            mutes: 1,
            muted: false,
            finished: false,
          },
        ],
        entities: { totals: 3, letters: 1 },
      }),
      thread(1, {
        sources: [
          {
            name: 'letters',
            stage: 3,
            received: 10,
            bytes: 10,
            mutes: 0,
            muted: false,
            finished: true,
          },
        ],
        sinks: [{ id: 0, outputs: 20, bytes: 80 }],
        entities: { totals: 2 },
        idle: false,
      }),
    ]),
  };
}

describe('buildStatus', () => {
  it('names the worker, its application, uptime and cluster members', () => {
    const s = buildStatus(facts());
    expect(s).toMatchObject({
      worker: 'w1',
      application: 'Test App',
      pid: 4242,
      startedAt: '2026-01-01T00:00:00.000Z',
      uptimeMs: 3_723_004,
      threads: 2,
      routingVersion: 1,
      cluster: { members: [{ name: 'w1', external: '127.0.0.1:5050', self: true }] },
      totals: { received: 30, written: 20, encoded: 25, entities: 6 },
      errors: { 'X @ y': 2 },
    });
  });

  it('reports each source with its listening address, threads and counters', () => {
    const s = buildStatus(facts());
    expect(s.sources).toEqual([
      {
        name: 'words',
        kind: 'tcp-source',
        listening: '127.0.0.1:40001',
        threads: [0],
        received: 20,
        bytes: 200,
        mutes: 1,
        finished: false,
      },
      {
        name: 'letters',
        kind: 'tcp-source',
        listening: '127.0.0.1:40002',
        threads: [1],
        received: 10,
        bytes: 10,
        mutes: 0,
        finished: true,
      },
    ]);
  });

  it('reports each sink with its target and writer thread', () => {
    const s = buildStatus(facts());
    expect(s.sinks).toEqual([
      {
        id: 0,
        name: 'tcp sink',
        kind: 'tcp-sink',
        target: '127.0.0.1:7002',
        thread: 1,
        outputs: 20,
        bytes: 80,
      },
      { id: 1, name: 'discard', kind: 'null-sink', target: null, thread: 0, outputs: 0, bytes: 0 },
    ]);
  });

  it('sums entities per partition and per thread', () => {
    const s = buildStatus(facts());
    expect(s.partitions).toEqual([
      { name: 'totals', keyGroups: 8, entities: 5 },
      { name: 'letters', keyGroups: 3, entities: 1 },
    ]);
    expect(s.threadStats.map((t) => [t.thread, t.entities, t.delivered, t.idle])).toEqual([
      [0, 4, 100, true],
      [1, 2, 101, false],
    ]);
  });

  it('is JSON-like: survives JSON and passes its own check', () => {
    const s = buildStatus(facts());
    const copy: unknown = JSON.parse(JSON.stringify(s));
    expect(copy).toEqual(s);
    expect(parseWorkerStatus(copy)).toEqual(s);
  });
});

describe('parseWorkerStatus', () => {
  it('refuses records missing what the table shows, with ROO_ERR_BAD_MESSAGE', () => {
    const s = JSON.parse(JSON.stringify(buildStatus(facts()))) as Record<string, unknown>;
    for (const broken of [
      null,
      [],
      'status',
      { ...s, worker: 7 },
      { ...s, totals: { received: 1 } },
      { ...s, sources: [{ name: 'x' }] },
      { ...s, cluster: { members: [{ name: 'a', external: 3, self: true }] } },
      { ...s, errors: { a: 'many' } },
    ]) {
      expect(() => parseWorkerStatus(broken)).toThrow(
        expect.objectContaining({ code: 'ROO_ERR_BAD_MESSAGE' }),
      );
    }
  });
});

describe('keysPerGroupArg', () => {
  it('defaults, clamps, and refuses what is not a whole number from 0', () => {
    expect(keysPerGroupArg(undefined)).toBe(DEFAULT_KEYS_PER_GROUP);
    expect(keysPerGroupArg({})).toBe(DEFAULT_KEYS_PER_GROUP);
    expect(keysPerGroupArg({ keysPerGroup: 0 })).toBe(0);
    expect(keysPerGroupArg({ keysPerGroup: 7 })).toBe(7);
    expect(keysPerGroupArg({ keysPerGroup: 1e9 })).toBe(MAX_KEYS_PER_GROUP);
    for (const bad of [
      { keysPerGroup: -1 },
      { keysPerGroup: 1.5 },
      { keysPerGroup: '3' },
      [],
      'x',
    ]) {
      expect(() => keysPerGroupArg(bad)).toThrow(
        expect.objectContaining({ code: 'ROO_ERR_BAD_MESSAGE' }),
      );
    }
  });
});

describe('buildPartitionQuery', () => {
  const { plan, placement } = twoPipelines();
  /** What the threads would report: every group they host, `keys` for a few. */
  function reported(keys: Record<string, string[]>, limit: number) {
    return [0, 1].map((t) => ({
      thread: t,
      groups: plan.partitions.flatMap((p, pi) =>
        (placement.keyGroupOwner[pi] ?? []).flatMap((owner, kg): KeyGroupKeys[] =>
          owner !== t
            ? []
            : [
                {
                  partition: pi,
                  keyGroup: kg,
                  count: (keys[`${pi}/${kg}`] ?? []).length,
                  keys: (keys[`${pi}/${kg}`] ?? []).slice(0, limit),
                },
              ],
        ),
      ),
    }));
  }

  it('lists every key group of every partition with the thread that hosts it and its keys', () => {
    const q = buildPartitionQuery({
      worker: 'w1',
      plan,
      placement,
      keysPerGroup: 100,
      threads: reported({ '0/3': ['x', 'y'], '1/2': ['c'] }, 100),
    });
    expect(q.worker).toBe('w1');
    expect(q.routingVersion).toBe(1);
    expect(q.partitions.map((p) => [p.name, p.keyGroups, p.groups.length, p.entities])).toEqual([
      ['totals', 8, 8, 2],
      ['letters', 3, 3, 1],
    ]);
    const g = q.partitions[0]!.groups[3]!;
    expect(g).toEqual({
      keyGroup: 3,
      worker: 'w1',
      thread: 1,
      count: 2,
      keys: ['x', 'y'],
      truncated: false,
    });
    for (const p of q.partitions) {
      p.groups.forEach((group, kg) => {
        expect(group.keyGroup).toBe(kg);
        expect(group.thread).toBe(kg % 2);
      });
    }
  });

  it('caps the keys listed per group and says so', () => {
    const q = buildPartitionQuery({
      worker: 'w1',
      plan,
      placement,
      keysPerGroup: 2,
      threads: reported({ '0/5': ['a1', 'a2', 'a3', 'a4'] }, 2),
    });
    expect(q.partitions[0]!.groups[5]).toMatchObject({
      count: 4,
      keys: ['a1', 'a2'],
      truncated: true,
    });
    expect(q.keysPerGroup).toBe(2);
  });

  it('reports the thread that hosts a group even where the placement disagrees', () => {
    const threads = [{ thread: 0, groups: [{ partition: 0, keyGroup: 1, count: 1, keys: ['k'] }] }];
    const q = buildPartitionQuery({ worker: 'w1', plan, placement, keysPerGroup: 5, threads });
    expect(q.partitions[0]!.groups[1]).toMatchObject({ thread: 0, keys: ['k'] });
    // A group nobody reported sits at its placed owner, empty.
    expect(q.partitions[0]!.groups[3]).toMatchObject({ thread: 1, count: 0, keys: [] });
  });

  it('leaves out key groups the placement gives to another worker', () => {
    const share = {
      ...placement,
      keyGroupOwner: placement.keyGroupOwner.map((owners) =>
        owners.map((t, kg) => (kg % 2 === 0 ? t : -1)),
      ),
    };
    const q = buildPartitionQuery({
      worker: 'w1',
      plan,
      placement: share,
      keysPerGroup: 5,
      threads: [],
    });
    expect(q.partitions[0]!.keyGroups).toBe(8);
    expect(q.partitions[0]!.groups.map((g) => g.keyGroup)).toEqual([0, 2, 4, 6]);
    expect(q.partitions[1]!.groups.map((g) => g.keyGroup)).toEqual([0, 2]);
  });

  it('survives JSON and passes its own check; malformed ones are refused', () => {
    const q = buildPartitionQuery({
      worker: 'w1',
      plan,
      placement,
      keysPerGroup: 10,
      threads: reported({ '0/0': ['z'] }, 10),
    });
    const copy: unknown = JSON.parse(JSON.stringify(q));
    expect(parsePartitionQuery(copy)).toEqual(q);
    const broken = JSON.parse(JSON.stringify(q)) as { partitions: { groups: unknown[] }[] };
    broken.partitions[0]!.groups[0] = {
      keyGroup: 0,
      worker: 'w1',
      thread: 0,
      count: 1,
      keys: [1],
      truncated: false,
    };
    expect(() => parsePartitionQuery(broken)).toThrow(/keys are strings/);
  });
});

describe('buildEntityCounts', () => {
  it('gives per partition the entities on each thread and the total', () => {
    const f = facts();
    const c = buildEntityCounts('w1', f.plan, f.stats);
    expect(c).toEqual({
      worker: 'w1',
      partitions: [
        {
          name: 'totals',
          total: 5,
          threads: [
            { worker: 'w1', thread: 0, entities: 3 },
            { worker: 'w1', thread: 1, entities: 2 },
          ],
        },
        {
          name: 'letters',
          total: 1,
          threads: [
            { worker: 'w1', thread: 0, entities: 1 },
            { worker: 'w1', thread: 1, entities: 0 },
          ],
        },
      ],
    });
    expect(parseEntityCounts(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(() => parseEntityCounts({ worker: 'w1', partitions: [{ name: 'x' }] })).toThrow(
      /malformed answer/,
    );
  });
});

describe('formatting', () => {
  it('formats durations and counts', () => {
    expect(formatDuration(0)).toBe('0.0s');
    expect(formatDuration(4_249)).toBe('4.2s');
    expect(formatDuration(61_000)).toBe('1m 01s');
    expect(formatDuration(3_723_004)).toBe('1h 02m 03s');
    expect(formatDuration(90_061_000)).toBe('1d 01h 01m');
    expect(formatCount(1_234_567)).toBe('1,234,567');
    expect(formatCount(0)).toBe('0');
  });

  it('aligns tables: numbers right, text left, no trailing spaces', () => {
    const lines = formatTable(
      ['name', 'count'],
      [
        ['a', '5'],
        ['longer', '1,000'],
      ],
    );
    expect(lines).toEqual(['name    count', '------  -----', 'a           5', 'longer  1,000']);
    for (const l of lines) expect(l).toBe(l.trimEnd());
  });

  it('shows the status as sections people can read', () => {
    const text = formatStatus(buildStatus(facts()));
    expect(text).toContain('worker       w1 (pid 4242)');
    expect(text).toContain('application  Test App');
    expect(text).toContain('uptime       1h 02m 03s (since 2026-01-01T00:00:00.000Z)');
    expect(text).toMatch(/^w1 +127\.0\.0\.1:5050 +11 +answering$/m);
    expect(text).toMatch(/^cluster \(alone\): 1 members$/m);
    expect(text).toMatch(/^words +tcp-source +127\.0\.0\.1:40001 +0 +20 +200 +1 +no$/m);
    expect(text).toMatch(/^tcp sink +tcp-sink +127\.0\.0\.1:7002 +1 +20 +80$/m);
    expect(text).toMatch(/^discard +null-sink +- +0 +0 +0$/m);
    expect(text).toMatch(/^totals +8 +5$/m);
    expect(text).toMatch(/^ +2 +X @ y$/m);
    expect(text.endsWith('\n')).toBe(true);
  });

  it("shows each thread's messages to other threads and to other workers as the record has them", () => {
    const f = facts();
    const threads = f.stats.threads.map((t, i) => ({
      ...t,
      dataChannel: { ...t.dataChannel, sent: [0, 43_004 + i], received: 17 * i },
    }));
    const status = buildStatus({ ...f, stats: { ...f.stats, threads } });
    expect(
      status.threadStats.map((t) => [t.sentRemote, t.sentToWorkers, t.receivedFromWorkers]),
    ).toEqual([
      [7, 43_004, 0],
      [7, 43_005, 17],
    ]);
    const text = formatStatus(status);
    expect(text).toMatch(/to same thread +to other threads +to workers +from workers/);
    expect(text).toMatch(/^ +0 +12 +25\.0% +100 +50 +7 +43,004 +0 +4 +yes$/m);
    expect(text).toMatch(/^ +1 +12 +25\.0% +101 +50 +7 +43,005 +17 +2 +no$/m);
  });

  it("shows the other members' external addresses the control channel told this worker", () => {
    const f = facts();
    const status = buildStatus({
      ...f,
      members: ['w1', 'w2', 'w3'],
      externals: { w2: '127.0.0.1:6060' },
    });
    expect(status.cluster.members.map((m) => m.external)).toEqual([
      '127.0.0.1:5050',
      '127.0.0.1:6060',
      null,
    ]);
    const text = formatStatus(status);
    expect(text).toMatch(/^w2 +127\.0\.0\.1:6060 /m);
    expect(text).toMatch(/^w3 +- /m);
  });

  it('shows the newest committed checkpoint and the last metrics period', () => {
    const f = facts();
    const latency = { samples: 40, p50Ms: 0.25, p99Ms: 1.5, maxMs: 2 };
    const status = buildStatus({
      ...f,
      lastCheckpoint: 12,
      metrics: {
        at: '2026-01-01T00:00:02.000Z',
        periodMs: 2_000,
        messages: 3_000,
        pipelines: [{ name: 'words', outputs: 2_500, latency }],
        ingressEgress: latency,
        utilization: [0.5, 0.25],
        reporter: null,
      },
    });
    expect(parseWorkerStatus(JSON.parse(JSON.stringify(status)))).toEqual(status);
    const text = formatStatus(status);
    expect(text).toContain('checkpoint   12 committed (newest)');
    expect(text).toContain('latency in the last 2.0 s (1,500 msgs/s in;');
    expect(text).toMatch(/^pipeline 'words' +2,500 +40 +0\.250 ms +1\.500 ms +2\.000 ms$/m);
    expect(text).toMatch(/^worker ingress to egress +3,000 +40 +0\.250 ms/m);
    expect(formatStatus(buildStatus(f))).not.toContain('latency in the last');
    expect(text).not.toContain('metrics reports to');
  });

  it("shows the worker's lifecycle; a worker of an older build has none", () => {
    const f = facts();
    const lifecycle = {
      phase: 'recovering',
      role: 'member',
      description: 'recovering (checkpoint 7)',
    };
    const status = buildStatus({ ...f, lifecycle });
    expect(status.lifecycle).toEqual(lifecycle);
    expect(parseWorkerStatus(JSON.parse(JSON.stringify(status)))).toEqual(status);
    expect(formatStatus(status)).toContain('lifecycle    recovering (checkpoint 7) (member)');
    const older: Record<string, unknown> = JSON.parse(JSON.stringify(buildStatus(f)));
    delete older['lifecycle'];
    const parsed = parseWorkerStatus(older);
    expect(parsed.lifecycle).toBeNull();
    expect(formatStatus(parsed)).not.toContain('lifecycle');
    expect(() => parseWorkerStatus({ ...older, lifecycle: { phase: 'running', role: 1 } })).toThrow(
      /lifecycle/,
    );
  });

  it('says "errors: none" when there are none', () => {
    const f = facts();
    const text = formatStatus(buildStatus({ ...f, stats: { ...f.stats, errors: {} } }));
    expect(text).toContain('errors: none');
  });

  it('lists the key groups that hold entities, with their keys, and sums up the rest', () => {
    const { plan, placement } = twoPipelines();
    const q = buildPartitionQuery({
      worker: 'w1',
      plan,
      placement,
      keysPerGroup: 2,
      threads: [
        { thread: 1, groups: [{ partition: 0, keyGroup: 3, count: 5, keys: ['x', 'y'] }] },
        { thread: 0, groups: [{ partition: 1, keyGroup: 0, count: 1, keys: ['a'] }] },
      ],
    });
    const text = formatPartitionQuery(q);
    expect(text).toContain("partition 'totals': 5 entities in 1 of 8 key groups");
    expect(text).toContain('key groups by worker/thread: w1/0: 4, w1/1: 4');
    expect(text).toMatch(/^ +3 +w1 +1 +5 +x y \.\.\. \(\+3\)$/m);
    expect(text).toContain("partition 'letters': 1 entities in 1 of 3 key groups");
    expect(text).toMatch(/^ +0 +w1 +0 +1 +a$/m);
  });

  it('shows entity counts per partition and thread with a total', () => {
    const f = facts();
    const text = formatEntityCounts(buildEntityCounts('w1', f.plan, f.stats));
    expect(text.split('\n')).toEqual([
      'partition  worker  thread  entities',
      '---------  ------  ------  --------',
      'totals     w1      0              3',
      'totals     w1      1              2',
      'totals     all                    5',
      'letters    w1      0              1',
      'letters    w1      1              0',
      'letters    all                    1',
      '',
    ]);
    expect(formatEntityCounts({ worker: 'w1', partitions: [] })).toBe('no state partitions\n');
  });
});
