/**
 * A member's node: connects to the initializer's control channel (retrying
 * while it is not up, and with resilience reconnecting to a restarted one),
 * says hello, and hands every control message to its ClusterMember in order.
 * A joiner may first reach another member, which redirects it. It listens on
 * --my-control too, so that a worker given this address with --join is told
 * where the initializer is.
 */
import {
  decodeControlMessage,
  encodeControlMessage,
  ErrorCode,
  RooError,
  formatAddress,
  type Address,
  type ControlMessage,
} from '../../protocols/index.js';
import {
  asFatal,
  heartbeatOf,
  type ClusterNode,
  type ClusterNodeOptions,
  type NodeShared,
  type ShutdownAnswer,
} from './cluster-node.js';
import { ControlClient, ControlServer } from './control-transport.js';
import type { RebalanceAnswer } from './member-requests.js';

/** How long a member keeps trying to reach a lost initializer (it may be restarting). */
const RECONNECT_FOR_MS = 10 * 60_000;

/** Connects a member to its cluster. */
export async function startMemberNode(
  o: ClusterNodeOptions,
  shared: NodeShared,
  /** The initializer's control address (joining: any member's). */
  control: Address,
): Promise<ClusterNode> {
  const { log } = o;
  const r = o.resilience;
  const { data, member, rebalanceWith } = shared;
  const channel = {
    ...(o.security === undefined ? {} : { security: o.security }),
    ...heartbeatOf(o),
  };
  const helloOf = (control: Address, rejoin: boolean) => member.helloOf(control, rejoin);
  // A member: connect to the initializer (retrying while it is not up) and say hello.
  const connection: { client?: ControlClient; closing?: boolean } = {};
  // Closing the node also stops a reconnect to a lost initializer.
  const closing = new AbortController();
  const signal =
    o.signal === undefined ? closing.signal : AbortSignal.any([o.signal, closing.signal]);
  /** Sends to the initializer; false while there is no open connection to it (nothing sent). */
  const send = (m: ControlMessage): boolean =>
    connection.client?.send(encodeControlMessage(m)) ?? false;
  let chain = Promise.resolve();
  /** The coordinator's control address (a joiner may first reach another member, which redirects it). */
  let target = control;
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
          if (m.type === 'dropped') {
            dropped(m.silentMs, m.timeoutMs);
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
          // The initializer closes the connection after a cluster shutdown: expected, not a loss.
          if (m.type === 'shutdown') connection.closing = true;
          // One at a time, in order: a phase's work finishes before the next begins.
          chain = chain
            .then(() => member.handle(m, send))
            .catch((err: Error) => o.onFatal(asFatal(err)));
        },
        closed: () => {
          // Nothing can answer what this worker asked of the initializer any more.
          const abandoned = member.abandonRequests(
            'the control connection to the initializer closed before it answered (the request was lost with it; try again)',
          );
          if (abandoned > 0)
            log.warn(`${abandoned} requests to the initializer were left unanswered and refused`);
          if (connection.closing === true) {
            log.info('the control connection to the initializer closed (shutting down)');
            return;
          }
          log.warn('the control connection to the initializer closed');
          // With resilience the initializer may come back: reconnect, and it recovers the cluster.
          if (r !== undefined && member.me >= 0) {
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
      channel,
    );
    connection.client = client;
    send(helloOf(o.myControl ?? control, rejoin));
  };
  /**
   * The initializer treated this worker as lost (it heard nothing from it for
   * the heartbeat timeout) and closes the connection next. With resilience the
   * worker reconnects and the cluster rolls back, this worker's engine with it;
   * without, the state it holds is no longer the cluster's: it exits, and a
   * restart with the same command takes its place back.
   */
  const dropped = (silentMs: number, timeoutMs: number) => {
    const why = `the initializer treated this worker as lost: nothing came from it for ${silentMs} ms (heartbeat timeout ${timeoutMs} ms: a stop, a long pause or a network partition)`;
    if (r !== undefined) {
      log.warn(
        { code: ErrorCode.WorkerLost },
        `${why}; rejoining: the cluster rolls back to its last checkpoint`,
      );
      return;
    }
    o.onFatal(
      new RooError(
        ErrorCode.WorkerLost,
        `${why}. Without --run-with-resilience the state it holds cannot rejoin the cluster: exiting; restart it with the same command to take its place back (its state is lost)`,
      ),
    );
  };
  // `roo shutdown` here, once the lifecycle takes it, goes to the initializer, which decides.
  const relay: { pending?: Promise<RebalanceAnswer> } = {};
  o.lifecycle.handle({
    'relay-shutdown': (d) => {
      relay.pending = member.relayShutdown(d.reason, send);
    },
  });
  const nothing = () => undefined;
  const shutdown = async (reason: string): Promise<ShutdownAnswer> => {
    const asked = { kind: 'shutdown-asked', reason } as const;
    const refused = o.lifecycle.check(asked);
    if (refused !== undefined) return { refused, afterAnswer: nothing };
    relay.pending = undefined;
    o.lifecycle.report(asked);
    const pending = relay.pending as Promise<RebalanceAnswer> | undefined;
    const answer = (await pending) ?? { ok: false, message: 'the shutdown was not relayed' };
    if (answer.ok) return { afterAnswer: nothing };
    return {
      refused: new RooError(ErrorCode.IllegalTransition, answer.message),
      afterAnswer: nothing,
    };
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
          channel,
        ).catch((err: Error) => {
          log.warn(
            `cannot listen on --my-control ${formatAddress(o.myControl as Address)}: ${err.message}`,
          );
          return undefined;
        });
  return {
    data,
    control: o.myControl ?? control,
    members: () => member.members(),
    engine: () => member.engine,
    shrink: (request) => member.relayShrink(request, send),
    shutdown,
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
