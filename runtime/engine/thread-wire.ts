/**
 * Wiring a thread's stages: each stage's chain and route compiled into the
 * emit function of the actors that run it (a source, the parallel
 * replica, the state step its key groups run), with the barrier fan-out
 * and, when metrics are on, the step meters and the latency-marker route.
 */
import {
  applyComputation,
  compileBarrier,
  compileMarker,
  compileStageEmit,
  type RouteContext,
} from './emitters.js';
import type { SourceActor } from './source-actor.js';
import type { ParallelActor, StateStep } from './stage-actors.js';

/** The actors of this thread that run stages. */
export interface StageActors {
  readonly parallels: ReadonlyMap<number, ParallelActor>;
  readonly stateSteps: ReadonlyMap<number, StateStep>;
  readonly sources: readonly SourceActor[];
}

/** Compiles every stage of the plan onto this thread's actors. */
export function wireStages(ctx: RouteContext, actors: StageActors): void {
  const { recorder, errors } = ctx;
  for (const stage of ctx.plan.stages) {
    const emit = compileStageEmit(stage, ctx);
    const marker = compileMarker(stage.route, recorder?.table.stagePipeline[stage.id] ?? 0, ctx);
    if (stage.kind === 'parallel') {
      const actor = actors.parallels.get(stage.id);
      if (actor !== undefined) {
        const head = recorder?.table.stageSteps[stage.id]?.[0];
        actor.emit = applyComputation(stage.computation, emit, errors, recorder?.step(head));
        actor.forward = compileBarrier([stage.route], ctx);
        actor.marker = marker;
      }
    } else if (stage.kind === 'state') {
      const step = actors.stateSteps.get(stage.id);
      if (step !== undefined) {
        step.emit = emit;
        step.marker = marker;
      }
    } else {
      for (const s of actors.sources)
        if (s.stage.id === stage.id) {
          s.emit = emit;
          s.forward = compileBarrier([stage.route], ctx);
          if (s.markers !== undefined) s.markers.send = marker;
        }
    }
  }
}
