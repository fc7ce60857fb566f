/**
 * The stream actors one scheduler thread hosts, by role: its sources, its
 * replica of each parallel stage, its key groups, a sink encoder per sink
 * and the writers of the sinks placed on it. It spawns them (at start, on a
 * rollback, when key groups move in), forgets key groups that move away,
 * and says where each one is (the thread's local directory). Routes and
 * checkpoints are the thread's runtime's (thread-runtime.ts).
 */
import type { ActorRef, Scheduler, ThreadLoop } from '../../actors/index.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import type { Placement } from '../topology/placement.js';
import type { Plan } from '../topology/plan.js';
import type { HoldPressure } from './epochs.js';
import { SinkEncoder, type SinkWriter } from './sink-actors.js';
import { openWriter, type SinkOutputs } from './sink-outputs.js';
import { SourceActor } from './source-actor.js';
import type { OpenSourceInput } from './source-input.js';
import { KeyGroupActor, ParallelActor, type StateStep } from './stage-actors.js';
import type { StateCheck } from './state-check.js';
import type { CheckpointCollector, ThreadRestore } from './thread-checkpoint.js';
import type { LocalDirectory } from './thread-control.js';
import type { ThreadRecorder } from './thread-metrics.js';

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

/** What a thread's actors are made with (the thread runtime's own, thread-runtime.ts). */
export interface ActorContext {
  readonly scheduler: Scheduler;
  readonly loop: ThreadLoop;
  readonly plan: Plan;
  /** Names an exactly-once sink's stream to its receiver. */
  readonly workerName: string;
  /** Resilience on: sources acknowledge committed positions, exactly-once sinks hold output. */
  readonly resilient: boolean;
  readonly log: Logger;
  readonly errors: ErrorReporter;
  /** Where every key group, source and sink writer hands in its part of a checkpoint. */
  readonly checkpoints: CheckpointCollector;
  /** Adds or removes a unit of process pressure for a holder of one epoch bit's messages. */
  readonly holdPressure: HoldPressure;
  /** The thread's check of the first state each partition writes. */
  readonly stateCheck: StateCheck;
  /** The thread's metrics recorder (undefined: metrics off). */
  readonly recorder: ThreadRecorder | undefined;
  /** Opens TCP and file sources' inputs. */
  readonly sourceInput: OpenSourceInput;
  /** Opens sink writers' outputs. */
  readonly sinkOutputs: SinkOutputs;
}

/** A scheduler thread's stream actors. */
export class ThreadActors {
  /** The source instances placed here. */
  readonly sources: SourceActor[] = [];
  /** Each parallel stage's replica on this thread, by stage. */
  readonly parallels = new Map<number, ParallelActor>();
  /** Each parallel stage's replica on this thread. */
  private readonly parallelRefs = new Map<number, ActorRef>();
  /** The key groups hosted here now. */
  keyGroups: KeyGroupActor[] = [];
  /** Each key-group actor's address on this thread. */
  private readonly keyGroupRefs = new Map<KeyGroupActor, ActorRef>();
  /** Each state stage as this thread's key groups run it, by stage (its emit set at wiring). */
  readonly stateSteps = new Map<number, StateStep>();
  /** stepsOf[partitionIndex][stageId]: the state stages a key group of the partition runs. */
  private readonly stepsOf: (StateStep | undefined)[][] = [];
  /** Each sink's encoder on this thread, by sink. */
  readonly encoders = new Map<number, SinkEncoder>();
  /** The writers of the sinks placed on this thread, by sink. */
  readonly writers = new Map<number, SinkWriter>();
  /**
   * False from `spawn` until `startWaiting` (the thread's first wiring):
   * until then stages have no routes (their emit drops everything), so
   * actors spawned in between wait (paused, their messages queued in order)
   * instead of applying messages whose outputs would go nowhere. A joiner's
   * key groups are spawned at the hand-out, and the old members may install
   * the new table and send to them before the joiner has installed it
   * itself.
   */
  private wired = false;

