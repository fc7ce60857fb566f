import { describe, expect, it } from 'vitest';
import {
  application,
  computation,
  nullSink,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
} from '../../../runtime/api/index.js';
import { metricSteps } from '../../../runtime/engine/metric-steps.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

const trim = computation<string, string>('trim', (s) => s.trim());
const upper = computation<string, string>('upper', (s) => s.toUpperCase());
const split = computation<string, string>('split', (s) => s.split(' '));
const count = stateComputation<string, { n: number }, string>('count', (w, s) => `${w}=${++s.n}`);
const totals = statePartition('totals', { initial: () => ({ n: 0 }) });

/** Two pipelines: one with every kind of stage and coalesced chains, one source straight to a sink. */
function plan() {
  const app = application('Steps');
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'lines' }))
    .to(trim)
    .toParallel(split)
    .to(upper)
    .keyBy((w) => w)
    .toStateful(count, totals)
    .to(trim)
    .toSink(tcpSink<string>({ address: { host: '127.0.0.1', port: 7002 }, encoder: (s) => s }));
  app
    .pipeline(tcpSource({ address: { host: '127.0.0.1', port: 0 }, name: 'raw' }))
    .toSink(nullSink('discard'));
  return buildPlan(app.build());
}

describe('metricSteps', () => {
  it('lists every step of every pipeline in order, whatever coalescing folded together', () => {
    const t = metricSteps(plan());
    expect(t.pipelines).toHaveLength(2);
    expect(t.steps.map((s) => [s.pipeline, s.name, s.kind])).toEqual([
      [0, 'lines', 'source'],
      [0, 'trim', 'computation'],
      [0, 'split', 'computation'],
      [0, 'upper', 'computation'],
      [0, 'count', 'state'],
      [0, 'trim', 'computation'],
      [0, 'tcp sink', 'sink'],
      [1, 'raw', 'source'],
      [1, 'discard', 'sink'],
    ]);
    expect(t.steps.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("maps each stage's head and chain, and each sink, to their steps", () => {
    const p = plan();
    const t = metricSteps(p);
    // Stages: source+trim, parallel split+upper, state count+trim, source raw.
    expect(p.stages.map((s) => s.kind)).toEqual(['source', 'parallel', 'state', 'source']);
    expect(t.stageSteps).toEqual([[0, 1], [2, 3], [4, 5], [7]]);
    expect(t.stagePipeline).toEqual([0, 0, 0, 1]);
    expect(t.sinkStep).toEqual([6, 8]);
    expect(t.sinkPipeline).toEqual([0, 1]);
  });
});
