import { describe, expect, it } from 'vitest';
import {
  application,
  computation,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  type KeyedPipeline,
  type Pipeline,
} from '../../../runtime/api/index.js';
import {
  barrierCycle,
  expectedBarriers,
  targetOf,
  upstreamKinds,
  type Instances,
  type Target,
} from '../../../runtime/engine/barrier-plan.js';
import { buildPlan, type Plan } from '../../../runtime/topology/plan.js';

const source = (name: string) => generatorSource<string>({ name, generate: (i) => `w${i % 7}` });
const split = computation<string, string>('split', (line) => line.split(' '));
const upper = computation<string, string>('upper', (w) => w.toUpperCase());
const count = (name: string) =>
  stateComputation<string, { n: number }, string>(name, (w, s) => `${w} ${++s.n}`);
const partition = (name: string) => statePartition(name, { initial: () => ({ n: 0 }) });
const P = partition('P');
const Q = partition('Q');
const R = partition('R');

/** Keys by the word and runs a counting state computation on `p`. */
const on = (pipe: Pipeline<string>, p: typeof P, step = `count on ${p.name}`): Pipeline<string> =>
  (pipe.keyBy((w) => w) as KeyedPipeline<string>).toStateful(count(step), p);

/**
 * Instances chosen so that every kind has a distinct count: a wrong kind in a
 * sum shows as a wrong number. Sources and parallel stages by stage id,
 * partitions by index.
 */
function instances(
  sources: Record<number, number>,
  parallels: Record<number, number>,
  groups: Record<number, number>,
): Instances {
  const pick = (m: Record<number, number>, id: number): number => {
    const n = m[id];
    if (n === undefined) throw new Error(`no instance count for ${id}`);
    return n;
  };
  return {
    source: (id) => pick(sources, id),
    parallel: (id) => pick(parallels, id),
    partition: (pi) => pick(groups, pi),
  };
}

const partitionOf = (plan: Plan, name: string): Target =>
  `partition:${plan.partitions.findIndex((p) => p.name === name)}`;

/** source -> parallel split -> partition 'P' -> sink, as word count is built. */
function wordCount(): Plan {
  const app = application('word count');
  on(app.pipeline(source('lines')).toParallel(split), P).toSink(nullSink());
  return buildPlan(app.build());
}

describe('upstreamKinds and expectedBarriers', () => {
  it('word count: the parallel stage waits for every source, the partition for every replica, the sink for every group', () => {
    const plan = wordCount();
    expect(plan.stages.map((s) => s.kind)).toEqual(['source', 'parallel', 'state']);
    const kinds = upstreamKinds(plan);
    // Every non-state stage, then every partition; a state stage is its partition's.
    expect(kinds.map((k) => [k.kind, k.id, [...k.targets]])).toEqual([
      ['source', 0, ['parallel:1']],
      ['parallel', 1, ['partition:0']],
      ['partition', 0, ['sink:0']],
    ]);
    // One worker of 2 threads: one source instance, a replica per thread.
    const one = instances({ 0: 1 }, { 1: 2 }, { 0: 256 });
    expect(expectedBarriers(kinds, one, 'parallel:1')).toBe(1);
    expect(expectedBarriers(kinds, one, 'partition:0')).toBe(2);
    expect(expectedBarriers(kinds, one, 'sink:0')).toBe(256);
    // Three workers of 4 threads, a source on each: 3 sources, 12 replicas.
    const cluster = instances({ 0: 3 }, { 1: 12 }, { 0: 64 });
    expect(expectedBarriers(kinds, cluster, 'parallel:1')).toBe(3);
    expect(expectedBarriers(kinds, cluster, 'partition:0')).toBe(12);
    expect(expectedBarriers(kinds, cluster, 'sink:0')).toBe(64);
    // Nothing routes to the source stage: it waits for none (it injects barriers).
    expect(expectedBarriers(kinds, cluster, 'parallel:0')).toBe(0);
  });

  it('stateless steps coalesced after a source do not add an upstream kind', () => {
    const app = application('coalesced');
    on(app.pipeline(source('lines')).to(split).to(upper), P)
      .to(upper)
      .toSink(nullSink());
    const plan = buildPlan(app.build());
    const kinds = upstreamKinds(plan);
    expect(kinds.map((k) => [k.kind, k.id, [...k.targets]])).toEqual([
      ['source', 0, ['partition:0']],
      ['partition', 0, ['sink:0']],
    ]);
    const n = instances({ 0: 2 }, {}, { 0: 8 });
    expect(expectedBarriers(kinds, n, 'partition:0')).toBe(2);
    expect(expectedBarriers(kinds, n, 'sink:0')).toBe(8);
  });

  it('two pipelines sharing a partition: it waits for the upstream actors of both; each sink for every group', () => {
    const app = application('shared');
    on(app.pipeline(source('a'), 'A'), P, 'count a').toSink(nullSink('sink a'));
    on(app.pipeline(source('b'), 'B').toParallel(split), P, 'count b').toSink(nullSink('sink b'));
    const plan = buildPlan(app.build());
    expect(plan.partitions.map((p) => p.name)).toEqual(['P']);
    // Stages: 0 source a, 1 state (a), 2 source b, 3 parallel split, 4 state (b).
    expect(plan.stages.map((s) => s.kind)).toEqual([
      'source',
      'state',
      'source',
      'parallel',
      'state',
    ]);
    const kinds = upstreamKinds(plan);
    const p = kinds.find((k) => k.kind === 'partition');
    // One key-group actor hosts both state stages: it routes to the union of their targets.
    expect([...(p?.targets ?? [])].sort()).toEqual(['sink:0', 'sink:1']);
    const n = instances({ 0: 1, 2: 3 }, { 3: 5 }, { 0: 16 });
    // Source a sends straight to P, source b through the 5 replicas: 1 + 5.
    expect(expectedBarriers(kinds, n, 'partition:0')).toBe(1 + 5);
    expect(expectedBarriers(kinds, n, 'parallel:3')).toBe(3);
    expect(expectedBarriers(kinds, n, 'sink:0')).toBe(16);
    expect(expectedBarriers(kinds, n, 'sink:1')).toBe(16);
  });

  it('partition -> partition: the second waits for every group of the first, not for sources', () => {
    const app = application('chain');
    on(on(app.pipeline(source('lines')), P), Q).toSink(nullSink());
    const plan = buildPlan(app.build());
    const kinds = upstreamKinds(plan);
    const p = partitionOf(plan, 'P');
    const q = partitionOf(plan, 'Q');
    const n = instances({ 0: 2 }, {}, { 0: 32, 1: 4 });
    expect(expectedBarriers(kinds, n, p)).toBe(2);
    expect(expectedBarriers(kinds, n, q)).toBe(32);
    expect(expectedBarriers(kinds, n, 'sink:0')).toBe(4);
  });

  it('a partition that routes to another from two stages still sends it one barrier per group', () => {
    const app = application('twice');
    on(on(app.pipeline(source('a'), 'A'), P, 'a on P'), Q, 'a on Q').done();
    on(on(app.pipeline(source('b'), 'B'), P, 'b on P'), Q, 'b on Q').done();
    const plan = buildPlan(app.build());
    const kinds = upstreamKinds(plan);
    const n = instances({ 0: 1, 3: 1 }, {}, { 0: 8, 1: 2 });
    expect(expectedBarriers(kinds, n, partitionOf(plan, 'P'))).toBe(2);
    expect(expectedBarriers(kinds, n, partitionOf(plan, 'Q'))).toBe(8);
    // Q's outputs are dropped: a dropping route has no target and sends no barrier.
    expect(kinds.find((k) => k.kind === 'partition' && k.id === 1)?.targets.size).toBe(0);
  });

  it('a sink fed directly by a source waits for the source instances only', () => {
    const app = application('pass-through');
    app.pipeline(source('a'), 'A').to(upper).toSink(nullSink('direct'));
    on(app.pipeline(source('b'), 'B'), P).toSink(nullSink('counted'));
    const plan = buildPlan(app.build());
    const kinds = upstreamKinds(plan);
    expect(kinds.find((k) => k.kind === 'source' && k.id === 0)?.targets).toEqual(
      new Set(['sink:0']),
    );
    const n = instances({ 0: 4, 1: 1 }, {}, { 0: 128 });
    expect(expectedBarriers(kinds, n, 'sink:0')).toBe(4);
    expect(expectedBarriers(kinds, n, 'sink:1')).toBe(128);
  });

  it('targetOf names what a route delivers to, and nothing for a drop', () => {
    const plan = wordCount();
    expect(plan.stages.map((s) => targetOf(plan, s.route))).toEqual([
      'parallel:1',
      'partition:0',
      'sink:0',
    ]);
    expect(targetOf(plan, { kind: 'drop' })).toBeUndefined();
  });
});

