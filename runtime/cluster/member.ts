/**
 * What every worker of a cluster does on the initializer's word (the
 * initializer too, in process): spawn its share on `assign`, wire on `wire`,
 * start on `start`; with resilience, take its part of each checkpoint, record
 * commits, and on `rollback` replace its engine with one restored from the
 * chosen checkpoint (under a new data-channel generation).
 */
import { workerEvents } from '../engine/worker-events.js';
import {
  chunkGroups,
  ErrorCode,
  formatAddress,
  RooError,
  type Address,
  type AssignControlMessage,
  type ControlMessage,
  type ShrinkOutcome,
  type ShrinkRequest,
  type WireGroupState,
  type WireThreadMove,
} from '../../protocols/index.js';
import { CheckpointMember } from '../checkpoint/driver.js';
import { restorableIds } from '../checkpoint/recovery.js';
import type { Engine } from '../engine/engine.js';
import { LogLine } from '../logging/log-lines.js';
import { placeWorkerShare, runsSourceOn } from '../topology/placement.js';
import { removeClusterInfo, saveClusterInfo } from './cluster-info.js';
import { groupsToShip, planMemberMigration, type MemberMigration } from './member-migration.js';
import { MemberRequests, type RebalanceAnswer, type RequestSender } from './member-requests.js';
import type { ClusterNodeOptions, ClusterView } from './cluster-node.js';

/**
 * The address a worker gives for a channel it does not listen on (a worker
 * alone without --control or --data): port 0, which nobody can connect to.
 * Only the worker itself sees it (its own hello and assign are handled in
 * process), so it never travels.
 */
export const NOT_LISTENING: Address = { host: '127.0.0.1', port: 0 };

/** One worker's side of the control protocol. */
export class ClusterMember {
  /** This worker's engine now (a rollback replaces it). */
  engine: Engine;
  /** This worker's index in the cluster (-1 before `assign`). */
  me = -1;
  private assigned: AssignControlMessage | undefined;
  private owners: number[][] = [];
  private readonly checkpoints: CheckpointMember | undefined;
  /** Set by `rollback`: what the next `assign` restores, and the data generation. */
  private rollback: { checkpoint: number; generation: number } | undefined;
  /** True once the engine has actors (a rollback must then replace it). */
  private spawned = false;
  /** True once this engine's sources were started (a joiner's start on its first `resume`). */
  private started = false;
  /**
   * For tests (ROO_INSTALL_DELAY_MS): this member installs a
   * reconfiguration's table that much later than told, so that the others
   * install theirs first and send to it before it has.
   */
  private readonly installDelayMs = Number(process.env['ROO_INSTALL_DELAY_MS'] ?? 0) || 0;
  /** For tests (ROO_RESTORE_DELAY_MS): a rollback's restore waits that long, so a signal lands mid-restore. */
  private readonly restoreDelayMs = Number(process.env['ROO_RESTORE_DELAY_MS'] ?? 0) || 0;

  constructor(
    private readonly o: ClusterNodeOptions,
    /** This worker's bound data address (none: it has no data channel, a cluster of one). */
    readonly data: Address | undefined,
  ) {
    this.engine = o.engine;
    this.requests = new MemberRequests(o.name);
    const r = o.resilience;
    this.checkpoints =
      r === undefined
        ? undefined
        : new CheckpointMember(
            () => this.engine,
            r.store,
            o.name,
            o.log,
            o.initializer !== undefined,
          );
  }

  /**
   * A leave or the cluster's shutdown, if the lifecycle takes it: this
   * worker's files go (nothing is left to recover) before it stops.
   */
  private leaveCluster(
    event: { readonly kind: 'leave-ordered' | 'shutdown-ordered'; readonly reason: string },
    line: string,
  ): void {
    const { o } = this;
    if (o.lifecycle.check(event) !== undefined) {
      o.lifecycle.report(event);
      return;
    }
    o.log.info(line);
    removeClusterInfo(o.resilienceDir, this.engine.plan.application, o.name);
    this.checkpoints?.close();
    o.resilience?.store.removeAll();
    o.lifecycle.report(event);
  }

  /** A clean shutdown: checkpoints in flight write no more files. */
  closeCheckpoints(): void {
    this.checkpoints?.close();
  }

  /** Names of the cluster's workers, by index (empty before `assign`). */
  members(): string[] {
    return this.assigned?.members.map((x) => x.name) ?? [];
  }

