/**
 * How many barriers each actor waits for, from the plan and the cluster's
 * directory. An upstream actor sends one barrier per checkpoint to every
 * actor its stage may route to; a receiver waits for one from each upstream
 * actor that may send to it. Upstream actors come in three kinds: a source
 * instance, a parallel replica (one stage each), and a key-group actor (it
 * hosts every state stage of its partition, so it routes to the union of
 * their targets and sends one barrier to each).
 */
import type { Plan, Route } from '../topology/plan.js';

/** Where a route delivers: a partition's key groups, a parallel stage's replicas, or a sink. */
export type Target = `partition:${number}` | `parallel:${number}` | `sink:${number}`;

/** The target of a route, or undefined for a route that drops. */
export function targetOf(plan: Plan, route: Route): Target | undefined {
  switch (route.kind) {
    case 'state':
      return `partition:${plan.partitions.findIndex((p) => p.name === route.partition)}`;
    case 'parallel':
      return `parallel:${route.stage}`;
    case 'sink':
      return `sink:${route.sink}`;
    case 'drop':
      return undefined;
  }
}

/** An upstream actor kind and the targets each of its actors sends barriers to. */
export interface UpstreamKind {
  readonly kind: 'source' | 'parallel' | 'partition';
  /** Stage id (source, parallel) or partition index. */
  readonly id: number;
  readonly targets: ReadonlySet<Target>;
}

/** Every upstream actor kind of a plan. */
export function upstreamKinds(plan: Plan): UpstreamKind[] {
  const kinds: UpstreamKind[] = [];
  const add = (targets: Set<Target>, route: Route) => {
    const t = targetOf(plan, route);
    if (t !== undefined) targets.add(t);
  };
  for (const stage of plan.stages) {
    if (stage.kind === 'state') continue;
    const targets = new Set<Target>();
    add(targets, stage.route);
    kinds.push({ kind: stage.kind, id: stage.id, targets });
  }
  plan.partitions.forEach((partition, pi) => {
    const targets = new Set<Target>();
    for (const stage of plan.stages)
      if (stage.kind === 'state' && stage.partition === partition.name) add(targets, stage.route);
    kinds.push({ kind: 'partition', id: pi, targets });
  });
  return kinds;
}

/** How many actors of each upstream kind there are (in the cluster, or on one thread). */
export interface Instances {
  source(stageId: number): number;
  parallel(stageId: number): number;
  partition(partitionIndex: number): number;
}

/** Barriers an actor of `target` waits for per checkpoint, counting `instances`. */
export function expectedBarriers(
  kinds: readonly UpstreamKind[],
  instances: Instances,
  target: Target,
): number {
  let n = 0;
  for (const k of kinds) {
    if (!k.targets.has(target)) continue;
    n +=
      k.kind === 'source'
        ? instances.source(k.id)
        : k.kind === 'parallel'
          ? instances.parallel(k.id)
          : instances.partition(k.id);
  }
  return n;
}

/**
 * A plan whose routes loop back (a partition feeding itself, directly or
 * through other stages) cannot align: an actor on the loop would wait for a
 * barrier that it sends only after aligning. Returns a stage on the loop, if
 * any, so that resilience can refuse the plan with a clear message.
 */
export function barrierCycle(plan: Plan): string | undefined {
  const kinds = upstreamKinds(plan);
  const node = (t: Target): UpstreamKind | undefined => {
    const [kind, id] = t.split(':') as [string, string];
    return kinds.find((k) => k.kind === kind && k.id === Number(id));
  };
  const state = new Map<UpstreamKind, 'open' | 'done'>();
  const visit = (k: UpstreamKind): UpstreamKind | undefined => {
    if (state.get(k) === 'done') return undefined;
    if (state.get(k) === 'open') return k;
    state.set(k, 'open');
    for (const t of k.targets) {
      const next = node(t);
      const loop = next === undefined ? undefined : visit(next);
      if (loop !== undefined) return loop;
    }
    state.set(k, 'done');
    return undefined;
  };
  for (const k of kinds) {
    const loop = visit(k);
    if (loop !== undefined)
      return loop.kind === 'partition'
        ? `state partition '${plan.partitions[loop.id]?.name ?? loop.id}'`
        : `stage #${loop.id}`;
  }
  return undefined;
}
