/**
 * From an application to a plan of stages. Consecutive stateless steps are
 * coalesced into the stage before them, so they run in that stage's actor
 * with no message between them:
 *  - a source stage: the source plus the stateless steps after it;
 *  - a parallel stage: a parallel computation plus what follows it up to the
 *    next keyed step (replicated on every thread);
 *  - a state stage: a state computation plus the stateless steps after it
 *    (runs in the key-group actors of its partition).
 * Each stage names where its outputs go next (its route). The plan is a
 * pure function of the application, so the main thread and every scheduler
 * thread, each calling the application module, get the same plan.
 */
import type { Application } from '../api/application.js';
import type { Computation, StateComputation, StatePartition } from '../api/computations.js';
import type { SinkConfig, SourceConfig } from '../api/connectors.js';
import { dynamicGrouper, fixedGrouper, type KeyGrouper } from './key-groups.js';

/** Where a stage's outputs go. */
export type Route =
  | { readonly kind: 'parallel'; readonly stage: number }
  | {
      readonly kind: 'state';
      readonly stage: number;
      readonly partition: string;
      readonly key: (input: unknown) => string;
    }
  | { readonly kind: 'sink'; readonly sink: number }
  | { readonly kind: 'drop' };

interface StageBase {
  readonly id: number;
  readonly pipeline: string;
  /** Stateless computations run after the stage's head, in order. */
  readonly chain: Computation<unknown, unknown>[];
  route: Route;
}

/** A source and the stateless steps coalesced after it. */
export interface SourceStage extends StageBase {
  readonly kind: 'source';
  readonly source: SourceConfig<unknown>;
}

/** A parallel computation and the steps coalesced after it. */
export interface ParallelStage extends StageBase {
  readonly kind: 'parallel';
  readonly computation: Computation<unknown, unknown>;
}

/** A state computation and the stateless steps coalesced after it. */
export interface StateStage extends StageBase {
  readonly kind: 'state';
  readonly computation: StateComputation<unknown, unknown, unknown>;
  readonly partition: string;
}

/** Any stage. */
export type Stage = SourceStage | ParallelStage | StateStage;

/** A state partition in the plan. */
export interface PlannedPartition {
  readonly name: string;
  readonly spec: StatePartition<unknown>;
  readonly grouper: KeyGrouper;
}

/** A sink in the plan. */
export interface PlannedSink {
  readonly id: number;
  readonly pipeline: string;
  readonly config: SinkConfig<unknown>;
}

/** The plan of an application. */
export interface Plan {
  readonly application: string;
  readonly stages: readonly Stage[];
  readonly partitions: readonly PlannedPartition[];
  readonly sinks: readonly PlannedSink[];
}

/** Builds the plan of an application. */
export function buildPlan(app: Application): Plan {
  const stages: Stage[] = [];
  const sinks: PlannedSink[] = [];
  for (const p of app.pipelines) {
    let current: Stage = {
      id: stages.length,
      kind: 'source',
      pipeline: p.name,
      source: p.source,
      chain: [],
      route: { kind: 'drop' },
    };
    stages.push(current);
    for (const step of p.steps) {
      if (step.kind === 'computation' && (!step.parallel || current.kind === 'parallel')) {
        current.chain.push(step.computation);
      } else if (step.kind === 'computation') {
        const next: ParallelStage = {
          id: stages.length,
          kind: 'parallel',
          pipeline: p.name,
          computation: step.computation,
          chain: [],
          route: { kind: 'drop' },
        };
        current.route = { kind: 'parallel', stage: next.id };
        stages.push(next);
        current = next;
      } else {
        const next: StateStage = {
          id: stages.length,
          kind: 'state',
          pipeline: p.name,
          computation: step.computation,
          partition: step.partition.name,
          chain: [],
          route: { kind: 'drop' },
        };
        current.route = {
          kind: 'state',
          stage: next.id,
          partition: step.partition.name,
          key: step.key,
        };
        stages.push(next);
        current = next;
      }
    }
    if (p.sink !== undefined) {
      const sink: PlannedSink = { id: sinks.length, pipeline: p.name, config: p.sink };
      sinks.push(sink);
      current.route = { kind: 'sink', sink: sink.id };
    }
  }
  const partitions = [...app.partitions.values()].map((spec) => ({
    name: spec.name,
    spec,
    grouper:
      spec.keys === undefined ? dynamicGrouper(spec.keyGroups) : fixedGrouper(spec.name, spec.keys),
  }));
  return { application: app.name, stages, partitions, sinks };
}

/** A one-line-per-stage description of a plan, for logs. */
export function describePlan(plan: Plan): string[] {
  return plan.stages.map((s) => {
    const head =
      s.kind === 'source'
        ? `source '${s.source.name}'`
        : s.kind === 'parallel'
          ? `parallel '${s.computation.name}'`
          : `state '${s.computation.name}' on partition '${s.partition}'`;
    const chain = s.chain.length > 0 ? ` + ${s.chain.map((c) => `'${c.name}'`).join(' + ')}` : '';
    const r = s.route;
    const to =
      r.kind === 'drop'
        ? 'nothing'
        : r.kind === 'sink'
          ? `sink #${r.sink}`
          : `${r.kind} stage #${r.stage}`;
    return `[${s.pipeline}] stage #${s.id}: ${head}${chain} -> ${to}`;
  });
}
