/**
 * A worker's part in forming a cluster, on its main thread (the cluster
 * actor of DESIGN.md section 3). Every worker, the initializer included,
 * goes through the same steps when the initializer says so:
 *   assign  -> spawn the actors of its share, report them (`spawned`);
 *   wire    -> compile routes with the whole cluster's directory, open data
 *              channels to every other worker (`wired`);
 *   start   -> start its sources (`ready`).
 * The initializer also runs the control server and the start-up
 * coordinator (coordinator.ts), and takes part itself without a socket: its
 * own messages are handled in process. There is no central manager after
 * start: data flows worker to worker.
 */
import {
  decodeControlMessage,
  encodeControlMessage,
  formatAddress,
  RooError,
  ErrorCode,
  type Address,
  type AssignControlMessage,
  type ControlMessage,
  type WireControlMessage,
  type WorkerDirectory,
} from '../../protocols/index.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../logging/logger.js';
import { assignKeyGroups, placeWorkerShare, runsSourceOn } from '../topology/placement.js';
import { removeClusterInfo, saveClusterInfo } from './cluster-info.js';
import { ControlClient, ControlServer } from './control-transport.js';
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
  /** Called when the cluster is formed and this worker's sources run. */
  readonly onReady: () => void;
  /** Called when the cluster shuts down cleanly (this worker must stop, exit 0). */
  readonly onShutdown: (reason: string) => void;
  /** Aborts joining (a member still connecting to the initializer gives up at once). */
  readonly signal?: AbortSignal;
  /** Called when the cluster cannot form or tells this worker to stop. */
  readonly onFatal: (error: RooError) => void;
}

/** A running cluster node. */
export interface ClusterNode {
  /** This worker's bound data and control addresses. */
  readonly data: Address;
  readonly control: Address;
  /** Names of the cluster's workers, by worker index (empty before assignment). */
  members(): readonly string[];
  /** Asks the whole cluster to shut down cleanly (every worker stops and removes its files). */
  shutdownCluster(reason: string): void;
  /** Closes the control channel. */
  close(): Promise<void>;
}

const SELF = 0;

