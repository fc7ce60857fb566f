/**
 * Compiles a stage's coalesced chain and route into one `emit` function: the
 * stateless computations run in order, then the route sends each output to
 * the actor that owns it (a key group's actor or a parallel replica), or
 * encodes it for a sink on the spot. A computation or key extractor that throws drops
 * that message with a counted, logged error; the stream goes on.
 */
import type { ActorRef, Scheduler } from '../../actors/index.js';
import { ErrorCode } from '../../protocols/index.js';
import type { Computation } from '../api/computations.js';
import type { Directory, Placed, Send } from '../routing/index.js';
import type { Plan, Route, Stage } from '../topology/plan.js';
import { cursor, EPOCH_BIT, RT_BARRIER } from './epochs.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { MoveHold } from './move-hold.js';
import { markerTag } from '../connectors/latency-marker.js';
import { timedCall, type LatencyMeter } from './step-meter.js';
import type { ThreadRecorder } from './thread-metrics.js';

/** Sends one value onwards. */
export type Emit = (value: unknown) => void;

/** What a thread's routes are compiled against. */
export interface RouteContext {
  readonly plan: Plan;
  readonly directory: Directory;
  readonly scheduler: Scheduler;
  readonly errors: ErrorReporter;
  /** sinks[sinkId] encodes on this thread. */
  readonly sinks: readonly Emit[];
  /** sinkBarriers[sinkId]: an upstream actor of this thread passes barrier k to the sink's encoder. */
  readonly sinkBarriers: readonly ((checkpointId: number) => void)[];
  /** Sends to an actor anywhere in the cluster (routing/directory.ts `sendVia`). */
  readonly send: Send;
  /** While key groups move: what waits, and which workers parallel output skips (move-hold.ts). */
  readonly hold: MoveHold;
  /** This thread's metrics recorder; undefined when metrics are off. */
  readonly recorder?: ThreadRecorder | undefined;
  /** sinkMarkers[sinkId]: hands a latency marker to the sink's encoder on this thread. */
  readonly sinkMarkers?: readonly MarkerSend[];
}

/** Passes a latency marker (origin and ingress times, latency-marker.ts) on. */
export type MarkerSend = (origin: number, ingress: number) => void;

/** Builds the emit function of a stage's outputs. */
export function compileStageEmit(stage: Stage, ctx: RouteContext): Emit {
  const steps = ctx.recorder?.table.stageSteps[stage.id];
  const meters = steps?.slice(1).map((i) => (ctx.recorder as ThreadRecorder).step(i));
  return compileChain(stage.chain, compileRoute(stage.route, ctx), ctx.errors, meters);
}

/** Wraps `next` with the stateless computations of a chain, last first (each timed by its meter, if given). */
export function compileChain(
  chain: readonly Computation<unknown, unknown>[],
  next: Emit,
  errors: ErrorReporter,
  meters?: readonly LatencyMeter[],
): Emit {
  let emit = next;
  for (let i = chain.length - 1; i >= 0; i--) {
    emit = applyComputation(chain[i] as Computation<unknown, unknown>, emit, errors, meters?.[i]);
  }
  return emit;
}

/**
 * One stateless computation in front of `next`. With a meter, it counts
 * every message and times one in `meter.mask + 1` (step-meter.ts): the
 * computation alone, not what its outputs cost downstream.
 */
export function applyComputation(
  c: Computation<unknown, unknown>,
  next: Emit,
  errors: ErrorReporter,
  meter?: LatencyMeter,
): Emit {
  const compute = c.compute;
  const where = `computation '${c.name}'`;
  if (meter !== undefined) {
    return (value) => {
      let out: unknown;
      try {
        out =
          (++meter.messages & meter.mask) !== 0
            ? compute(value)
            : timedCall(meter, compute, value, undefined, undefined);
      } catch (err) {
        errors.report(err, ErrorCode.ComputationFailed, where);
        return;
      }
      emitOutputs(out, next);
    };
  }
  return (value) => {
    let out: unknown;
    try {
      out = compute(value);
    } catch (err) {
      errors.report(err, ErrorCode.ComputationFailed, where, { input: value });
      return;
    }
    emitOutputs(out, next);
  };
}

/** Sends a computation's result onwards: nothing, one value, or each of an array. */
export function emitOutputs(out: unknown, next: Emit): void {
  if (out === undefined || out === null) return;
  if (Array.isArray(out)) {
    for (let i = 0; i < out.length; i++) next(out[i]);
  } else {
    next(out);
  }
}

