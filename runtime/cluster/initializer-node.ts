/**
 * The initializer's node: the control server, the start-up coordinator
 * (coordinator.ts), rollbacks, the reconfigurations that grow, shrink and
 * rebalance the cluster (reconfiguration-driver.ts) and, with resilience,
 * the checkpoint driver, wired around the state they share. The parts live
 * beside it: the control server's handlers (initializer-control.ts), the
 * executor of the coordinator's decisions (initializer-decisions.ts), the
 * `assign` message (initializer-assign.ts) and rollbacks to the layout each
 * committed checkpoint was taken under (initializer-rollback.ts). The
 * initializer is a member too: its own messages are handled in process, in order.
 */
import { randomBytes } from 'node:crypto';
import {
  encodeControlMessage,
  formatAddress,
  RooError,
  ErrorCode,
  type Address,
  type AssignControlMessage,
  type ControlMessage,
  type ShrinkOutcome,
  type ShrinkRequest,
  type WorkerDirectory,
} from '../../protocols/index.js';
import { CheckpointDriver } from '../checkpoint/driver.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import { assignKeyGroups } from '../routing/index.js';
import { removeClusterInfo, removeLayouts, saveLayout } from './cluster-info.js';
import {
  asFatal,
  heartbeatOf,
  type ClusterNode,
  type ClusterNodeOptions,
  type ClusterResilience,
  type NodeShared,
} from './cluster-node.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import { checkSender } from './control-sender.js';
import { ControlServer } from './control-transport.js';
import {
  initialState,
  step,
  type CoordinatorState,
  type Decision,
  type Hello,
  type Member,
} from './coordinator.js';
import { assignMessage } from './initializer-assign.js';
import { initializerControlEvents } from './initializer-control.js';
import {
  executeDecision,
  type DecisionEffects,
  type JoinDecision,
} from './initializer-decisions.js';
import { rollbackCluster } from './initializer-rollback.js';
import { NOT_LISTENING } from './member.js';
import { addJoiner, dropJoiner, NO_BATCH } from './join-batch.js';
import { delayPointOf, ReconfigurationDriver } from './reconfiguration-driver.js';
import { whyBlocked, type Layout } from './reconfiguration.js';

/** The initializer's own "connection": its messages are handled in process. */
const SELF = 0;
/** How long a clean shutdown waits for its last checkpoint to commit. */
const FINAL_CHECKPOINT_MS = 10_000;

