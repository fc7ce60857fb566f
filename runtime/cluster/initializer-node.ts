/**
 * The initializer's node: the control server, the start-up coordinator
 * (coordinator.ts) and its executor, rollbacks (with the layout each
 * committed checkpoint was taken under), the reconfigurations that grow,
 * shrink and rebalance the cluster (reconfiguration-driver.ts), and with
 * resilience the checkpoint driver. The initializer is a member too: its own
 * control messages are handled in process, in order.
 */
import { workerEvents } from '../engine/worker-events.js';
import { randomBytes } from 'node:crypto';
import {
  decodeControlMessage,
  encodeControlMessage,
  formatAddress,
  RooError,
  ErrorCode,
  type Address,
  type AssignControlMessage,
  type ControlMessage,
  type ShrinkOutcome,
  type ShrinkRequest,
  type WireControlMessage,
  type WorkerDirectory,
} from '../../protocols/index.js';
import { CheckpointDriver } from '../checkpoint/driver.js';
import { chooseRollback } from '../checkpoint/recovery.js';
import { barrierCycle } from '../engine/barrier-plan.js';
import { assignKeyGroups } from '../routing/index.js';
import {
  layoutOf,
  loadLayouts,
  removeClusterInfo,
  removeLayouts,
  saveLayout,
} from './cluster-info.js';
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
import { addJoiner, dropJoiner, NO_BATCH } from './join-batch.js';
import { delayPointOf, ReconfigurationDriver } from './reconfiguration-driver.js';
import { rollbackLayout, whyBlocked, type Layout } from './reconfiguration.js';

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
  const externalOf = (name: string): { external?: Address } => {
    const a = externals.get(name);
    return a === undefined ? {} : { external: a };
  };
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
  const execute = (d: Decision) => {
    switch (d.kind) {
      case 'join': {
        // Joiners started with --worker-count K wait until all K have asked.
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
        return;
      }
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
    // Not while this worker shuts the cluster down: the restore would race the stop.
    const refused = o.lifecycle.check({ kind: 'recovery-begun', checkpoint: 0 });
    if (refused !== undefined) {
      log.warn({ code: refused.code }, `no rollback: ${refused.message}`);
      return;
    }
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
    const { layout, leaving } = rollbackLayout(
      layoutOf(loadLayouts(o.resilienceDir, engine.plan.application), target),
      members,
      () => assignKeyGroups(engine.plan, members.length),
    );
    const back = layout.members;
    for (const name of leaving) {
      log.info(`worker '${name}' was not in the cluster at checkpoint ${target}: it leaves`);
      toName(name, {
        type: 'leave',
        version: 1,
        reason: `the cluster rolled back to checkpoint ${target}, taken before it joined`,
      });
      names.delete(name);
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
      ...externalOf(x.name),
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
      case 'shutdown':
        // A member relays `roo shutdown`: this worker's lifecycle decides.
        o.lifecycle.report({ kind: 'shutdown-asked', reason: m.reason });
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
          controlErrors.report(
            new RooError(
              err instanceof RooError ? err.code : ErrorCode.BadMessage,
              `bad control message on connection #${connection}: ${(err as Error).message}; closing it`,
            ),
            ErrorCode.BadMessage,
            'control channel',
          );
          listener.server?.drop(connection, 'bad control message');
          return;
        }
        observe(m, connection);
      },
      silent: (connection, silentMs, timeoutMs) => {
        // A member that stopped answering (SIGSTOP, a stall, a partition that keeps the socket
        // open) is lost as if its connection had closed; `dropped` tells it so if it resumes.
        const name = [...names].find(([, c]) => c === connection)?.[0];
        if (name === undefined) {
          // No member's: a stranger or a worker that never said hello. Not worth a warning each.
          log.debug(
            `control connection #${connection} sent nothing for ${silentMs} ms: closing it`,
          );
          listener.server?.cut(connection);
          return;
        }
        log.warn(
          { code: ErrorCode.WorkerLost },
          `worker '${name}' sent nothing for ${silentMs} ms (heartbeat timeout ${timeoutMs} ms): treating it as lost`,
        );
        listener.server?.expel(
          connection,
          encodeControlMessage({ type: 'dropped', version: 1, silentMs, timeoutMs }),
        );
      },
      closed: (connection) => {
        for (const [name, c] of names) {
          if (c === connection) {
            names.delete(name);
            joining = dropJoiner(joining, name);
            // A cluster shutdown closes every member's connection: expected, not a loss.
            if (shuttingDown) {
              log.info(`worker '${name}' left the control channel (cluster shutdown)`);
              continue;
            }
            log.warn(`worker '${name}' disconnected from the control channel`);
            workerEvents.event(
              'worker-lost',
              `worker '${name}' disconnected from the control channel`,
            );
            driver?.pause(`worker '${name}' was lost`);
            reconfigurations?.lost(name);
            apply({ kind: 'lost', name });
          }
        }
      },
    },
    log,
    { ...(o.security === undefined ? {} : { security: o.security }), ...heartbeatOf(o) },
  );
  listener.server = server;
  const control = server.bound ?? o.control;
  log.info(
    `control channel listening on ${formatAddress(control)}; waiting for ${workerCount} workers`,
  );
  observe(helloOf(control, o.rejoin), SELF);
  return {
    data,
    control,
    members: () => state.members.map((m) => m.name),
    engine: () => member.engine,
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