function compileRoute(route: Route, ctx: RouteContext): Emit {
  const { plan, directory, scheduler, errors, sinks, send, hold } = ctx;
  switch (route.kind) {
    case 'drop':
      return () => undefined;
    case 'sink': {
      // The sink's encoder is coalesced into this stage: no hop, no mailbox.
      const encode = sinks[route.sink];
      if (encode === undefined)
        throw new Error(`no encoder of sink #${route.sink} on thread ${scheduler.thread}`);
      return encode;
    }
    case 'parallel': {
      const replicas = directory.parallel[route.stage];
      if (replicas === undefined || replicas.length === 0)
        throw new Error(`no replicas of stage #${route.stage}`);
      const n = replicas.length;
      const tag = route.stage;
      const workers = replicas.map((r) => r.worker);
      const refs = replicas.map((r) => r.ref);
      let next = (scheduler.thread + directory.me) % n;
      return (value) => {
        let i = next;
        next = next + 1 === n ? 0 : next + 1;
        // After a reconfiguration's barrier, nothing more goes to a worker that leaves.
        if (hold.active)
          for (let tries = 1; tries < n && hold.skips(workers[i] as number); tries++) {
            i = next;
            next = next + 1 === n ? 0 : next + 1;
          }
        send(
          workers[i] as number,
          refs[i] as ActorRef,
          tag + cursor.bit * EPOCH_BIT,
          value,
          undefined,
        );
      };
    }
    case 'state': {
      const pIndex = plan.partitions.findIndex((p) => p.name === route.partition);
      const partition = plan.partitions[pIndex];
      const owners = directory.keyGroups[pIndex];
      if (partition === undefined || owners === undefined)
        throw new Error(`no partition '${route.partition}'`);
      const grouper = partition.grouper;
      const ownerWorker = owners.worker;
      const ownerRef = owners.ref;
      const keyOf = route.key;
      const tag = route.stage;
      const where = `key of state partition '${route.partition}'`;
      return (value) => {
        let key: string;
        let group: number;
        try {
          key = keyOf(value);
          if (typeof key !== 'string') key = String(key);
          group = grouper.groupOf(key);
        } catch (err) {
          errors.report(err, ErrorCode.ComputationFailed, where, { input: value });
          return;
        }
        if (hold.active && hold.holds(pIndex, group)) {
          hold.hold(pIndex, group, tag + cursor.bit * EPOCH_BIT, key, value);
          return;
        }
        send(
          ownerWorker[group] as number,
          ownerRef[group] as ActorRef,
          tag + cursor.bit * EPOCH_BIT,
          key,
          value,
        );
      };
    }
  }
}

/**
 * Where a stage's latency markers go (latency-marker.ts): one actor of the
 * route at a time, in turn (a parallel stage's replicas, a partition's key
 * groups), so that markers sample every path; into the sink's encoder on
 * this thread, which ships them behind the outputs before them; or, for a
 * route to nothing, the marker ends here. A marker handed to another
 * worker leaves this one (its ingress to egress is recorded).
 */
export function compileMarker(route: Route, pipeline: number, ctx: RouteContext): MarkerSend {
  const { plan, directory, send } = ctx;
  const recorder = ctx.recorder;
  if (recorder === undefined) return () => undefined;
  const to = (targets: readonly Placed[], stage: number): MarkerSend => {
    const tag = markerTag(stage);
    let next = 0;
    return (origin, ingress) => {
      // While key groups move, markers wait nowhere: a lost sample, not a held message.
      if (ctx.hold.active) return;
      const t = targets[next];
      next = next + 1 >= targets.length ? 0 : next + 1;
      if (t === undefined) return;
      if (t.worker !== directory.me) recorder.markerLeft(ingress);
      send(t.worker, t.ref, tag, origin, ingress);
    };
  };
  switch (route.kind) {
    case 'drop':
      return (origin, ingress) => recorder.markerEnded(pipeline, origin, ingress);
    case 'sink':
      return ctx.sinkMarkers?.[route.sink] ?? (() => undefined);
    case 'parallel':
      return to(directory.parallel[route.stage] ?? [], route.stage);
    case 'state': {
      const owners =
        directory.keyGroups[plan.partitions.findIndex((p) => p.name === route.partition)];
      const targets: Placed[] = [];
      owners?.worker.forEach((worker, g) =>
        targets.push({ worker, ref: owners.ref[g] as ActorRef }),
      );
      return to(targets, route.stage);
    }
  }
}

/**
 * The barrier fan-out of a set of routes: barrier k to every actor they may
 * send to (each once), or to the sink's encoder on this thread. The barrier
 * carries the bit of the epoch it closes (`b`): between workers it travels
 * on that bit's lane, after the messages it closes (epochs.ts).
 */
export function compileBarrier(
  routes: readonly Route[],
  ctx: RouteContext,
): (id: number, bit: number) => void {
  const { plan, directory, send } = ctx;
  const actors = new Map<string, Placed>();
  const sinks = new Set<number>();
  for (const route of routes) {
    if (route.kind === 'sink') sinks.add(route.sink);
    else if (route.kind === 'parallel') {
      for (const r of directory.parallel[route.stage] ?? []) actors.set(`${r.worker}/${r.ref}`, r);
    } else if (route.kind === 'state') {
      const owners =
        directory.keyGroups[plan.partitions.findIndex((p) => p.name === route.partition)];
      owners?.worker.forEach((worker, g) => {
        const ref = owners.ref[g] as ActorRef;
        actors.set(`${worker}/${ref}`, { worker, ref });
      });
    }
  }
  const targets = [...actors.values()];
  const encoders = [...sinks].map((id) => ctx.sinkBarriers[id]).filter((f) => f !== undefined);
  return (id, bit) => {
    for (const t of targets) send(t.worker, t.ref, RT_BARRIER, id, bit);
    for (const e of encoders) e(id);
  };
}