/** Joins (or, on the initializer, forms) the cluster. */
export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const { engine, log } = o;
  const data = await engine.listenData(o.data);
  log.info(`data channel listening on ${formatAddress(data)}`);
  const threads = engine.threads;
  let me = -1;
  let assigned: AssignControlMessage | undefined;
  let owners: number[][] = [];

  /** This worker's `hello`: who it is, what it runs, where it listens. */
  const helloOf = (control: Address, rejoin: boolean): ControlMessage => ({
    type: 'hello',
    version: 1,
    name: o.name,
    application: engine.plan.application,
    applicationHash: engine.applicationHash,
    threads,
    control,
    data,
    rejoin,
    joinRunning: false,
  });

  /** The member side: what every worker does on the initializer's word. */
  const member = async (m: ControlMessage, reply: (m: ControlMessage) => void): Promise<void> => {
    switch (m.type) {
      case 'assign': {
        assigned = m;
        me = m.workerIndex;
        owners = m.routing.partitions.map((p) => [...p.owners]);
        log.info(
          `joined the cluster as worker ${me + 1} of ${m.members.length}: ${m.members.map((x) => x.name).join(', ')}`,
        );
        const placement = placeWorkerShare(engine.plan, {
          me,
          threads: m.members.map((x) => x.threads),
          owners,
          runsSource: (stageId) => runsSourceOn(engine.plan, stageId, me),
        });
        const directory = await engine.spawn(placement);
        saveClusterInfo(o.resilienceDir, {
          version: 1,
          application: engine.plan.application,
          applicationHash: engine.applicationHash,
          worker: o.name,
          workerIndex: me,
          workers: m.members.map((x) => x.name),
          control: o.initializer === undefined ? o.control : (m.members[0]?.control ?? o.control),
          savedAt: new Date().toISOString(),
        });
        reply({ type: 'spawned', version: 1, name: o.name, directory });
        return;
      }
      case 'wire': {
        const a = assigned as AssignControlMessage;
        await engine.wire({
          me,
          members: a.members.map((x) => ({ name: x.name, data: x.data, threads: x.threads })),
          owners,
          directories: m.directory,
        });
        reply({ type: 'wired', version: 1, name: o.name });
        return;
      }
      case 'start': {
        await engine.startSources();
        reply({ type: 'ready', version: 1, name: o.name });
        // A member is ready once its sources run; the initializer, once every member is.
        if (o.initializer === undefined) o.onReady();
        return;
      }
      case 'refuse':
        o.onFatal(new RooError(m.code, `the initializer refused this worker: ${m.message}`));
        return;
      case 'shutdown':
        log.info(`cluster shutdown: ${m.reason}`);
        removeClusterInfo(o.resilienceDir, engine.plan.application, o.name);
        o.onShutdown(m.reason);
        return;
      default:
        return;
    }
  };

  if (o.initializer === undefined) {
    // A member: connect to the initializer (retrying while it is not up) and say hello.
    const connection: { client?: ControlClient } = {};
    const send = (m: ControlMessage) => connection.client?.send(encodeControlMessage(m));
    let chain = Promise.resolve();
    const client = await ControlClient.connect(
      o.control,
      {
        message: (bytes) => {
          let m: ControlMessage;
          try {
            m = decodeControlMessage(bytes);
          } catch (err) {
            log.error(`bad control message from the initializer: ${(err as Error).message}`);
            return;
          }
          // One at a time, in order: a phase's work finishes before the next begins.
          chain = chain.then(() => member(m, send)).catch((err: Error) => o.onFatal(asFatal(err)));
        },
        closed: () => log.warn('the control connection to the initializer closed'),
      },
      log,
      60_000,
      o.signal,
    );
    connection.client = client;
    send(helloOf(o.myControl ?? o.control, o.rejoin));
    return {
      data,
      control: o.myControl ?? o.control,
      members: () => assigned?.members.map((x) => x.name) ?? [],
      shutdownCluster: (reason) => send({ type: 'shutdown', version: 1, reason }),
      close: async () => client.close(),
    };
  }

  // The initializer: control server + coordinator; itself a member with no socket.
  let state: CoordinatorState = initialState(
    o.initializer.workerCount,
    engine.plan.application,
    engine.applicationHash,
  );
  const names = new Map<string, number>(); // name -> connection
  const listener: { server?: ControlServer } = {};
  let selfChain = Promise.resolve();
  const toName = (name: string, m: ControlMessage) => {
    const c = names.get(name);
    if (c === SELF) {
      selfChain = selfChain
        .then(() => member(m, (reply) => observe(reply, SELF)))
        .catch((err: Error) => o.onFatal(asFatal(err)));
    } else if (c !== undefined) listener.server?.send(c, encodeControlMessage(m));
  };
  const execute = (d: Decision) => {
    switch (d.kind) {
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
  /** The `assign` message telling worker `index` of `members` its place. */
  const assignOf = (members: readonly Member[], index: number): ControlMessage => ({
    type: 'assign',
    version: 1,
    clusterId: `${engine.plan.application}:${engine.applicationHash}`,
    workerIndex: index,
    members: members.map((x) => ({
      name: x.name,
      threads: x.threads,
      control: x.control,
      data: x.data,
    })),
    routing: routingOf(members.length),
  });
  const routingOf = (workers: number) => ({
    version: 1,
    partitions: engine.plan.partitions.map((p, pi) => ({
      name: p.name,
      owners: assignKeyGroups(engine.plan, workers)[pi] as number[],
    })),
  });
  /** Tells every member to shut down, then this worker. */
  const shutdownAll = (reason: string) => {
    log.info(`shutting the cluster down: ${reason}`);
    for (const m of state.members) {
      if (names.get(m.name) !== SELF) toName(m.name, { type: 'shutdown', version: 1, reason });
    }
    removeClusterInfo(o.resilienceDir, engine.plan.application, o.name);
    o.onShutdown(reason);
  };
  const apply = (event: Parameters<typeof step>[1]) => {
    const r = step(state, event);
    state = r.state;
    for (const d of r.decisions) execute(d);
  };
  const observe = (m: ControlMessage, connection: number) => {
    switch (m.type) {
      case 'hello': {
        const hello: Hello = {
          name: m.name,
          threads: m.threads,
          control: m.control,
          data: m.data,
          application: m.application,
          applicationHash: m.applicationHash,
        };
        apply({ kind: 'hello', connection, hello });
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
  observe(helloOf(control, false), SELF);
  return {
    data,
    control,
    members: () => state.members.map((m) => m.name),
    shutdownCluster: shutdownAll,
    close: async () => server.close(),
  };
}

function asFatal(err: unknown): RooError {
  return err instanceof RooError ? err : new RooError(ErrorCode.Internal, (err as Error).message);
}