describe('barrierCycle', () => {
  it('finds a partition that feeds itself', () => {
    const app = application('self');
    on(on(app.pipeline(source('lines')), P, 'first'), P, 'second').toSink(nullSink());
    expect(barrierCycle(buildPlan(app.build()))).toBe("state partition 'P'");
  });

  it('finds a loop of two partitions across two pipelines', () => {
    const app = application('loop');
    on(on(app.pipeline(source('a'), 'A'), P, 'a on P'), Q, 'a on Q').toSink(nullSink('a'));
    on(on(app.pipeline(source('b'), 'B'), Q, 'b on Q'), P, 'b on P').toSink(nullSink('b'));
    expect(barrierCycle(buildPlan(app.build()))).toMatch(/^state partition '(P|Q)'$/);
  });

  it('finds a loop that passes through a parallel stage', () => {
    const app = application('loop via parallel');
    on(on(app.pipeline(source('a'), 'A'), P, 'a on P').toParallel(upper), Q, 'a on Q').done();
    on(on(app.pipeline(source('b'), 'B'), Q, 'b on Q'), P, 'b on P').done();
    expect(barrierCycle(buildPlan(app.build()))).toMatch(/^(state partition '(P|Q)'|stage #\d+)$/);
  });

  it('returns undefined for acyclic plans', () => {
    expect(barrierCycle(wordCount())).toBeUndefined();
    const chain = application('chain');
    on(on(on(chain.pipeline(source('lines')), P), Q), R).toSink(nullSink());
    expect(barrierCycle(buildPlan(chain.build()))).toBeUndefined();
    // A diamond: P reaches Q directly and through R. Reaching Q twice is not a loop.
    const diamond = application('diamond');
    on(on(diamond.pipeline(source('a'), 'A'), P, 'a on P'), Q, 'a on Q').done();
    on(on(on(diamond.pipeline(source('b'), 'B'), P, 'b on P'), R, 'b on R'), Q, 'b on Q').done();
    expect(barrierCycle(buildPlan(diamond.build()))).toBeUndefined();
    // Two pipelines sharing a partition, and a source straight to a sink.
    const shared = application('shared');
    on(shared.pipeline(source('a'), 'A'), P, 'a').toSink(nullSink('a'));
    on(shared.pipeline(source('b'), 'B').toParallel(split), P, 'b').toSink(nullSink('b'));
    shared.pipeline(source('c'), 'C').toSink(nullSink('c'));
    expect(barrierCycle(buildPlan(shared.build()))).toBeUndefined();
  });
});
