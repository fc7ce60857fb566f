/**
 * The stream runtime of one scheduler thread: the actors placed on it
 * (sources, parallel replicas, key groups, sink encoders and writers), their
 * routes, checkpoints and the hold of a reconfiguration, behind the
 * {@link ThreadControl} the worker's main thread calls. It is given
 * everything it uses: the thread's Scheduler and ThreadLoop, the plan, and
 * factories for what touches the outside world (thread-io.ts). A scheduler
 * thread (thread-main.ts) builds it with sockets and files; a test builds
 * several on the deterministic schedulers (actors/deterministic.ts), with
 * sources and sinks in memory, and drives them as the engine would.
 */
import {
  trace,
  type ActorRef,
  type GcWatch,
  type Scheduler,
  type ThreadLoop,
} from '../../actors/index.js';
import type { Address, RooError } from '../../protocols/index.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import { clusterDirectory, sendVia, type RemoteSend } from '../routing/index.js';
import type { ChannelSecurity } from '../security/index.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';
import { RT_COMMIT } from './epochs.js';
import { MoveHold } from './move-hold.js';
import type { SinkEncoder } from './sink-actors.js';
import { StateCheck } from './state-check.js';
import { ThreadActors } from './thread-actors.js';
import {
  CheckpointCollector,
  type ThreadCheckpoint,
  type ThreadRestore,
} from './thread-checkpoint.js';
import type {
  KeyGroupKeys,
  LocalDirectory,
  ThreadControl,
  ThreadMetricsTake,
  ThreadStats,
  Wiring,
} from './thread-control.js';
import type { ThreadDataListener, ThreadIo, ThreadLinks } from './thread-io.js';
import type { ThreadRecorder } from './thread-metrics.js';
import { groupKeys, threadStats } from './thread-stats.js';
import { wireBarriers, wireStages } from './thread-wire.js';

/** What a thread's runtime is built with. */
export interface ThreadRuntimeOptions {
  /** The thread's scheduler: its actors, mailboxes and rings. */
  readonly scheduler: Scheduler;
  /** The thread's run loop, kicked when input arrives from outside a turn. */
  readonly loop: ThreadLoop;
  /** The plan every thread of the worker computes from the application. */
  readonly plan: Plan;
  /** The worker's name (exactly-once sinks name their stream with it; trace files). */
  readonly workerName: string;
  /** Resilience on (`--run-with-resilience`). */
  readonly resilient: boolean;
  /** The cluster secret and TLS of the data channels (`{}`: none). */
  readonly security: ChannelSecurity;
  /** This thread's logger. */
  readonly log: Logger;
  /** Counts and logs errors on the data path. */
  readonly errors: ErrorReporter;
  /** Reports an error the worker cannot go on with (a state no checkpoint can encode). */
  readonly fatal: (err: RooError) => void;
  /** This thread's metrics recorder (undefined: metrics off). */
  readonly recorder: ThreadRecorder | undefined;
  /** This thread's garbage collections, for stats. */
  readonly gc: GcWatch;
  /** Opens sources' inputs, sinks' outputs and data channels. */
  readonly io: ThreadIo;
}

/** One scheduler thread's actors and routes, controlled by the worker's main thread. */
export class ThreadRuntime implements ThreadControl {
  private readonly scheduler: Scheduler;
  private readonly loop: ThreadLoop;
  private readonly plan: Plan;
  private readonly options: ThreadRuntimeOptions;
  private readonly actors: ThreadActors;
  private readonly checkpoints = new CheckpointCollector();
  private links: ThreadLinks | undefined;
  private dataListener: ThreadDataListener | undefined;
  /** What waits while key groups move (a reconfiguration between its barrier and its new table). */
  private readonly hold: MoveHold;
  /** The epoch bit this thread's actors stamp now: barriers passed since they were spawned, mod 2. */
  private epochBit = 0;
  /** Event-loop utilisation at the last metrics take. */
  private lastElu = performance.eventLoopUtilization();

