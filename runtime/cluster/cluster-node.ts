/**
 * A worker's part in forming a cluster, on its main thread (the cluster
 * actor of docs/architecture.md section 2). Every worker, the initializer included,
 * goes through the same steps when the initializer says so:
 *   assign  -> spawn the actors of its share, report them (`spawned`);
 *   wire    -> compile routes with the whole cluster's directory, open data
 *              channels to every other worker (`wired`);
 *   start   -> start its sources (`ready`).
 * (member.ts: what a worker does on each word, rollbacks and checkpoints
 * included). The initializer also runs the control server, the start-up
 * coordinator (coordinator.ts) and, with resilience, the checkpoint driver
 * (runtime/checkpoint/driver.ts); it takes part itself without a socket: its
 * own messages are handled in process. There is no central manager after
 * start: data flows worker to worker.
 */
import { randomBytes } from 'node:crypto';
import {
  decodeControlMessage,
  encodeControlMessage,
  formatAddress,
  RooError,
  ErrorCode,
  type Address,
  type ControlMessage,
  type WireControlMessage,
  type AssignControlMessage,
  type ShrinkOutcome,
  type ShrinkRequest,
  type WireThreadMove,
  type WorkerDirectory,
} from '../../protocols/index.js';
import { CheckpointDriver } from '../checkpoint/driver.js';
import { chooseRollback } from '../checkpoint/recovery.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import type { SnapshotStore } from '../checkpoint/snapshot-store.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import { assignKeyGroups } from '../topology/placement.js';
import {
  layoutOf,
  loadLayouts,
  removeClusterInfo,
  removeLayouts,
  saveLayout,
} from './cluster-info.js';
import { ControlClient, ControlServer } from './control-transport.js';
import { ClusterMember } from './member.js';
import { ReconfigurationDriver, type RebalanceOutcome } from './reconfiguration-driver.js';
import { imbalance, planThreadMoves, threadLoads } from '../topology/rebalance.js';
import type { Layout } from './reconfiguration.js';
import {
  initialState,
  step,
  type CoordinatorState,
  type Decision,
  type Hello,
  type Member,
} from './coordinator.js';

/** How this worker takes part. */
export interface ClusterNodeOptions {
  readonly name: string;
  readonly engine: Engine;
  readonly log: Logger;
  /** Initializer: listen here. Others: the initializer's control address. */
  readonly control: Address;
  /** This worker's data address (the initializer's --data, others' --my-data). */
  readonly data: Address;
  /** This worker's control address (others' --my-control; informational). */
  readonly myControl: Address | undefined;
  /** Set on the initializer: workers to wait for, itself included. */
  readonly initializer: { readonly workerCount: number } | undefined;
  /** Where cluster information is kept (`--resilience-dir`). */
  readonly resilienceDir: string;
  /** True when this worker found its cluster information: a restart, rejoining. */
  readonly rejoin: boolean;
  /**
   * The cluster's id (`--cluster-id`, or the one saved by an earlier run). The
   * initializer gives a new cluster this id, or makes one up; a member
   * refuses a cluster of another id.
   */
  readonly clusterId?: string;
  /** Started with --join: asks to join the running cluster at `control` (any member's control address). */
  readonly join?: boolean;
  /** Called when the cluster is formed and this worker's sources run. */
  readonly onReady: () => void;
  /** Called when the cluster shuts down cleanly (this worker must stop, exit 0). */
  readonly onShutdown: (reason: string) => void;
  /** Aborts joining (a member still connecting to the initializer gives up at once). */
  readonly signal?: AbortSignal;
  /** Called when the cluster cannot form or tells this worker to stop. */
  readonly onFatal: (error: RooError) => void;
  /** Set with `--run-with-resilience`. */
  readonly resilience?: ClusterResilience;
}

/** What a worker needs for checkpoints and rollbacks. */
export interface ClusterResilience {
  readonly store: SnapshotStore;
  /** `--time-between-checkpoints`, in ms (used by the coordinator). */
  readonly intervalMs: number;
  /** Drops the running engine and prepares a fresh one (a rollback). */
  readonly replaceEngine: () => Promise<Engine>;
  /** A restarted initializer: the cluster's workers in their saved order. */
  readonly order?: readonly string[];
}