/** Forms the cluster as its initializer, waiting for `workerCount` workers (itself included). */
export async function startInitializerNode(
  o: ClusterNodeOptions,
  shared: NodeShared,
  workerCount: number,
): Promise<ClusterNode> {
  const { log } = o;
  const r = o.resilience;
  const { data, member, rebalanceWith } = shared;
  const helloOf = (control: Address, rejoin: boolean) => member.helloOf(control, rejoin);
  /** Each worker's external address, from its hello: every `assign` passes them on. */
  const externals = new Map<string, Address>();
  // Plan facts are the same in every engine a rollback makes.
  const engine = o.engine;
  let state: CoordinatorState = initialState(
    workerCount,
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
  /** Joiners waiting for the rest of their --worker-count batch. */
  let joining = NO_BATCH;
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
        delayAt: delayPointOf(process.env['ROO_RECONFIGURE_DELAY_AT']),
        blocked: () =>
          whyBlocked(state, barrierCycle(engine.plan)) ??
          o.lifecycle.check({ kind: 'reconfiguration-begun', id: 0, leaving: false })?.message,
        installed: (layout, directories) =>
          apply({ kind: 'members', members: layout.members, directories }),
        left: (name) => names.delete(name),
        failed: (reason, joiners, paused) => {
          for (const joiner of joiners) {
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
              checkpoints: driver.reconfigurationTurns(FINAL_CHECKPOINT_MS, (id, members) => {
                recordLayout(id);
                for (const name of members) toName(name, { type: 'commit', version: 1, id });
              }),
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
  /** A joiner: started with --worker-count K, it waits until all K have asked. */
  const join = (d: JoinDecision) => {
    const r = addJoiner(joining, d.member, d.count);
    if (r.decision.kind === 'refuse') {
      const { code, reason: message } = r.decision;
      return execute({ kind: 'refuse', connection: d.connection, code, message });
    }
    joining = r.batch;
    names.set(d.member.name, d.connection);
    if (reconfigurations === undefined) {
      joining = dropJoiner(joining, d.member.name);
      toName(d.member.name, {
        type: 'leave',
        version: 1,
        reason: 'the cluster is not running yet',
      });
      names.delete(d.member.name);
      return;
    }
    if (r.decision.kind === 'grow') reconfigurations.grow(r.decision.joiners);
    else
      log.info(
        `worker '${d.member.name}' is waiting to join: ${r.decision.have} of ${r.decision.count} workers joining together (--worker-count ${r.decision.count})`,
      );
  };
  /** Tells every member but this worker to shut down. */
  const shutdownOthers = (reason: string) => {
    for (const m of state.members)
      if (names.get(m.name) !== SELF) toName(m.name, { type: 'shutdown', version: 1, reason });
  };
  const effects: DecisionEffects = {
    log,
    state: () => state,
    names,
    server: () => listener.server,
    toName: (name, m) => toName(name, m),
    assignOf: (members, index) => assignOf(members, index),
    shutdownOthers,
    join,
    running: () => {
      log.info(`cluster of ${state.members.length} workers is running`);
      startReconfigurations();
      checkpointFrom(0);
      o.onReady();
    },
    recovered: () => {
      log.info(
        `cluster of ${state.members.length} workers recovered from checkpoint ${restoredFrom} and is running`,
      );
      checkpointFrom(restoredFrom);
      startReconfigurations();
      o.onReady();
    },
    rollback: (members) => rollbackAll(members),
    fatal: (err) => o.onFatal(err),
  };
  const execute = (d: Decision) => executeDecision(d, effects);
  /** Rolls every member back (initializer-rollback.ts); only with resilience. */
  const rollbackAll = (members: readonly Member[]) =>
    rollbackCluster(members, {
      log,
      lifecycle: o.lifecycle,
      plan: engine.plan,
      resilienceDir: o.resilienceDir,
      store: (r as ClusterResilience).store,
      reported,
      names,
      pause: (why) => driver?.pause(why),
      toName,
      drop: (name, why) => {
        const c = names.get(name);
        if (c !== undefined && c !== SELF) listener.server?.drop(c, why);
      },
      begin: (target, g) => {
        restoredFrom = target;
        generation = g;
      },
      members: (back) => apply({ kind: 'members', members: back, directories: [] }),
      install: (layout) => {
        layoutNow = layout;
        reconfigurations?.reset(layout);
      },
      assignOf,
    });
  /** The `assign` message telling worker `index` of `members` its place (under `layout`, or the one in force). */
  const assignOf = (
    members: readonly Member[],
    index: number,
    layout: Layout | undefined = reconfigurations?.layout,
  ): AssignControlMessage =>
    assignMessage({ plan: engine.plan, clusterId, generation, externals }, members, index, layout);
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
    shutdownOthers(reason);
    removeClusterInfo(o.resilienceDir, engine.plan.application, o.name);
    removeLayouts(o.resilienceDir, engine.plan.application);
    driver?.stop();
    member.closeCheckpoints();
    r?.store.removeAll();
    o.lifecycle.report({ kind: 'shutdown-ordered', reason: `cluster shutdown (${reason})` });
  };
  // The lifecycle decides when a `roo shutdown` (here or relayed by a member) shuts the cluster down.
  o.lifecycle.handle({ 'shut-down': (d) => shutdownAll(d.reason) });
  const apply = (event: Parameters<typeof step>[1]) => {
    const r = step(state, event);
    state = r.state;
    for (const d of r.decisions) execute(d);
  };
  /** Bad and refused control messages: counted and logged, at most every few seconds per kind. */
  const controlErrors = new ErrorReporter(log);
  const observe = (m: ControlMessage, connection: number) => {
    const verdict = checkSender(m, connection, names);
    if (verdict.kind === 'refused') {
      const closing = verdict.stranger ? '; closing it' : '';
      controlErrors.report(
        new RooError(ErrorCode.BadMessage, `ignored ${verdict.reason}${closing}`),
        ErrorCode.BadMessage,
        'control channel (sender)',
      );
      if (verdict.stranger) listener.server?.drop(connection, 'not a member');
      return;
    }
    if (m.type === 'hello' && m.external !== undefined) externals.set(m.name, m.external);
    if (reconfigurations?.observe(m) === true) return;
    switch (m.type) {
      case 'hello': {
        if (m.rejoin && r !== undefined) reported.set(m.name, m.restorable);
        const hello: Hello = {
          joinRunning: m.joinRunning,
          joinCount: m.joinCount,
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
      case 'shutdown-request': {
        // A member relays `roo shutdown`: this worker's lifecycle decides, and the member hears which way.
        const asked = { kind: 'shutdown-asked', reason: m.reason } as const;
        const refused = o.lifecycle.check(asked);
        if (refused !== undefined)
          log.warn(
            { code: refused.code },
            `shutdown relayed by a member refused: ${refused.message}`,
          );
        const reply = refused === undefined ? 'the cluster is shutting down' : refused.message;
        listener.server?.send(
          connection,
          encodeControlMessage({
            type: 'shutdown-reply',
            version: 1,
            nonce: m.nonce,
            ok: refused === undefined,
            message: reply,
          }),
        );
        if (refused === undefined) o.lifecycle.report(asked);
        return;
      }
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
  // A worker alone without --control is a cluster of one that nobody can join: no server.
  const server =
    o.control === undefined
      ? undefined
      : await ControlServer.listen(
          o.control,
          initializerControlEvents({
            log,
            names,
            server: () => listener.server,
            errors: controlErrors,
            observe,
            shuttingDown: () => shuttingDown,
            left: (name) => {
              joining = dropJoiner(joining, name);
            },
            lost: (name) => {
              driver?.pause(`worker '${name}' was lost`);
              reconfigurations?.lost(name);
              apply({ kind: 'lost', name });
            },
          }),
          log,
          { ...(o.security === undefined ? {} : { security: o.security }), ...heartbeatOf(o) },
        );
  listener.server = server;
  const control = server === undefined ? undefined : (server.bound ?? o.control);
  if (control !== undefined)
    log.info(
      `control channel listening on ${formatAddress(control)}; waiting for ${workerCount} workers`,
    );
  else log.info('running as a cluster of one: without --control no worker can join it');
  observe(helloOf(control ?? NOT_LISTENING, o.rejoin), SELF);
  return {
    data,
    control,
    members: () => state.members.map((m) => m.name),
    engine: () => member.engine,
    shrink,
    shutdown: (reason) => {
      const refused = o.lifecycle.check({ kind: 'shutdown-asked', reason });
      const begin = () => o.lifecycle.report({ kind: 'shutdown-asked', reason });
      return Promise.resolve(
        refused === undefined ? { afterAnswer: begin } : { refused, afterAnswer: () => undefined },
      );
    },
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
      await server?.close();
    },
  };
}
