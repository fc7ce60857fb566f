/**
 * The steps metrics are kept for, from a plan: every source, computation,
 * state computation and sink of every pipeline, in pipeline order, as
 * Wallaroo's metrics name them (its "computation" category), whatever stage
 * coalescing folded them into. Each step gets one flat index, the same on
 * every thread and worker (the plan is the same everywhere), so threads
 * record by index and the main thread merges by index.
 */
import type { Plan } from '../topology/plan.js';

/** What a step is. */
export type StepKind = 'source' | 'computation' | 'state' | 'sink';

/** One step as metrics name it. */
export interface MetricStep {
  /** Flat index over every pipeline's steps. */
  readonly index: number;
  /** Index of its pipeline in {@link MetricSteps.pipelines}. */
  readonly pipeline: number;
  readonly name: string;
  readonly kind: StepKind;
}

/** The steps of a plan, and where each stage's pieces are among them. */
export interface MetricSteps {
  /** Pipeline names, in plan order. */
  readonly pipelines: readonly string[];
  /** Every step, by flat index. */
  readonly steps: readonly MetricStep[];
  /**
   * stageSteps[stageId] = the flat index of the stage's head (its source,
   * parallel computation or state computation), then of each computation of
   * its coalesced chain, in order.
   */
  readonly stageSteps: readonly (readonly number[])[];
  /** sinkStep[sinkId] = the flat index of the sink's step. */
  readonly sinkStep: readonly number[];
  /** stagePipeline[stageId] = its pipeline's index. */
  readonly stagePipeline: readonly number[];
  /** sinkPipeline[sinkId] = its pipeline's index. */
  readonly sinkPipeline: readonly number[];
}

/** Lists a plan's steps (pure). */
export function metricSteps(plan: Pick<Plan, 'stages' | 'sinks'>): MetricSteps {
  const pipelines: string[] = [];
  const steps: MetricStep[] = [];
  const stageSteps: number[][] = [];
  const stagePipeline: number[] = [];
  const sinkStep: number[] = [];
  const sinkPipeline: number[] = [];
  const pipelineOf = (name: string): number => {
    const i = pipelines.indexOf(name);
    if (i >= 0) return i;
    pipelines.push(name);
    return pipelines.length - 1;
  };
  const add = (pipeline: number, name: string, kind: StepKind): number => {
    steps.push({ index: steps.length, pipeline, name, kind });
    return steps.length - 1;
  };
  // Stages are in pipeline order, each pipeline's source first; its sink follows its last stage.
  for (const stage of plan.stages) {
    const p = pipelineOf(stage.pipeline);
    const head =
      stage.kind === 'source'
        ? add(p, stage.source.name, 'source')
        : add(p, stage.computation.name, stage.kind === 'state' ? 'state' : 'computation');
    const own = [head, ...stage.chain.map((c) => add(p, c.name, 'computation'))];
    stageSteps[stage.id] = own;
    stagePipeline[stage.id] = p;
    const last = plan.stages.filter((s) => s.pipeline === stage.pipeline).at(-1);
    if (last === stage) {
      for (const sink of plan.sinks) {
        if (sink.pipeline !== stage.pipeline) continue;
        sinkStep[sink.id] = add(p, sink.config.name, 'sink');
        sinkPipeline[sink.id] = p;
      }
    }
  }
  return { pipelines, steps, stageSteps, sinkStep, stagePipeline, sinkPipeline };
}
