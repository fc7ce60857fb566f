/**
 * Entry of a worker's scheduler thread. Loads the application module, builds
 * the same plan as the main thread, and on the main thread's word (comlink):
 * spawns the actors placed here, wires every actor's routes once the
 * process-wide directory is known, starts the sources placed here, reports
 * stats, and stops.
 */
import {
  attachSchedulerThread,
  reportFatal,
  exposeControl,
  GcWatch,
  trace,
  type ActorRef,
} from '../../actors/index.js';
import { ErrorCode } from '../../protocols/index.js';
import type { AppArgsData } from '../api/args.js';
import { openWriter } from './sink-outputs.js';
import { createLogger } from '../logging/logger.js';
import { buildPlan, type Plan } from '../topology/plan.js';
import type { Placement } from '../topology/placement.js';
import { buildApplication, loadApplicationModule } from './app-loader.js';
import type { Address } from '../../protocols/index.js';
import { DataLinks, DataListener } from '../connectors/data-channel.js';
import { expectedBarriers, upstreamKinds, type Instances } from './barrier-plan.js';
import { laneOf, RT_COMMIT } from './epochs.js';
import {
  CheckpointCollector,
  type ThreadCheckpoint,
  type ThreadRestore,
} from './thread-checkpoint.js';
import { MoveHold } from './move-hold.js';
import { compileBarrier } from './emitters.js';
import { wireStages } from './thread-wire.js';
import { metricSteps } from './metric-steps.js';
import { ThreadRecorder } from './thread-metrics.js';
import { groupKeys, threadStats } from './thread-stats.js';
import { clusterDirectory, sendVia, type RemoteSend } from '../routing/index.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import { SinkEncoder, type SinkWriter } from './sink-actors.js';
import type { ChannelSecurity } from '../security/index.js';
import { SourceActor } from './source-actor.js';
import { KeyGroupActor, ParallelActor, type StateStep } from './stage-actors.js';
import { StateCheck } from './state-check.js';
import type {
  KeyGroupKeys,
  LocalDirectory,
  ThreadControl,
  ThreadMetricsTake,
  ThreadStats,
  Wiring,
} from './thread-control.js';

/**
 * Turn sizes. Every actor gets one turn per pass of its thread's run queue,
 * so the hottest key group must absorb its share of a whole source turn in
 * one turn: with skewed keys (the top word of English text is ~6% of words)
 * and 100-message turns it would fall behind, pass its overload mark, and
 * mute every source. A source turn is bounded (one socket chunk, or
 * GENERATE_PER_TURN values) and key-group turns are large enough for it.
 */
const KEY_GROUP_BATCH = 1_000;
const SOURCE_BATCH = 1;
/** Chunks queued at a sink writer before it counts as overloaded (~2 MB at 16 KB each). */
const SINK_WRITER_HIGH = 128;

/** What the main thread passes each scheduler thread. */
export interface ThreadAppData {
  readonly modulePath: string;
  readonly args: AppArgsData;
  readonly workerName: string;
  /** Resilience on (`--run-with-resilience`). */
  readonly resilient: boolean;
  /** The cluster secret and TLS of the data channels (`{}`: none). */
  readonly security: ChannelSecurity;
  /** Metrics recorded on the data path (off: `ROO_METRICS=off`). */
  readonly metrics: boolean;
}

const {
  scheduler,
  loop,
  app: data,
} = attachSchedulerThread<ThreadAppData>({
  onActorError: (err, name) => errors.report(err, ErrorCode.Internal, `actor ${name}`),
});
const log = createLogger({ worker: data.workerName, thread: scheduler.thread });
const errors = new ErrorReporter(log);
/** With resilience, a state no checkpoint could encode stops the worker at its first update. */
const stateCheck = new StateCheck(data.resilient, (err) => reportFatal(err));

const sources: SourceActor[] = [];
const parallels = new Map<number, ParallelActor>();
let keyGroups: KeyGroupActor[] = [];
/** Each key-group actor's address on this thread. */
const keyGroupRefs = new Map<KeyGroupActor, ActorRef>();
const stateSteps = new Map<number, StateStep>();
const encoders = new Map<number, SinkEncoder>();
const checkpoints = new CheckpointCollector();
let links: DataLinks | undefined;
let dataListener: DataListener | undefined;