/** The cluster as a worker knows it, for `roo status`. */
export interface ClusterView {
  readonly clusterId: string;
  /** The routing table's version. */
  readonly routingVersion: number;
  /** Key groups each member owns, by name. */
  readonly keyGroups: Readonly<Record<string, number>>;
  /** The reconfiguration under way, if any (with the key groups that move, on the initializer). */
  readonly reconfiguration: {
    readonly id: number;
    readonly phase: string;
    readonly moving?: number;
  } | null;
}

/** A running cluster node. */
export interface ClusterNode {
  /** This worker's bound data and control addresses. */
  readonly data: Address;
  readonly control: Address;
  /** Names of the cluster's workers, by worker index (empty before assignment). */
  members(): readonly string[];
  /** This worker's engine now (a rollback replaces it). */
  engine(): Engine;
  /** Asks the whole cluster to shut down cleanly (every worker stops and removes its files). */
  shutdownCluster(reason: string): void;
  /** The cluster as this worker knows it. */
  view(): ClusterView;
  /** Spreads this worker's key groups over its threads by measured load (a reconfiguration). */
  rebalance(): Promise<RebalanceOutcome>;
  /** Asks the coordinator to shrink the cluster (or only which workers may leave). */
  shrink(request: ShrinkRequest): Promise<ShrinkOutcome>;
  /** Closes the control channel. */
  close(): Promise<void>;
}

const SELF = 0;
/** How long a clean shutdown waits for its last checkpoint to commit. */
const FINAL_CHECKPOINT_MS = 10_000;
/** How long a member keeps trying to reach a lost initializer (it may be restarting). */
const RECONNECT_FOR_MS = 10 * 60_000;

