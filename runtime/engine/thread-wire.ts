/**
 * Wiring a thread's stages: each stage's chain and route compiled into the
 * emit function of the actors that run it (a source, the parallel
 * replica, the state step its key groups run), with the barrier fan-out
 * and, when metrics are on, the step meters and the latency-marker route;
 * and each actor's barrier count: how many barriers of a checkpoint it
 * waits for before it aligns (the aligning itself is the actor's).
 */
import type { Wiring } from '../routing/index.js';
import { expectedBarriers, upstreamKinds, type Instances } from './barrier-plan.js';
import {
  applyComputation,
  compileBarrier,
  compileMarker,
  compileStageEmit,
  type RouteContext,
} from './emitters.js';
import type { SinkEncoder, SinkWriter } from './sink-actors.js';
import type { SourceActor } from './source-actor.js';
import type { KeyGroupActor, ParallelActor, StateStep } from './stage-actors.js';

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

/** The actors of this thread that count barriers. */
export interface BarrierActors {
  readonly sources: readonly SourceActor[];
  readonly parallels: ReadonlyMap<number, ParallelActor>;
  readonly keyGroups: readonly KeyGroupActor[];
  readonly encoders: ReadonlyMap<number, SinkEncoder>;
  readonly writers: ReadonlyMap<number, SinkWriter>;
}

/**
 * Sets how many barriers each actor of this thread waits for: one from
 * every upstream actor that may send to it, in the whole cluster (a key
 * group, a parallel replica), on this thread (a sink encoder), or one per
 * thread of this worker (a sink writer); and each key group's barrier
 * fan-out over its partition's routes.
 */
export function wireBarriers(ctx: RouteContext, wiring: Wiring, actors: BarrierActors): void {
  const p = ctx.plan;
  const kinds = upstreamKinds(p);
  const cluster: Instances = {
    source: (id) => wiring.directories.reduce((n, d) => n + (d.sources[String(id)] ?? 0), 0),
    parallel: (id) =>
      wiring.directories.reduce((n, d) => n + (d.parallel[String(id)]?.length ?? 0), 0),
    partition: (pi) => p.partitions[pi]?.grouper.groups ?? 0,
  };
  const local: Instances = {
    source: (id) => actors.sources.filter((s) => s.stage.id === id).length,
    parallel: (id) => (actors.parallels.has(id) ? 1 : 0),
    partition: (pi) => actors.keyGroups.filter((kg) => kg.partitionIndex === pi).length,
  };
  for (const kg of actors.keyGroups) {
    kg.barriers.expected = expectedBarriers(kinds, cluster, `partition:${kg.partitionIndex}`);
    const routes = p.stages.flatMap((s) =>
      s.kind === 'state' && s.partition === kg.partition.name ? [s.route] : [],
    );
    kg.forward = compileBarrier(routes, ctx);
  }
  for (const [id, actor] of actors.parallels)
    actor.barriers.expected = expectedBarriers(kinds, cluster, `parallel:${id}`);
  for (const [id, encoder] of actors.encoders)
    encoder.barriers.expected = expectedBarriers(kinds, local, `sink:${id}`);
  const threads = wiring.members[wiring.me]?.threads ?? 1;
  for (const writer of actors.writers.values()) writer.barriers.expected = threads;
}
