/**
 * The TCP side of `roo metrics`: accepts workers' metrics connections
 * (protocols/metrics-report.ts), reads their frames, validates every
 * message, checks it against its connection's session (metrics-session.ts)
 * and puts it in the store. Many workers of many applications at once.
 *
 * Bad input never crashes the receiver: a frame too large, bytes that are
 * not a metrics message, a report that disagrees with its hello, a stranger
 * speaking another protocol, or a connection that sends no hello within
 * {@link HELLO_TIMEOUT_MS}, gets its typed error counted (by code) and
 * logged through a rate limit (log-limiter.ts), and its connection closed;
 * the others carry on. At most `maxConnections` connections are open: one
 * beyond is closed at once, logged the same way.
 */
import type { Socket } from 'node:net';
import {
  asRooError,
  decodeMetricsMessage,
  ErrorCode,
  FrameDecoder,
  MAX_METRICS_MESSAGE_BYTES,
  RooError,
} from '../../protocols/index.js';
import type { Address } from '../../protocols/address.js';
import { checkedTransition, type TransitionTable } from '../../protocols/transition.js';
import { ChannelListener, OPEN_CHANNELS, type ChannelSecurity } from '../security/index.js';
import { LogLimiter } from './log-limiter.js';
import { MetricsSession } from './metrics-session.js';
import type { MetricsStore } from './metrics-store.js';

/** A connection that has not said hello by then is closed (ms). */
export const HELLO_TIMEOUT_MS = 10_000;

/** Default bound on open connections. */
export const DEFAULT_MAX_METRICS_CONNECTIONS = 1024;

/** Where to listen and where to put what arrives. */
export interface MetricsReceiverOptions {
  /** Port 0 lets the OS pick; read it back from `address`. */
  readonly address: Address;
  readonly store: MetricsStore;
  /** Log lines (connections, refusals), already rate-limited. */
  readonly log: (line: string) => void;
  readonly maxConnections?: number;
  /** How long a connection may stay silent before its hello, ms (default {@link HELLO_TIMEOUT_MS}). */
  readonly helloTimeoutMs?: number;
  /** The clock (default Date.now). */
  readonly now?: () => number;
  /**
   * The cluster secret and TLS (`roo metrics --cluster-secret-file ...`): a
   * connection that fails them is refused before its first frame (default: none).
   */
  readonly security?: ChannelSecurity;
}

/** A running receiver. */
export interface MetricsReceiver {
  readonly address: Address;
  /** Connections open now. */
  readonly open: number;
  /** Messages and connections refused, by error code. */
  readonly refused: ReadonlyMap<string, number>;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** States of a receiver. */
export type MetricsReceiverState = 'listening' | 'closing' | 'closed';

const TRANSITIONS: TransitionTable<MetricsReceiverState> = {
  listening: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** Returns `to` if a receiver may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextMetricsReceiverState(
  from: MetricsReceiverState,
  to: MetricsReceiverState,
): MetricsReceiverState {
  return checkedTransition(TRANSITIONS, from, to, 'metrics receiver');
}

/** Starts a receiver; resolves once it listens. */
export async function startMetricsReceiver(
  options: MetricsReceiverOptions,
): Promise<MetricsReceiver> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_METRICS_CONNECTIONS;
  const helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
  const limiter = new LogLimiter(options.log);
  const log = (line: string): void => void limiter.log(line, now());
  const sockets = new Map<number, Socket>();
  const refused = new Map<string, number>();
  let nextId = 1;
  let state: MetricsReceiverState = 'listening';

  const refuse = (socket: Socket, peer: string, error: RooError): void => {
    refused.set(error.code, (refused.get(error.code) ?? 0) + 1);
    log(`metrics connection from ${peer} refused: ${error.code} ${error.message}`);
    socket.destroy();
  };

  const serve = (socket: Socket): void => {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (state !== 'listening') {
      socket.destroy();
      return;
    }
    if (sockets.size >= maxConnections) {
      refuse(
        socket,
        peer,
        new RooError(ErrorCode.QueueFull, `${maxConnections} metrics connections are open already`),
      );
      return;
    }
    const id = nextId++;
    sockets.set(id, socket);
    const session = new MetricsSession();
    const decoder = new FrameDecoder(MAX_METRICS_MESSAGE_BYTES);
    let failed = false;
    const helloTimer = setTimeout(() => {
      fail(new RooError(ErrorCode.BadMessage, `no hello within ${helloTimeoutMs} ms`));
    }, helloTimeoutMs);

    const fail = (error: RooError): void => {
      if (failed) return;
      failed = true;
      refuse(socket, peer, error);
    };

    const frame = (payload: Buffer): void => {
      const decision = session.accept(decodeMetricsMessage(payload));
      if (decision.kind === 'refuse') throw decision.error;
      const t = now();
      if (decision.kind === 'hello') {
        clearTimeout(helloTimer);
        const h = decision.hello;
        const outcome = store.hello(h, id, t);
        if (!outcome.ok) throw outcome.error;
        log(`metrics: ${h.app}/${h.worker} (pid ${h.pid}) reports from ${peer}`);
        if (outcome.superseded !== undefined) {
          sockets.get(outcome.superseded)?.destroy();
          log(`metrics: ${h.app}/${h.worker}'s earlier connection is closed: a new one took over`);
        }
        return;
      }
      store.report(decision.report, id, t);
    };

    socket.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        decoder.push(chunk, frame);
      } catch (e) {
        fail(asRooError(e, ErrorCode.Internal, 'metrics receiver'));
      }
    });
    socket.on('end', () => {
      if (failed) return;
      try {
        decoder.end();
        socket.end();
      } catch (e) {
        fail(asRooError(e, ErrorCode.Internal, 'metrics receiver'));
      }
    });
    socket.on('error', () => {
      // 'close' follows: the connection is over either way.
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      sockets.delete(id);
      session.close();
      const h = session.hello;
      if (h !== undefined) {
        store.disconnected(h.app, h.worker, id, now());
        if (state === 'listening') log(`metrics: ${h.app}/${h.worker} disconnected`);
      }
    });
  };

  const server = await ChannelListener.listen(options.address, {
    channel: 'metrics',
    security: options.security ?? OPEN_CHANNELS,
    // A connection refused by the cluster handshake or TLS: counted and logged as any refusal.
    errors: {
      report: (thrown, code) => {
        const error = asRooError(thrown, code, 'metrics receiver');
        refused.set(error.code, (refused.get(error.code) ?? 0) + 1);
        log(`metrics receiver: ${error.message}`);
      },
    },
    onSocket: serve,
  });
  const address: Address = server.bound;

  return {
    address,
    get open() {
      return sockets.size;
    },
    refused,
    async close() {
      if (state !== 'listening') return;
      state = nextMetricsReceiverState(state, 'closing');
      const closed = server.close();
      for (const s of sockets.values()) s.destroy();
      await closed;
      state = nextMetricsReceiverState(state, 'closed');
    },
  };
}