  /** The cluster as this worker knows it: id, members with their key groups, routing version. */
  view(): ClusterView {
    const a = this.assigned;
    const owned: Record<string, number> = {};
    for (const m of a?.members ?? []) owned[m.name] = 0;
    for (const row of this.owners)
      for (const w of row) {
        const name = a?.members[w]?.name;
        if (name !== undefined) owned[name] = (owned[name] ?? 0) + 1;
      }
    return {
      clusterId: a?.clusterId ?? '',
      routingVersion: a?.routing.version ?? 1,
      keyGroups: owned,
      owners: this.owners,
      externals: Object.fromEntries(
        (a?.members ?? []).flatMap((m) =>
          m.external === undefined ? [] : [[m.name, formatAddress(m.external)]],
        ),
      ),
      // The reconfiguration this worker takes part in (from `migrate` to `resume`).
      reconfiguration:
        this.o.lifecycle.state.reconfiguration === 0
          ? null
          : { id: this.o.lifecycle.state.reconfiguration, phase: 'moving' },
    };
  }

  /** The initializer's control address, once assigned. */
  initializerControl(): Address | undefined {
    return this.assigned?.members[0]?.control;
  }

  /** This worker's key groups moving between its threads in the running reconfiguration: target thread by 'partition/group'. */
  private threadMoves: ReadonlyMap<string, number> = new Map<string, number>();
  /** Key groups handed to this worker in the running reconfiguration, until the last chunk. */
  private incoming: WireGroupState[] = [];
  /** The reconfiguration prepared (`migrate`) and waiting for its barrier: what leaves this worker, and whether it leaves itself. */
  private migration: (MemberMigration & { readonly id: number }) | undefined;
  /** Requests to the coordinator that wait for its answer. */
  private readonly requests: MemberRequests;

  /** Asks the coordinator to move this worker's groups between its threads as `moves` say. */
  requestRebalance(
    moves: readonly WireThreadMove[],
    send: RequestSender,
  ): Promise<RebalanceAnswer> {
    return this.requests.rebalance(moves, send);
  }

  /** Relays a shrink request from this worker's external channel to the coordinator. */
  relayShrink(request: ShrinkRequest, send: RequestSender): Promise<ShrinkOutcome> {
    return this.requests.shrink(request, send);
  }

  /** Relays `roo shutdown` to the coordinator; answered once it has decided. */
  relayShutdown(reason: string, send: RequestSender): Promise<RebalanceAnswer> {
    return this.requests.shutdown(reason, send);
  }

  /** The control connection to the initializer closed: refuses the requests waiting for its answer. */
  abandonRequests(reason: string): number {
    return this.requests.abandon(reason);
  }

  /**
   * Records this worker's place, so that a restart finds its cluster. Not
   * for a worker alone that listens for no one and keeps no state: a
   * restart has nothing to rejoin.
   */
  private saveInfo(m: AssignControlMessage): void {
    const { o } = this;
    if (o.control === undefined && o.resilience === undefined) return;
    saveClusterInfo(o.resilienceDir, {
      version: 1,
      application: this.engine.plan.application,
      applicationHash: this.engine.applicationHash,
      worker: o.name,
      workerIndex: m.workerIndex,
      workers: m.members.map((x) => x.name),
      control: (o.initializer === undefined ? o.control : m.members[0]?.control) ?? NOT_LISTENING,
      clusterId: m.clusterId,
      savedAt: new Date().toISOString(),
    });
  }

  /** This worker's `hello`: who it is, what it runs, where it listens, what it can restore. */
  helloOf(control: Address, rejoin: boolean): ControlMessage {
    const r = this.o.resilience;
    return {
      type: 'hello',
      version: 1,
      name: this.o.name,
      application: this.engine.plan.application,
      applicationHash: this.engine.applicationHash,
      threads: this.engine.threads,
      control,
      data: this.data ?? NOT_LISTENING,
      rejoin,
      // Only a worker new to the cluster asks to join; once placed (or restarted from its files) it rejoins.
      joinRunning: this.o.join === true && !rejoin && this.me < 0,
      joinCount: Math.max(1, this.o.joinCount ?? 1),
      restorable:
        // Every whole snapshot file: this worker acked each only once it was
        // durable, and the coordinator (whose record of commits is the one that
        // counts) may have committed one this worker never heard was committed.
        rejoin && r !== undefined ? restorableIds(r.store, r.store.ids(), this.o.log) : [],
      ...(this.o.external === undefined ? {} : { external: this.o.external }),
    };
  }