  constructor(options: ThreadRuntimeOptions) {
    this.options = options;
    const scheduler = options.scheduler;
    this.scheduler = scheduler;
    this.loop = options.loop;
    this.plan = options.plan;
    /** A holder past its mark (or no longer): sources mute, and data channels hold back its bit's credit. */
    const holdPressure = (delta: 1 | -1, bit: number): void => {
      scheduler.addPressure(delta);
      scheduler.holding(bit, delta);
    };
    this.hold = new MoveHold(holdPressure);
    this.actors = new ThreadActors({
      scheduler,
      loop: options.loop,
      plan: options.plan,
      workerName: options.workerName,
      resilient: options.resilient,
      log: options.log,
      errors: options.errors,
      checkpoints: this.checkpoints,
      holdPressure,
      // With resilience, a state no checkpoint could encode stops the worker at its first update.
      stateCheck: new StateCheck(options.resilient, options.fatal),
      recorder: options.recorder,
      sourceInput: options.io.sourceInput,
      sinkOutputs: options.io.sinkOutputs,
    });
  }

  async spawn(
    placement: Placement,
    restore?: ThreadRestore,
    generation = 0,
  ): Promise<LocalDirectory> {
    if (this.dataListener !== undefined) this.dataListener.generation = generation;
    // New actors (at start, or all of them again on a rollback) start at epoch 0, nothing held.
    this.epochBit = 0;
    this.hold.release(() => undefined);
    this.actors.spawn(placement, restore, this.epochBit);
    this.checkpoints.expected = this.actors.parts;
    return this.actors.localDirectory();
  }

  drop(groups: readonly { partition: number; keyGroup: number }[]): void {
    this.actors.drop(groups);
    this.checkpoints.expected = this.actors.parts;
  }

  adopt(groups: ThreadRestore['keyGroups'], epoch?: number): LocalDirectory {
    // A joiner's actors took no barrier yet: they take the cluster's epoch bit.
    if (epoch !== undefined && epoch !== this.epochBit) {
      this.epochBit = epoch;
      this.actors.setEpoch(epoch);
    }
    for (const g of groups)
      this.actors.spawnKeyGroup(g.partition, g.keyGroup, g.state, this.epochBit, {
        count: g.count,
      });
    this.checkpoints.expected = this.actors.parts;
    return this.actors.localDirectory();
  }

  prepareMove(
    moving: readonly { partition: number; keyGroup: number }[],
    leaving: readonly number[],
  ): void {
    const sizes = this.plan.partitions.map((p) => p.grouper.groups);
    this.hold.begin(this.epochBit ^ 1, moving, sizes, leaving);
  }

  epoch(): number {
    return this.epochBit;
  }

  groupLoads(): { partition: number; keyGroup: number; received: number }[] {
    return this.actors.keyGroups.map((kg) => ({
      partition: kg.partitionIndex,
      keyGroup: kg.keyGroup,
      received: kg.counters.received,
    }));
  }

  resumeSources(): void {
    for (const s of this.actors.sources) s.resumeInput();
    this.loop.kick();
  }

  listenData(address: Address): Promise<Address> {
    const listener = this.options.io.dataListener(
      this.scheduler,
      () => this.loop.kick(),
      this.options.errors,
      this.options.log,
      this.options.security,
    );
    this.dataListener = listener;
    return listener.listen(address);
  }