const writers = new Map<number, SinkWriter>();
const gc = new GcWatch();
/** A holder past its mark (or no longer): sources mute, and data channels hold back its bit's credit. */
function holdPressure(delta: 1 | -1, bit: number): void {
  scheduler.addPressure(delta);
  scheduler.holding(bit, delta);
}
/** What waits while key groups move (a reconfiguration between its barrier and its new table). */
const hold = new MoveHold(holdPressure);
/** The epoch bit this thread's actors stamp now: barriers passed since they were spawned, mod 2. */
let epochBit = 0;
/**
 * False from `spawn` until the first `wire`: until then stages have no
 * routes (their emit drops everything), so actors spawned in between wait
 * (paused, their messages queued in order) instead of applying messages
 * whose outputs would go nowhere. A joiner's key groups are spawned at the
 * hand-out, and the old members may install the new table and send to them
 * before the joiner has installed it itself.
 */
let wired = false;
/** Each parallel stage's replica on this thread. */
const parallelRefs = new Map<number, ActorRef>();
/** stepsOf[partitionIndex][stageId]: the state stages a key group of the partition runs. */
const stepsOf: (StateStep | undefined)[][] = [];

/** Spawns the actor of one key group, its entities restored from `state` if given. */
function spawnKeyGroup(
  pi: number,
  kg: number,
  state: Uint8Array | undefined,
  /** Decode `state` on the group's first message (a moved group) rather than now. */
  later?: { readonly count: number },
): void {
  const partition = (plan as Plan).partitions[pi] as Plan['partitions'][number];
  const actor = new KeyGroupActor(
    partition,
    pi,
    kg,
    stepsOf[pi] ?? [],
    errors,
    checkpoints,
    holdPressure,
    stateCheck,
  );
  if (state !== undefined) {
    if (later === undefined) actor.restore(state);
    else actor.restoreLater(state, later.count);
  }
  actor.setEpoch(epochBit);
  actor.paused = !wired;
  keyGroups.push(actor);
  keyGroupRefs.set(actor, scheduler.spawn(actor, `${partition.name}/kg${kg}`, KEY_GROUP_BATCH));
}

/** The first wiring is in: actors spawned before it take what waited for them, in order. */
function startActors(): void {
  wired = true;
  for (const [kg, ref] of keyGroupRefs) {
    if (!kg.paused) continue;
    kg.paused = false;
    scheduler.resume(ref);
  }
  for (const [id, actor] of parallels) {
    if (!actor.paused) continue;
    actor.paused = false;
    const ref = parallelRefs.get(id);
    if (ref !== undefined) scheduler.resume(ref);
  }
  loop.kick();
}

/** Parts each checkpoint waits for on this thread. */
function countParts(): void {
  checkpoints.expected = keyGroups.length + sources.length + writers.size;
}

/** The actors this thread hosts now, by role. */
function localDirectory(): LocalDirectory {
  const p = plan as Plan;
  const keyGroupDir: Record<number, ActorRef>[] = p.partitions.map(() => ({}));
  for (const [kg, ref] of keyGroupRefs) (keyGroupDir[kg.partitionIndex] ??= {})[kg.keyGroup] = ref;
  const sourceDir: Record<number, ActorRef> = {};
  for (const s of sources) sourceDir[s.stage.id] = s.self;
  const sinkWriters: Record<number, ActorRef> = {};
  for (const [id, w] of writers) sinkWriters[id] = w.self;
  return {
    thread: scheduler.thread,
    keyGroups: keyGroupDir,
    parallel: Object.fromEntries(parallelRefs),
    sinkWriters,
    sources: sourceDir,
  };
}