  constructor(private readonly c: ActorContext) {}

  /** True once the thread's first wiring started the actors. */
  get started(): boolean {
    return this.wired;
  }

  /**
   * Spawns the actors `placement` puts on this thread, their state restored
   * from `restore` if given, stamping epoch bit `bit`; they wait for
   * `startWaiting`.
   */
  spawn(placement: Placement, restore: ThreadRestore | undefined, bit: number): void {
    this.wired = false;
    const { plan: p, scheduler, recorder } = this.c;
    const me = scheduler.thread;
    for (const stage of p.stages) {
      if (stage.kind === 'state') {
        this.stateSteps.set(stage.id, {
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
          steps[stage.id] = this.stateSteps.get(stage.id);
      }
      this.stepsOf[pi] = steps;
      placement.keyGroupOwner[pi]?.forEach((owner, kg) => {
        if (owner !== me) return;
        const saved = restore?.keyGroups.find((g) => g.partition === pi && g.keyGroup === kg);
        this.spawnKeyGroup(pi, kg, saved?.state, bit);
      });
    });
    for (const stage of p.stages) {
      if (stage.kind === 'parallel') {
        const actor = new ParallelActor();
        actor.paused = true;
        this.parallels.set(stage.id, actor);
        this.parallelRefs.set(
          stage.id,
          scheduler.spawn(actor, `parallel '${stage.computation.name}'`),
        );
      } else if (stage.kind === 'source') {
        const threads = placement.sourceThreads.get(stage.id) ?? [];
        const index = threads.indexOf(me);
        if (index < 0) continue;
        const instance = (placement.instanceOffset ?? 0) + index;
        const actor = new SourceActor(
          scheduler,
          this.c.loop,
          stage,
          { index: instance, of: placement.instanceTotal ?? threads.length },
          this.c.errors,
          this.c.log,
          this.c.checkpoints,
          this.c.sourceInput,
          this.c.resilient,
          recorder,
        );
        const saved = restore?.sources.find((x) => x.stage === stage.id && x.instance === instance);
        if (saved !== undefined) actor.restore(saved.position);
        actor.self = scheduler.spawn(actor, `source '${stage.source.name}'`, SOURCE_BATCH);
        this.sources.push(actor);
      }
    }
    this.spawnSinks(placement, restore);
  }

  /**
   * Spawns the actor of one key group stamping epoch bit `bit`, its
   * entities restored from `state` if given (with `later`, a moved group's:
   * decoded on its first message rather than now).
   */
  spawnKeyGroup(
    pi: number,
    kg: number,
    state: Uint8Array | undefined,
    bit: number,
    later?: { readonly count: number },
  ): void {
    const partition = this.c.plan.partitions[pi] as Plan['partitions'][number];
    const actor = new KeyGroupActor(
      partition,
      pi,
      kg,
      this.stepsOf[pi] ?? [],
      this.c.errors,
      this.c.checkpoints,
      this.c.holdPressure,
      this.c.stateCheck,
    );
    if (state !== undefined) {
      if (later === undefined) actor.restore(state);
      else actor.restoreLater(state, later.count);
    }
    actor.setEpoch(bit);
    actor.paused = !this.wired;
    this.keyGroups.push(actor);
    this.keyGroupRefs.set(
      actor,
      this.c.scheduler.spawn(actor, `${partition.name}/kg${kg}`, KEY_GROUP_BATCH),
    );
  }

  /** Key groups that moved away: nothing routes to them any more; their actors stay registered but empty. */
  drop(groups: readonly { partition: number; keyGroup: number }[]): void {
    const leaving = new Set(groups.map((g) => `${g.partition}/${g.keyGroup}`));
    this.keyGroups = this.keyGroups.filter((kg) => {
      if (!leaving.has(`${kg.partitionIndex}/${kg.keyGroup}`)) return true;
      kg.forget();
      this.keyGroupRefs.delete(kg);
      return false;
    });
  }

  /** Every actor here takes epoch bit `bit` (a joiner's, whose actors took no barrier yet). */
  setEpoch(bit: number): void {
    for (const s of this.sources) s.setEpoch(bit);
    for (const kg of this.keyGroups) kg.setEpoch(bit);
    for (const e of this.encoders.values()) e.setEpoch(bit);
    for (const w of this.writers.values()) w.setEpoch(bit);
  }

  /** The first wiring is in: actors spawned before it take what waited for them, in order. */
  startWaiting(): void {
    this.wired = true;
    const scheduler = this.c.scheduler;
    for (const [kg, ref] of this.keyGroupRefs) {
      if (!kg.paused) continue;
      kg.paused = false;
      scheduler.resume(ref);
    }
    for (const [id, actor] of this.parallels) {
      if (!actor.paused) continue;
      actor.paused = false;
      const ref = this.parallelRefs.get(id);
      if (ref !== undefined) scheduler.resume(ref);
    }
    this.c.loop.kick();
  }

  /** Parts each checkpoint waits for on this thread: one per key group, source and sink writer. */
  get parts(): number {
    return this.keyGroups.length + this.sources.length + this.writers.size;
  }

  /** The actors this thread hosts now, by role. */
  localDirectory(): LocalDirectory {
    const keyGroupDir: Record<number, ActorRef>[] = this.c.plan.partitions.map(() => ({}));
    for (const [kg, ref] of this.keyGroupRefs)
      (keyGroupDir[kg.partitionIndex] ??= {})[kg.keyGroup] = ref;
    const sourceDir: Record<number, ActorRef> = {};
    for (const s of this.sources) sourceDir[s.stage.id] = s.self;
    const sinkWriters: Record<number, ActorRef> = {};
    for (const [id, w] of this.writers) sinkWriters[id] = w.self;
    return {
      thread: this.c.scheduler.thread,
      keyGroups: keyGroupDir,
      parallel: Object.fromEntries(this.parallelRefs),
      sinkWriters,
      sources: sourceDir,
    };
  }

  /** A sink encoder for every sink, and the writer of each sink placed on this thread. */
  private spawnSinks(placement: Placement, restore: ThreadRestore | undefined): void {
    const { scheduler, recorder } = this.c;
    for (const sink of this.c.plan.sinks) {
      const config = sink.config;
      const step = recorder?.table.sinkStep[sink.id];
      const pipeline = recorder?.table.sinkPipeline[sink.id];
      const encoder = new SinkEncoder(
        scheduler,
        config.kind === 'null-sink' ? undefined : config.encoder,
        this.c.errors,
        `sink '${config.name}'`,
        recorder === undefined || step === undefined || pipeline === undefined
          ? undefined
          : { recorder, step, pipeline },
      );
      this.encoders.set(sink.id, encoder);
      if (placement.sinkThread[sink.id] !== scheduler.thread) continue;
      const writer = openWriter(config, sink.id, {
        scheduler,
        loop: this.c.loop,
        log: this.c.log,
        checkpoints: this.c.checkpoints,
        workerName: this.c.workerName,
        resilient: this.c.resilient,
        outputs: this.c.sinkOutputs,
      });
      if (writer === undefined) continue;
      if (recorder !== undefined && pipeline !== undefined)
        writer.markerEnded = (origin, ingress) => recorder.markerEnded(pipeline, origin, ingress);
      // Its messages are encoded chunks of up to ~16 KB: overloaded past
      // SINK_WRITER_HIGH of them (a few MB), not the default count.
      writer.self = scheduler.spawn(writer, `sink writer '${config.name}'`, undefined, {
        high: SINK_WRITER_HIGH,
        low: SINK_WRITER_HIGH / 4,
      });
      this.writers.set(sink.id, writer);
      const saved = restore?.sinks.find((x) => x.sink === sink.id);
      if (saved !== undefined) writer.restore(saved.pending);
    }
  }
}