  wire(wiring: Wiring): void {
    const { plan: p, scheduler, actors } = this;
    const directory = clusterDirectory(p, wiring);
    // A reconfiguration rewires: links to workers still there are kept.
    if (this.links !== undefined) this.links.reconfigure(wiring.me, wiring.members);
    else if (wiring.members.length > 1)
      this.links = this.options.io.dataLinks(
        scheduler,
        wiring.me,
        wiring.members,
        this.options.log,
        wiring.generation ?? 0,
        this.options.security,
      );
    const remote: RemoteSend = (worker, ref, tag, a, b) =>
      (this.links as ThreadLinks).send(worker, ref, tag, a, b);
    const encoder = (id: number): SinkEncoder => actors.encoders.get(id) as SinkEncoder;
    for (const [id, e] of actors.encoders) e.writer = directory.sinkWriters[id];
    const send = sendVia(wiring.me, scheduler, remote);
    const ctx = {
      plan: p,
      directory,
      scheduler,
      errors: this.options.errors,
      sinks: p.sinks.map((s) => encoder(s.id).encode),
      sinkBarriers: p.sinks.map((s) => encoder(s.id).barrier),
      send,
      hold: this.hold,
    };
    const sinkMarkers = p.sinks.map((s) => encoder(s.id).marker);
    wireStages({ ...ctx, recorder: this.options.recorder, sinkMarkers }, actors);
    // Barriers: each actor waits for one from every upstream actor that may send to it.
    wireBarriers(ctx, wiring, actors);
    // A reconfiguration's new table is in: what waited for the moving groups goes to their new owners.
    if (this.hold.active) {
      const released = this.hold.release((pi, g, tag, key, value) => {
        const owners = directory.keyGroups[pi];
        if (owners === undefined) return;
        send(owners.worker[g] as number, owners.ref[g] as ActorRef, tag, key, value);
      });
      if (released > 0) this.loop.kick();
    }
    if (!actors.started) actors.startWaiting();
  }

  checkpoint(id: number, holdInput = false, only?: readonly string[]): Promise<ThreadCheckpoint> {
    const actors = this.actors;
    this.checkpoints.encodeOnly(id, only === undefined ? undefined : new Set(only));
    this.epochBit ^= 1;
    // Sources inject barrier k in band (now, between turns); actors with no upstream pass it at once.
    for (const s of actors.sources) {
      s.barrier(id);
      if (holdInput) s.holdInput();
    }
    for (const kg of actors.keyGroups) if (kg.barriers.expected === 0) kg.checkpoint(id);
    // The epoch bit has flipped: the epoch the barrier closes is the other one.
    for (const actor of actors.parallels.values())
      if (actor.barriers.expected === 0) actor.forward(id, this.epochBit ^ 1);
    for (const e of actors.encoders.values()) if (e.barriers.expected === 0) e.pass(id);
    this.loop.kick();
    return this.checkpoints.wait(id);
  }

  commit(id: number): void {
    this.checkpoints.forget(id);
    for (const s of this.actors.sources) this.scheduler.send(s.self, RT_COMMIT, id, undefined);
    for (const w of this.actors.writers.values())
      this.scheduler.send(w.self, RT_COMMIT, id, undefined);
    this.loop.kick();
  }

  async start(): Promise<Record<string, string>> {
    const sources = this.actors.sources;
    await Promise.all(sources.map((s) => s.start()));
    this.loop.kick();
    const listening: Record<string, string> = {};
    for (const s of sources)
      if (s.listening !== undefined) listening[s.stage.source.name] = s.listening;
    return listening;
  }

  stats(): ThreadStats {
    const a = this.actors;
    return threadStats({
      scheduler: this.scheduler,
      loop: this.loop,
      gc: this.options.gc,
      sources: a.sources,
      keyGroups: a.keyGroups,
      writers: a.writers,
      encoders: a.encoders,
      errors: this.options.errors,
      links: this.links,
      dataListener: this.dataListener,
    });
  }

  metrics(): ThreadMetricsTake {
    const elu = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(elu, this.lastElu).utilization;
    this.lastElu = elu;
    return { stats: this.stats(), recorder: this.options.recorder?.take(), utilization };
  }

  keys(limit: number): KeyGroupKeys[] {
    return groupKeys(this.plan, this.actors.keyGroups, limit);
  }

  async stopSources(fatal?: { readonly code: string; readonly message: string }): Promise<void> {
    await Promise.all(this.actors.sources.map((s) => s.stop(fatal)));
  }

  async stop(): Promise<void> {
    trace.save(`${this.options.workerName}-thread${this.scheduler.thread}`);
    this.links?.close();
    await this.dataListener?.close();
    await Promise.all([...this.actors.writers.values()].map((w) => w.close()));
    this.loop.stop();
  }
}