let plan: Plan | undefined;
/** This thread's metrics recorder (undefined when metrics are off). */
let recorder: ThreadRecorder | undefined;
/** Event-loop utilisation at the last metrics take. */
let lastElu = performance.eventLoopUtilization();
const ready = (async () => {
  const fn = await loadApplicationModule(data.modulePath);
  plan = buildPlan(buildApplication(fn, data.args));
  if (data.metrics) recorder = new ThreadRecorder(metricSteps(plan));
})();

const control: ThreadControl = {
  async spawn(
    placement: Placement,
    restore?: ThreadRestore,
    generation = 0,
  ): Promise<LocalDirectory> {
    await ready;
    if (dataListener !== undefined) dataListener.generation = generation;
    // New actors (at start, or all of them again on a rollback) start at epoch 0, nothing held.
    epochBit = 0;
    wired = false;
    hold.release(() => undefined);
    const p = plan as Plan;
    const me = scheduler.thread;
    for (const stage of p.stages) {
      if (stage.kind === 'state') {
        stateSteps.set(stage.id, {
          computation: stage.computation,
          where: `state computation '${stage.computation.name}'`,
          emit: () => undefined,
          meter: recorder?.step(recorder.table.stageSteps[stage.id]?.[0]),
        });
      }
    }
    p.partitions.forEach((partition, pi) => {
      const steps: (StateStep | undefined)[] = [];
      for (const stage of p.stages) {
        if (stage.kind === 'state' && stage.partition === partition.name)
          steps[stage.id] = stateSteps.get(stage.id);
      }
      stepsOf[pi] = steps;
      placement.keyGroupOwner[pi]?.forEach((owner, kg) => {
        if (owner !== me) return;
        const saved = restore?.keyGroups.find((g) => g.partition === pi && g.keyGroup === kg);
        spawnKeyGroup(pi, kg, saved?.state);
      });
    });
    for (const stage of p.stages) {
      if (stage.kind === 'parallel') {
        const actor = new ParallelActor();
        actor.paused = true;
        parallels.set(stage.id, actor);
        parallelRefs.set(stage.id, scheduler.spawn(actor, `parallel '${stage.computation.name}'`));
      } else if (stage.kind === 'source') {
        const threads = placement.sourceThreads.get(stage.id) ?? [];
        const index = threads.indexOf(me);
        if (index < 0) continue;
        const actor = new SourceActor(
          scheduler,
          loop,
          stage,
          {
            index: (placement.instanceOffset ?? 0) + index,
            of: placement.instanceTotal ?? threads.length,
          },
          errors,
          log,
          checkpoints,
          data.resilient,
          recorder,
        );
        const saved = restore?.sources.find(
          (x) => x.stage === stage.id && x.instance === (placement.instanceOffset ?? 0) + index,
        );
        if (saved !== undefined) actor.restore(saved.position);
        actor.self = scheduler.spawn(actor, `source '${stage.source.name}'`, SOURCE_BATCH);
        sources.push(actor);
      }
    }
    for (const sink of p.sinks) {
      const config = sink.config;
      const step = recorder?.table.sinkStep[sink.id];
      const pipeline = recorder?.table.sinkPipeline[sink.id];
      const encoder = new SinkEncoder(
        scheduler,
        config.kind === 'null-sink' ? undefined : config.encoder,
        errors,
        `sink '${config.name}'`,
        recorder === undefined || step === undefined || pipeline === undefined
          ? undefined
          : { recorder, step, pipeline },
      );
      encoders.set(sink.id, encoder);
      if (placement.sinkThread[sink.id] === me) {
        const writer = openWriter(config, sink.id, {
          scheduler,
          loop,
          log,
          checkpoints,
          workerName: data.workerName,
          resilient: data.resilient,
        });
        if (writer !== undefined) {
          if (recorder !== undefined && pipeline !== undefined) {
            const r = recorder;
            writer.markerEnded = (origin, ingress) => r.markerEnded(pipeline, origin, ingress);
          }
          // Its messages are encoded chunks of up to ~16 KB: overloaded past
          // SINK_WRITER_HIGH of them (a few MB), not the default count.
          writer.self = scheduler.spawn(writer, `sink writer '${config.name}'`, undefined, {
            high: SINK_WRITER_HIGH,
            low: SINK_WRITER_HIGH / 4,
          });
          writers.set(sink.id, writer);
          const saved = restore?.sinks.find((x) => x.sink === sink.id);
          if (saved !== undefined) writer.restore(saved.pending);
        }
      }
    }
    countParts();
    return localDirectory();
  },

  drop(groups: readonly { partition: number; keyGroup: number }[]): void {
    const leaving = new Set(groups.map((g) => `${g.partition}/${g.keyGroup}`));
    keyGroups = keyGroups.filter((kg) => {
      if (!leaving.has(`${kg.partitionIndex}/${kg.keyGroup}`)) return true;
      // Nothing routes here any more: the actor stays registered but empty.
      kg.forget();
      keyGroupRefs.delete(kg);
      return false;
    });
    countParts();
  },

  adopt(groups: ThreadRestore['keyGroups'], epoch?: number): LocalDirectory {
    // A joiner's actors took no barrier yet: they take the cluster's epoch bit.
    if (epoch !== undefined && epoch !== epochBit) {
      epochBit = epoch;
      for (const s of sources) s.setEpoch(epoch);
      for (const kg of keyGroups) kg.setEpoch(epoch);
      for (const e of encoders.values()) e.setEpoch(epoch);
      for (const w of writers.values()) w.setEpoch(epoch);
    }
    for (const g of groups) spawnKeyGroup(g.partition, g.keyGroup, g.state, { count: g.count });
    countParts();
    return localDirectory();
  },

  prepareMove(
    moving: readonly { partition: number; keyGroup: number }[],
    leaving: readonly number[],
  ): void {
    const sizes = (plan as Plan).partitions.map((p) => p.grouper.groups);
    hold.begin(epochBit ^ 1, moving, sizes, leaving);
  },

  epoch(): number {
    return epochBit;
  },

  groupLoads(): { partition: number; keyGroup: number; received: number }[] {
    return keyGroups.map((kg) => ({
      partition: kg.partitionIndex,
      keyGroup: kg.keyGroup,
      received: kg.counters.received,
    }));
  },

  resumeSources(): void {
    for (const s of sources) s.resumeInput();
    loop.kick();
  },

  async listenData(address: Address): Promise<Address> {
    dataListener = new DataListener(scheduler, () => loop.kick(), errors, log, data.security);
    return dataListener.listen(address);
  },

  wire(wiring: Wiring): void {
    const p = plan as Plan;
    const directory = clusterDirectory(p, wiring);
    // A reconfiguration rewires: links to workers still there are kept.
    if (links !== undefined) links.reconfigure(wiring.me, wiring.members);
    else if (wiring.members.length > 1)
      links = new DataLinks(
        scheduler,
        wiring.me,
        wiring.members,
        log,
        wiring.generation ?? 0,
        data.security,
        laneOf,
      );
    const remote: RemoteSend = (worker, ref, tag, a, b) =>
      (links as DataLinks).send(worker, ref, tag, a, b);
    for (const [id, encoder] of encoders) encoder.writer = directory.sinkWriters[id];
    const sinks = p.sinks.map((s) => (encoders.get(s.id) as SinkEncoder).encode);
    const sinkBarriers = p.sinks.map((s) => (encoders.get(s.id) as SinkEncoder).barrier);
    const send = sendVia(wiring.me, scheduler, remote);
    const sinkMarkers = p.sinks.map((s) => (encoders.get(s.id) as SinkEncoder).marker);
    const ctx = { plan: p, directory, scheduler, errors, sinks, sinkBarriers, send, hold };
    const marked = { ...ctx, recorder, sinkMarkers };
    wireStages(marked, { parallels, stateSteps, sources });
    // Barriers: each actor waits for one from every upstream actor that may send to it.
    const kinds = upstreamKinds(p);
    const cluster: Instances = {
      source: (id) => wiring.directories.reduce((n, d) => n + (d.sources[String(id)] ?? 0), 0),
      parallel: (id) =>
        wiring.directories.reduce((n, d) => n + (d.parallel[String(id)]?.length ?? 0), 0),
      partition: (pi) => p.partitions[pi]?.grouper.groups ?? 0,
    };
    const local: Instances = {
      source: (id) => sources.filter((s) => s.stage.id === id).length,
      parallel: (id) => (parallels.has(id) ? 1 : 0),
      partition: (pi) => keyGroups.filter((kg) => kg.partitionIndex === pi).length,
    };
    for (const kg of keyGroups) {
      kg.barriers.expected = expectedBarriers(kinds, cluster, `partition:${kg.partitionIndex}`);
      const routes = p.stages.flatMap((s) =>
        s.kind === 'state' && s.partition === kg.partition.name ? [s.route] : [],
      );
      kg.forward = compileBarrier(routes, ctx);
    }
    for (const [id, actor] of parallels)
      actor.barriers.expected = expectedBarriers(kinds, cluster, `parallel:${id}`);
    for (const [id, encoder] of encoders)
      encoder.barriers.expected = expectedBarriers(kinds, local, `sink:${id}`);
    const threads = wiring.members[wiring.me]?.threads ?? 1;
    for (const writer of writers.values()) writer.barriers.expected = threads;
    // A reconfiguration's new table is in: what waited for the moving groups goes to their new owners.
    if (hold.active) {
      const released = hold.release((pi, g, tag, key, value) => {
        const owners = directory.keyGroups[pi];
        if (owners === undefined) return;
        send(owners.worker[g] as number, owners.ref[g] as ActorRef, tag, key, value);
      });
      if (released > 0) loop.kick();
    }
    if (!wired) startActors();
  },

  checkpoint(id: number, holdInput = false, only?: readonly string[]): Promise<ThreadCheckpoint> {
    checkpoints.encodeOnly(id, only === undefined ? undefined : new Set(only));
    epochBit ^= 1;
    // Sources inject barrier k in band (now, between turns); actors with no upstream pass it at once.
    for (const s of sources) {
      s.barrier(id);
      if (holdInput) s.holdInput();
    }
    for (const kg of keyGroups) if (kg.barriers.expected === 0) kg.checkpoint(id);
    // epochBit has flipped: the epoch the barrier closes is the other one.
    for (const actor of parallels.values())
      if (actor.barriers.expected === 0) actor.forward(id, epochBit ^ 1);
    for (const encoder of encoders.values()) if (encoder.barriers.expected === 0) encoder.pass(id);
    loop.kick();
    return checkpoints.wait(id);
  },

  commit(id: number): void {
    checkpoints.forget(id);
    for (const s of sources) scheduler.send(s.self, RT_COMMIT, id, undefined);
    for (const w of writers.values()) scheduler.send(w.self, RT_COMMIT, id, undefined);
    loop.kick();
  },

  async start(): Promise<Record<string, string>> {
    await Promise.all(sources.map((s) => s.start()));
    loop.kick();
    const listening: Record<string, string> = {};
    for (const s of sources)
      if (s.listening !== undefined) listening[s.stage.source.name] = s.listening;
    return listening;
  },

  stats(): ThreadStats {
    return threadStats({
      scheduler,
      loop,
      gc,
      sources,
      keyGroups,
      writers,
      encoders,
      errors,
      links,
      dataListener,
    });
  },

  metrics(): ThreadMetricsTake {
    const elu = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(elu, lastElu).utilization;
    lastElu = elu;
    return { stats: control.stats(), recorder: recorder?.take(), utilization };
  },

  keys(limit: number): KeyGroupKeys[] {
    return groupKeys(plan as Plan, keyGroups, limit);
  },

  async stopSources(fatal?: { readonly code: string; readonly message: string }): Promise<void> {
    await Promise.all(sources.map((s) => s.stop(fatal)));
  },

  async stop(): Promise<void> {
    trace.save(`${data.workerName}-thread${scheduler.thread}`);
    links?.close();
    await dataListener?.close();
    await Promise.all([...writers.values()].map((w) => w.close()));
    loop.stop();
  },
};

exposeControl(control);
loop.start();
ready.catch((err: Error) => {
  log.fatal(`cannot load the application: ${err.message}`);
});