/** Joins (or, on the initializer, forms) the cluster. */
export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const { log } = o;
  const data = await o.engine.listenData(o.data);
  log.info(`data channel listening on ${formatAddress(data)}`);
  const r = o.resilience;
  const member = new ClusterMember(o, data);
  const helloOf = (control: Address, rejoin: boolean) => member.helloOf(control, rejoin);
  /** Plans this worker's thread moves from its measured loads and has `run` carry them out. */
  const rebalanceWith = async (
    run: (moves: WireThreadMove[]) => Promise<RebalanceOutcome>,
  ): Promise<RebalanceOutcome> => {
    const e = member.engine;
    const groups = await e.groupLoads();
    const before = imbalance(threadLoads(groups, e.threads));
    const moves = planThreadMoves(groups, e.threads).map((m) => ({
      worker: o.name,
      partition: e.plan.partitions[m.partition]?.name ?? '',
      keyGroup: m.keyGroup,
      thread: m.to,
    }));
    if (moves.length === 0)
      return {
        ok: true,
        message: `nothing to move: the busiest thread carries ${before.toFixed(2)}x the mean load`,
      };
    log.info(
      `rebalancing threads: the busiest carries ${before.toFixed(2)}x the mean load; moving ${moves.length} key groups`,
    );
    const outcome = await run(moves);
    if (outcome.ok) await e.resetLoads();
    return outcome;
  };
  // Plan facts are the same in every engine a rollback makes.
  const engine = o.engine;
  if (o.initializer === undefined) {
    // A member: connect to the initializer (retrying while it is not up) and say hello.
    const connection: { client?: ControlClient; closing?: boolean } = {};
    // Closing the node also stops a reconnect to a lost initializer.
    const closing = new AbortController();
    const signal =
      o.signal === undefined ? closing.signal : AbortSignal.any([o.signal, closing.signal]);
    const send = (m: ControlMessage) => connection.client?.send(encodeControlMessage(m));
    let chain = Promise.resolve();
    /** The coordinator's control address (a joiner may first reach another member, which redirects it). */
    let target = o.control;
    const connect = async (rejoin: boolean, timeoutMs: number): Promise<void> => {
      const client = await ControlClient.connect(
        target,
        {
          message: (bytes) => {
            let m: ControlMessage;
            try {
              m = decodeControlMessage(bytes);
            } catch (err) {
              log.error(`bad control message from the initializer: ${(err as Error).message}`);
              return;
            }
            if (m.type === 'redirect' && member.me < 0) {
              log.info(
                `${formatAddress(target)} is a member of the cluster; joining through the initializer at ${formatAddress(m.control)}`,
              );
              target = m.control;
              connection.closing = true;
              const old = connection.client;
              connection.client = undefined;
              void old?.close();
              connection.closing = false;
              connect(rejoin, timeoutMs).catch((err: Error) => o.onFatal(asFatal(err)));
              return;
            }
            // One at a time, in order: a phase's work finishes before the next begins.
            chain = chain
              .then(() => member.handle(m, send))
              .catch((err: Error) => o.onFatal(asFatal(err)));
          },
          closed: () => {
            log.warn('the control connection to the initializer closed');
            // With resilience the initializer may come back: reconnect, and it recovers the cluster.
            if (r !== undefined && connection.closing !== true && member.me >= 0) {
              connection.client = undefined;
              connect(true, RECONNECT_FOR_MS).catch((err: Error) => {
                if (!closing.signal.aborted) o.onFatal(asFatal(err));
              });
            }
          },
        },
        log,
        timeoutMs,
        signal,
      );
      connection.client = client;
      send(helloOf(o.myControl ?? o.control, rejoin));
    };
    await connect(o.rejoin, 60_000);
    // Listen on --my-control, so that a worker given this address with --join finds the initializer.
    const redirector =
      o.myControl === undefined
        ? undefined
        : await ControlServer.listen(
            o.myControl,
            {
              message: (c, bytes) => {
                const initializer = member.initializerControl();
                let m: ControlMessage | undefined;
                try {
                  m = decodeControlMessage(bytes);
                } catch (err) {
                  log.warn(`bad control message on --my-control: ${(err as Error).message}`);
                }
                if (m?.type === 'hello' && initializer !== undefined)
                  redirector?.send(
                    c,
                    encodeControlMessage({ type: 'redirect', version: 1, control: initializer }),
                  );
                else if (m !== undefined)
                  redirector?.send(
                    c,
                    encodeControlMessage({
                      type: 'refuse',
                      version: 1,
                      code: ErrorCode.ClusterMismatch,
                      message:
                        initializer === undefined
                          ? 'this worker has not joined its cluster yet; try again'
                          : `this worker is a member; speak to the initializer at ${formatAddress(initializer)}`,
                    }),
                  );
              },
              closed: () => undefined,
            },
            log,
          ).catch((err: Error) => {
            log.warn(
              `cannot listen on --my-control ${formatAddress(o.myControl as Address)}: ${err.message}`,
            );
            return undefined;
          });
    return {
      data,
      control: o.myControl ?? o.control,
      members: () => member.members(),
      engine: () => member.engine,
      shutdownCluster: (reason) => send({ type: 'shutdown', version: 1, reason }),
      shrink: (request) => member.relayShrink(request, send),
      view: () => member.view(),
      rebalance: () => rebalanceWith((moves) => member.requestRebalance(moves, send)),
      close: async () => {
        connection.closing = true;
        closing.abort();
        await redirector?.close();
        await connection.client?.close();
      },
    };
  }

  // The initializer: control server + coordinator; itself a member with no socket.
  let state: CoordinatorState = initialState(
    o.initializer.workerCount,
    engine.plan.application,
    engine.applicationHash,
    r === undefined ? undefined : r.order === undefined ? {} : { order: r.order },
  );
  /** The id every worker of this cluster is told, and saves. */
  const clusterId =
    o.clusterId ??
    `${engine.plan.application.replace(/[^A-Za-z0-9_.:-]+/g, '-')}-${randomBytes(4).toString('hex')}`;
  /** Committed checkpoints that restarted workers said they can restore, by name. */
  const reported = new Map<string, readonly number[]>();
  let restoredFrom = 0;
  const driver =
    r === undefined
      ? undefined
      : new CheckpointDriver(
          r.intervalMs,
          r.store,
          (order) => {
            const m: ControlMessage =
              order.kind === 'start'
                ? { type: 'checkpoint', version: 1, id: order.checkpointId }
                : { type: 'commit', version: 1, id: order.checkpointId };
            if (order.kind === 'commit') recordLayout(order.checkpointId);
            for (const x of state.members) toName(x.name, m);
          },
          log,
        );
  /** The cluster's rollback generation: every assign (a joiner's too) carries it. */
  let generation = 0;
  /** The layout in force: set by start-up, reconfigurations and rollbacks. */
  let layoutNow: Layout | undefined;
  /** Records the layout checkpoint `id` was taken under, before anyone hears of its commit. */
  const recordLayout = (id: number) => {
    if (r === undefined) return;
    const layout = reconfigurations?.layout ?? layoutNow;
    if (layout !== undefined)
      saveLayout(o.resilienceDir, engine.plan.application, id, layout, [
        ...r.store.committed(),
        id,
      ]);
  };
  /** Starts checkpointing the whole cluster after checkpoint `committed`. */
  const checkpointFrom = (committed: number) => {
    if (driver === undefined || r === undefined) return;
    const lastId = Math.max(driver.lastId, committed, ...r.store.ids(), ...r.store.committed());
    driver.run(
      state.members.map((m) => m.name),
      committed,
      lastId,
    );
  };
  const names = new Map<string, number>(); // name -> connection
  /** Grows and shrinks the running cluster (created once it runs). */
  let reconfigurations: ReconfigurationDriver | undefined;
  const startReconfigurations = () => {
    if (reconfigurations !== undefined) {
      reconfigurations.setDirectories(state.directories as WorkerDirectory[]);
      return;
    }
    const n = state.members.length;
    reconfigurations = new ReconfigurationDriver(
      {
        log,
        partitions: engine.plan.partitions.map((p) => p.name),
        initializer: o.name,
        assignOf: (layout, index) => assignOf(layout.members, index, layout),
        send: toName,
        delayMs: Number(process.env['ROO_RECONFIGURE_DELAY_MS'] ?? 0) || 0,
        blocked: () => {
          if (state.phase !== 'running' || state.recovering)
            return `the cluster is not running now (${state.recovering ? 'recovering' : state.phase})`;
          if (state.lost.size > 0)
            return `worker ${[...state.lost].map((n) => `'${n}'`).join(', ')} is lost; the cluster must be whole to grow or shrink`;
          const loop = barrierCycle(engine.plan);
          if (loop !== undefined)
            return `the application's routes loop through ${loop}, so a reconfiguration's barrier could never align`;
          return undefined;
        },
        installed: (layout, directories) =>
          apply({ kind: 'members', members: layout.members, directories }),
        left: (name) => names.delete(name),
        failed: (reason, joiner, paused) => {
          if (joiner !== undefined) {
            toName(joiner, { type: 'leave', version: 1, reason });
            names.delete(joiner);
          }
          // A joiner lost before anything paused: the cluster is as it was.
          if (!paused) return;
          // Without resilience a half-moved cluster cannot be put back: stop it.
          if (driver === undefined) shutdownAll(`reconfiguration failed: ${reason}`);
          // With resilience: a lost member is waited for and rolls the cluster back when it
          // returns; a lost joiner was no member, so roll back now (input may be held).
          else if (state.lost.size === 0) apply({ kind: 'roll-back' });
        },
        ...(driver === undefined
          ? {}
          : {
              checkpoints: {
                before: async () => {
                  const ok = await driver.finish(FINAL_CHECKPOINT_MS);
                  if (!ok) throw new Error('the checkpoint before it did not commit');
                  driver.pause('a reconfiguration runs');
                  return driver.lastId + 1;
                },
                commit: (id, members) => {
                  // Durable here first, as any commit.
                  (r as ClusterResilience).store.recordCommit(id);
                  recordLayout(id);
                  log.info(`checkpoint ${id} committed (reconfiguration barrier)`);
                  for (const name of members) toName(name, { type: 'commit', version: 1, id });
                },
                after: async (members, id) => {
                  driver.run(members, driver.committed, id);
                  const ok = await driver.finish(FINAL_CHECKPOINT_MS);
                  if (!ok) throw new Error('the checkpoint did not commit');
                },
              },
            }),
      },
      layoutNow ?? { version: 1, members: state.members, owners: assignKeyGroups(engine.plan, n) },
      state.directories as WorkerDirectory[],
    );
  };
  const listener: { server?: ControlServer } = {};
  let selfChain = Promise.resolve();
  const toName = (name: string, m: ControlMessage) => {
    const c = names.get(name);
    if (c === SELF) {
      selfChain = selfChain
        .then(() => member.handle(m, (reply) => observe(reply, SELF)))
        .catch((err: Error) => o.onFatal(asFatal(err)));
    } else if (c !== undefined) listener.server?.send(c, encodeControlMessage(m));
  };
  const execute = (d: Decision) => {
    switch (d.kind) {
      case 'join':
        names.set(d.member.name, d.connection);
        if (reconfigurations === undefined) {
          toName(d.member.name, {
            type: 'leave',
            version: 1,
            reason: 'the cluster is not running yet',
          });
          names.delete(d.member.name);
          return;
        }
        reconfigurations.grow(d.member);
        return;
      case 'accept':
        names.set(d.name, d.connection);
        log.info(`worker '${d.name}' joined (${state.members.length} of ${state.expected})`);
        return;
      case 'refuse':
        log.warn(`refused a worker: ${d.message}`);
        listener.server?.send(
          d.connection,
          encodeControlMessage({ type: 'refuse', version: 1, code: d.code, message: d.message }),
        );
        listener.server?.drop(d.connection, 'refused');
        return;
      case 'assign':
        d.members.forEach((m, i) => toName(m.name, assignOf(d.members, i)));
        return;
      case 'assign-one': {
        const i = state.members.findIndex((m) => m.name === d.name);
        log.info(
          `worker '${d.name}' restarted: rejoining as worker ${i + 1}; the state it held is lost (no resilience)`,
        );
        toName(d.name, assignOf(d.members, i));
        return;
      }
      case 'wire-one':
        toName(d.name, { type: 'wire', version: 1, directory: d.directories as WorkerDirectory[] });
        return;
      case 'start-one':
        toName(d.name, { type: 'start', version: 1 });
        return;
      case 'rejoined':
        log.info(`worker '${d.name}' is back in the cluster`);
        return;
      case 'wire': {
        const msg: WireControlMessage = {
          type: 'wire',
          version: 1,
          directory: d.directories as WorkerDirectory[],
        };
        for (const m of state.members) toName(m.name, msg);
        return;
      }
      case 'start':
        for (const m of state.members) toName(m.name, { type: 'start', version: 1 });
        return;
      case 'running':
        log.info(`cluster of ${state.members.length} workers is running`);
        startReconfigurations();
        checkpointFrom(0);
        o.onReady();
        return;
      case 'rollback':
        rollbackAll(d.members);
        return;
      case 'recovered':
        log.info(
          `cluster of ${state.members.length} workers recovered from checkpoint ${restoredFrom} and is running`,
        );
        checkpointFrom(restoredFrom);
        startReconfigurations();
        o.onReady();
        return;
      case 'abort':
        for (const m of state.members)
          if (names.get(m.name) !== SELF)
            toName(m.name, { type: 'shutdown', version: 1, reason: d.reason });
        o.onFatal(new RooError(ErrorCode.Internal, d.reason));
        return;
    }
  };
  /**
   * Rolls every member back to the newest committed checkpoint that every
   * restarted worker can restore; a worker that can restore none is refused
   * with what to do (the cluster cannot recover without its state).
   */
  const rollbackAll = (members: readonly Member[]) => {
    driver?.pause('the cluster is rolling back');
    const store = (r as ClusterResilience).store;
    const choice = chooseRollback(store.committed(), reported);
    if (choice.kind === 'refuse') {
      const message = `${choice.reason}. The cluster cannot recover without their state; to start afresh, shut the cluster down (roo shutdown) and remove every worker's resilience files (rm ${store.applicationFiles}), then start the cluster again`;
      log.error({ code: ErrorCode.SnapshotCorrupt }, message);
      for (const name of choice.workers) {
        toName(name, { type: 'refuse', version: 1, code: ErrorCode.SnapshotCorrupt, message });
        const c = names.get(name);
        if (c !== undefined && c !== SELF) listener.server?.drop(c, 'cannot recover');
      }
      reported.clear();
      return;
    }
    const target = choice.target;
    reported.clear();
    restoredFrom = target;
    generation = 1 + Math.floor(Math.random() * 0x7ffffffe);
    log.info(`rolling the cluster back to checkpoint ${target} (generation ${generation})`);
    // The members and routing table the checkpoint was taken under come back with its state.
    const saved = layoutOf(loadLayouts(o.resilienceDir, engine.plan.application), target);
    const now = (m: Member) => members.find((x) => x.name === m.name) ?? m;
    const layout: Layout =
      saved === undefined
        ? { version: 1, members, owners: assignKeyGroups(engine.plan, members.length) }
        : { ...saved, members: saved.members.map(now) };
    const back = layout.members;
    for (const m of members) {
      if (back.some((x) => x.name === m.name)) continue;
      log.info(`worker '${m.name}' was not in the cluster at checkpoint ${target}: it leaves`);
      toName(m.name, {
        type: 'leave',
        version: 1,
        reason: `the cluster rolled back to checkpoint ${target}, taken before it joined`,
      });
      names.delete(m.name);
    }
    if (back.length !== members.length || back.some((m, i) => m.name !== members[i]?.name))
      apply({ kind: 'members', members: back, directories: [] });
    layoutNow = layout;
    reconfigurations?.reset(layout);
    back.forEach((m, i) => {
      toName(m.name, { type: 'rollback', version: 1, checkpoint: target, generation });
      toName(m.name, assignOf(back, i, layout));
    });
  };
  /** The `assign` message telling worker `index` of `members` its place (under `layout`, or the one in force). */
  const assignOf = (
    members: readonly Member[],
    index: number,
    layout: Layout | undefined = reconfigurations?.layout,
  ): AssignControlMessage => ({
    type: 'assign',
    version: 1,
    clusterId,
    workerIndex: index,
    generation,
    members: members.map((x) => ({
      name: x.name,
      threads: x.threads,
      control: x.control,
      data: x.data,
    })),
    routing: {
      version: layout?.version ?? 1,
      partitions: engine.plan.partitions.map((p, pi) => ({
        name: p.name,
        owners: [...((layout?.owners ?? assignKeyGroups(engine.plan, members.length))[pi] ?? [])],
      })),
    },
  });
  const shrink = (request: ShrinkRequest): Promise<ShrinkOutcome> =>
    reconfigurations === undefined
      ? Promise.resolve({
          ok: false,
          message: 'the cluster is not running yet',
          leaving: [],
          eligible: [],
          members: state.members.map((m) => m.name),
        })
      : reconfigurations.shrink(request);
  /** Tells every member to shut down, then this worker. */
  let shuttingDown = false;
  const shutdownAll = (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    // With resilience, a last checkpoint first: what was processed commits
    // (exactly-once output goes out, acking senders hear their last acks).
    if (driver === undefined) return stopAll(reason);
    log.info(`shutting the cluster down (${reason}): taking a last checkpoint`);
    void driver.finish(FINAL_CHECKPOINT_MS).then((ok) => {
      if (!ok) log.warn('the last checkpoint did not commit; shutting down without it');
      stopAll(reason);
    });
  };
  const stopAll = (reason: string) => {
    log.info(`shutting the cluster down: ${reason}`);
    for (const m of state.members) {
      if (names.get(m.name) !== SELF) toName(m.name, { type: 'shutdown', version: 1, reason });
    }
    removeClusterInfo(o.resilienceDir, engine.plan.application, o.name);
    removeLayouts(o.resilienceDir, engine.plan.application);
    driver?.stop();
    member.closeCheckpoints();
    r?.store.removeAll();
    o.onShutdown(reason);
  };
  const apply = (event: Parameters<typeof step>[1]) => {
    const r = step(state, event);
    state = r.state;
    for (const d of r.decisions) execute(d);
  };
  const observe = (m: ControlMessage, connection: number) => {
    if (reconfigurations?.observe(m) === true) return;
    switch (m.type) {
      case 'hello': {
        if (m.rejoin && r !== undefined) reported.set(m.name, m.restorable);
        const hello: Hello = {
          joinRunning: m.joinRunning,
          name: m.name,
          threads: m.threads,
          control: m.control,
          data: m.data,
          application: m.application,
          applicationHash: m.applicationHash,
        };
        apply({ kind: 'hello', connection, hello });
        // A refused worker (a stranger to a recovering cluster) has no say in the rollback.
        if (!state.members.some((x) => x.name === m.name)) reported.delete(m.name);
        return;
      }
      case 'spawned':
        apply({ kind: 'spawned', name: m.name, directory: m.directory });
        return;
      case 'wired':
        apply({ kind: 'wired', name: m.name });
        return;
      case 'ready':
        apply({ kind: 'ready', name: m.name });
        return;
      case 'shutdown':
        shutdownAll(m.reason);
        return;
      case 'rebalance-request': {
        const asked = reconfigurations?.rebalance(m.name, m.moves);
        void (
          asked ?? Promise.resolve({ ok: false, message: 'the cluster is not running yet' })
        ).then((r) =>
          listener.server?.send(
            connection,
            encodeControlMessage({ type: 'rebalance-reply', version: 1, nonce: m.nonce, ...r }),
          ),
        );
        return;
      }
      case 'shrink-request': {
        const request = { workers: m.workers, count: m.count, query: m.query };
        void shrink(request).then((r) =>
          listener.server?.send(
            connection,
            encodeControlMessage({ type: 'shrink-reply', version: 1, nonce: m.nonce, ...r }),
          ),
        );
        return;
      }
      case 'checkpoint-done':
        driver?.acked(m.name, m.id, m.error === '' ? undefined : m.error);
        return;
      default:
        return;
    }
  };
  const server = await ControlServer.listen(
    o.control,
    {
      message: (connection, bytes) => {
        let m: ControlMessage;
        try {
          m = decodeControlMessage(bytes);
        } catch (err) {
          log.error(
            `bad control message on connection #${connection}: ${(err as Error).message}; closing it`,
          );
          listener.server?.drop(connection, 'bad control message');
          return;
        }
        observe(m, connection);
      },
      closed: (connection) => {
        for (const [name, c] of names) {
          if (c === connection) {
            names.delete(name);
            log.warn(`worker '${name}' disconnected from the control channel`);
            driver?.pause(`worker '${name}' was lost`);
            reconfigurations?.lost(name);
            apply({ kind: 'lost', name });
          }
        }
      },
    },
    log,
  );
  listener.server = server;
  const control = server.bound ?? o.control;
  log.info(
    `control channel listening on ${formatAddress(control)}; waiting for ${o.initializer.workerCount} workers`,
  );
  observe(helloOf(control, o.rejoin), SELF);
  return {
    data,
    control,
    members: () => state.members.map((m) => m.name),
    engine: () => member.engine,
    shutdownCluster: shutdownAll,
    shrink,
    rebalance: () =>
      rebalanceWith(
        (moves) =>
          reconfigurations?.rebalance(o.name, moves) ??
          Promise.resolve({ ok: false, message: 'the cluster is not running yet' }),
      ),
    view: () => {
      const v = member.view();
      const running = reconfigurations?.running;
      return running === undefined ? v : { ...v, reconfiguration: running };
    },
    close: async () => {
      driver?.stop();
      await server.close();
    },
  };
}

function asFatal(err: unknown): RooError {
  return err instanceof RooError ? err : new RooError(ErrorCode.Internal, (err as Error).message);
}