  /** Handles one message of the initializer; `reply` answers it. */
  async handle(m: ControlMessage, reply: (m: ControlMessage) => void): Promise<void> {
    const { o } = this;
    const { log } = o;
    const r = o.resilience;
    const engine = this.engine;
    switch (m.type) {
      case 'assign': {
        if (o.clusterId !== undefined && m.clusterId !== o.clusterId) {
          o.onFatal(
            new RooError(
              ErrorCode.ClusterMismatch,
              `this worker was started for cluster '${o.clusterId}' (--cluster-id), but the initializer runs cluster '${m.clusterId}'`,
            ),
          );
          return;
        }
        if (
          !o.lifecycle.report({ kind: 'assigned', index: m.workerIndex, members: m.members.length })
        )
          return;
        this.assigned = m;
        this.me = m.workerIndex;
        const me = this.me;
        this.owners = m.routing.partitions.map((p) => [...p.owners]);
        log.info(
          `joined the cluster as worker ${me + 1} of ${m.members.length}: ${m.members.map((x) => x.name).join(', ')}`,
        );
        const placement = placeWorkerShare(engine.plan, {
          me,
          threads: m.members.map((x) => x.threads),
          owners: this.owners,
          runsSource: (stageId) => runsSourceOn(engine.plan, stageId, me),
        });
        let restore;
        if (this.rollback !== undefined && r !== undefined && this.rollback.checkpoint > 0) {
          restore = r.store.read(this.rollback.checkpoint);
          log.info(`restoring checkpoint ${this.rollback.checkpoint}`);
        }
        if (this.rollback !== undefined) r?.store.dropAfter(this.rollback.checkpoint);
        if (this.restoreDelayMs > 0 && o.lifecycle.phase === 'recovering')
          await new Promise((resolve) => setTimeout(resolve, this.restoreDelayMs));
        const directory = await engine.spawn(placement, m.generation, restore);
        engine.placement = { ...engine.placement, version: m.routing.version };
        this.spawned = true;
        this.started = false;
        if (o.lifecycle.phase === 'recovering')
          o.lifecycle.report({ kind: 'restored', checkpoint: this.rollback?.checkpoint ?? 0 });
        this.saveInfo(m);
        reply({ type: 'spawned', version: 1, name: o.name, directory });
        return;
      }
      case 'migrate': {
        // Every thread holds, after barrier m.id, what is sent to a group that moves.
        const plan = planMemberMigration(m, {
          name: o.name,
          me: this.me,
          before: this.assigned?.members ?? [],
          owners: this.owners,
        });
        const begun = { kind: 'reconfiguration-begun', id: m.id, leaving: plan.quitting } as const;
        if (!o.lifecycle.report(begun)) return;
        this.threadMoves = plan.threadMoves;
        this.migration = { ...plan, id: m.id };
        await engine.prepareMove(plan.moving, plan.gone);
        reply({ type: 'migrate-prepared', version: 1, name: o.name, id: m.id });
        return;
      }
      case 'migrate-barrier': {
        const migration = this.migration;
        if (migration?.id !== m.id) {
          log.warn(`reconfiguration ${m.id}: a barrier without its migrate; ignored`);
          return;
        }
        this.migration = undefined;
        const { leaving, quitting } = migration;
        const t0 = performance.now();
        // With resilience the barrier is a checkpoint of every group; else only the leaving encode.
        // A worker on its way out stops reading at the barrier; every other keeps reading.
        const snapshot = await engine.quiesce(
          m.id,
          o.name,
          r === undefined ? leaving : undefined,
          quitting,
        );
        const alignMs = performance.now() - t0;
        // Its file is written before the groups leave.
        this.checkpoints?.write(snapshot);
        const groups = groupsToShip(snapshot, leaving, engine.plan.partitions);
        await engine.moveOut(leaving);
        const epoch = await engine.epoch();
        log.info(
          `reconfiguration ${m.id}: barrier aligned by every actor (${alignMs.toFixed(0)} ms); shipping ${groups.length} key groups (${groups.reduce((a, g) => a + g.entities, 0)} keys, ${groups.reduce((a, g) => a + g.state.byteLength, 0)} bytes)`,
        );
        const chunks = chunkGroups(groups);
        chunks.forEach((chunk, i) =>
          reply({
            type: 'migrate-out',
            version: 1,
            name: o.name,
            id: m.id,
            groups: chunk,
            last: i === chunks.length - 1,
            epoch,
          }),
        );
        return;
      }
      case 'migrate-in': {
        this.incoming.push(...m.groups);
        if (!m.last) return;
        const incoming = this.incoming;
        this.incoming = [];
        const partitions = engine.plan.partitions;
        const moves = this.threadMoves;
        const t0 = performance.now();
        const directory = await engine.moveIn(
          incoming.map((g) => ({
            partition: partitions.findIndex((p) => p.name === g.partition),
            keyGroup: g.keyGroup,
            count: g.entities,
            state: g.state,
          })),
          (pi, g) => moves.get(`${partitions[pi]?.name ?? ''}/${g}`),
          m.epoch,
        );
        this.threadMoves = new Map();
        if (incoming.length > 0)
          log.info(
            `reconfiguration ${m.id}: took over ${incoming.length} key groups (${incoming.reduce((a, g) => a + g.entities, 0)} keys; spawned in ${(performance.now() - t0).toFixed(0)} ms)`,
          );
        reply({ type: 'migrate-spawned', version: 1, name: o.name, id: m.id, directory });
        return;
      }
      case 'reconfigure': {
        if (this.installDelayMs > 0)
          await new Promise((resolve) => setTimeout(resolve, this.installDelayMs));
        const a = m.assign;
        this.assigned = a;
        this.me = a.workerIndex;
        this.owners = a.routing.partitions.map((p) => [...p.owners]);
        this.saveInfo(a);
        engine.placement = { ...engine.placement, version: a.routing.version };
        await engine.wire({
          me: this.me,
          members: a.members.map((x) => ({ name: x.name, data: x.data, threads: x.threads })),
          owners: this.owners,
          directories: m.directory,
          generation: this.assigned?.generation ?? 0,
        });
        log.info(
          `reconfiguration ${m.id}: routing table version ${a.routing.version} installed; worker ${this.me + 1} of ${a.members.length}: ${a.members.map((x) => x.name).join(', ')}`,
        );
        reply({ type: 'reconfigured', version: 1, name: o.name, id: m.id });
        return;
      }
      case 'resume': {
        if (this.started) {
          await engine.resumeSources();
          o.lifecycle.report({ kind: 'reconfiguration-ended', id: m.id });
          return;
        }
        // A joiner: its sources start now that its routes know the whole cluster.
        await engine.startSources();
        this.started = true;
        reply({ type: 'ready', version: 1, name: o.name });
        if (o.initializer === undefined) o.onReady();
        return;
      }
      case 'rebalance-reply':
      case 'shrink-reply':
      case 'shutdown-reply':
        this.requests.answer(m);
        return;
      case 'leave':
        this.leaveCluster(
          { kind: 'leave-ordered', reason: `left the cluster (${m.reason})` },
          `left the cluster: ${m.reason}`,
        );
        return;
      case 'wire': {
        const a = this.assigned as AssignControlMessage;
        await engine.wire({
          me: this.me,
          members: a.members.map((x) => ({ name: x.name, data: x.data, threads: x.threads })),
          owners: this.owners,
          directories: m.directory,
          generation: this.assigned?.generation ?? 0,
        });
        reply({ type: 'wired', version: 1, name: o.name });
        return;
      }
      case 'start': {
        await engine.startSources();
        this.started = true;
        if (this.rollback !== undefined) {
          workerEvents.event('recovery', `recovered from checkpoint ${this.rollback.checkpoint}`, {
            checkpoint: this.rollback.checkpoint,
          });
          log.info(LogLine.RecoveryComplete);
          log.info(LogLine.ResumingProcessing);
        }
        reply({ type: 'ready', version: 1, name: o.name });
        // A member is ready once its sources run; the initializer, once every member is.
        if (o.initializer === undefined) o.onReady();
        return;
      }
      case 'refuse':
        o.onFatal(
          new RooError(
            m.code,
            // In a cluster of one the initializer is this worker: its message says it all.
            o.initializer === undefined
              ? `the initializer refused this worker: ${m.message}`
              : m.message,
          ),
        );
        return;
      case 'shutdown':
        this.leaveCluster(
          { kind: 'shutdown-ordered', reason: `cluster shutdown (${m.reason})` },
          `cluster shutdown: ${m.reason}`,
        );
        return;
      case 'rollback': {
        if (r === undefined) return;
        if (!o.lifecycle.report({ kind: 'recovery-begun', checkpoint: m.checkpoint })) return;
        log.info(
          `rolling back to checkpoint ${m.checkpoint === 0 ? '0 (none committed: starting empty)' : m.checkpoint}`,
        );
        if (this.spawned) {
          log.info(LogLine.AttemptingToRecover);
          this.engine = await r.replaceEngine();
          if (this.data !== undefined) await this.engine.listenData(this.data);
          this.spawned = false;
        }
        this.rollback = { checkpoint: m.checkpoint, generation: m.generation };
        return;
      }
      case 'checkpoint': {
        // Not awaited: a checkpoint that cannot finish (a worker died) must not
        // hold up the rollback that follows; a late answer is ignored.
        void this.checkpoints?.take(m.id).then((error) =>
          reply({
            type: 'checkpoint-done',
            version: 1,
            name: o.name,
            id: m.id,
            error: error ?? '',
          }),
        );
        return;
      }
      case 'commit':
        await this.checkpoints?.commit(m.id);
        return;
      default:
        return;
    }
  }
}
