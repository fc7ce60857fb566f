/**
 * Listening and connecting for the cluster channels (control, data,
 * external), with the protection a {@link ChannelSecurity} asks for: TLS
 * (both sides verified against the cluster's CA), then the cluster
 * handshake (auth-handshake.ts). A channel gets a socket only once both
 * are done, so nothing of a stranger's is ever read by a channel. Without
 * either, sockets pass straight through: the bytes on the wire are exactly
 * those of a worker started without the flags.
 *
 * Bounds: at most {@link MAX_PENDING_HANDSHAKES} connections of one
 * listener may be in their handshakes at once (more are closed at once and
 * counted), each for at most the handshake timeout; `maxConnections` bounds
 * a listener's connections in all (the external channel's 32). Refusals are
 * logged through an ErrorReporter: counted by code, the first at once, then
 * at most one line every few seconds, so a flood of strangers cannot flood
 * the log.
 */
import { createServer as createNetServer, connect as netConnect, type Server } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  ErrorCode,
  formatAddress,
  RooError,
  type Address,
  type AuthChannel,
} from '../../protocols/index.js';
import type { ErrorCodeValue } from '../../protocols/index.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, runHandshake } from './auth-handshake.js';
import type { ChannelSecurity } from './channel-security.js';

/** Most connections of one listener in their handshakes at once; more are closed. */
export const MAX_PENDING_HANDSHAKES = 64;

/**
 * Where a listener's refusals go, to be counted and logged with a rate
 * limit: runtime/logging's ErrorReporter is one.
 */
export interface RefusalSink {
  report(thrown: unknown, code: ErrorCodeValue, where: string): unknown;
}

/** What a listener serves and how. */
export interface ChannelListenerOptions {
  readonly channel: AuthChannel;
  readonly security: ChannelSecurity;
  /** Where refused connections are counted and logged (rate-limited). */
  readonly errors: RefusalSink;
  /** Takes each connection that passed TLS and the handshake. */
  readonly onSocket: (socket: Socket) => void;
  /** Most connections at once, handshakes included (default: no bound). */
  readonly maxConnections?: number;
  /** Per handshake (TLS and the cluster handshake), default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number;
}

/** A listening channel. */
export class ChannelListener {
  private readonly pending = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** The bound address (port 0 resolved). */
    readonly bound: Address,
  ) {}

  /** The address the socket is bound to, as the OS reports it (`host:port`, IPv6 in brackets). */
  get local(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return formatAddress(this.bound);
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Listens on `address`; rejects if it cannot (the address in use, say). */
  static listen(address: Address, o: ChannelListenerOptions): Promise<ChannelListener> {
    const timeoutMs = o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const where = `${o.channel} channel`;
    const holder: { listener?: ChannelListener } = {};
    const refuse = (socket: Socket, err: unknown) => {
      const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      const message = err instanceof Error ? err.message : String(err);
      o.errors.report(
        new RooError(
          ErrorCode.AuthFailed,
          `refused a connection from ${peer} on the ${where}: ${message}`,
        ),
        ErrorCode.AuthFailed,
        `${where} handshake`,
      );
    };
    const admit = (socket: Socket) => {
      const secret = o.security.secret;
      if (secret === undefined) {
        o.onSocket(socket);
        return;
      }
      const pending = holder.listener?.pending;
      if (pending !== undefined && pending.size >= MAX_PENDING_HANDSHAKES) {
        refuse(socket, `more than ${MAX_PENDING_HANDSHAKES} connections in their handshakes`);
        socket.destroy();
        return;
      }
      pending?.add(socket);
      runHandshake(socket, {
        side: 'server',
        secret,
        channel: o.channel,
        timeoutMs,
        onAccepted: () => {
          pending?.delete(socket);
          o.onSocket(socket);
        },
        onFailed: (err) => {
          pending?.delete(socket);
          refuse(socket, err);
        },
      });
    };
    const tls = o.security.tls;
    const server: Server =
      tls === undefined
        ? createNetServer(admit)
        : createTlsServer(
            {
              cert: tls.cert,
              key: tls.key,
              ca: tls.ca,
              requestCert: true,
              rejectUnauthorized: true,
              handshakeTimeout: timeoutMs,
            },
            (s: TLSSocket) => admit(s),
          );
    if (tls !== undefined) {
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        refuse(socket, new Error(`TLS: ${err.message}`));
        socket.destroy();
      });
    }
    if (o.maxConnections !== undefined) server.maxConnections = o.maxConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        server.on('error', (err) => o.errors.report(err, ErrorCode.Internal, where));
        const a = server.address();
        const bound =
          typeof a === 'object' && a !== null ? { host: address.host, port: a.port } : address;
        const listener = new ChannelListener(server, bound);
        holder.listener = listener;
        resolve(listener);
      });
    });
  }

  /**
   * Stops accepting and closes the connections still in their handshakes;
   * resolves once every connection the channel took is closed too (the
   * channel closes those).
   */
  close(): Promise<void> {
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** How a connection is made. */
export interface ConnectOptions {
  /** From the call to an authenticated socket (default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /** Unref the socket from the start: connecting never keeps the process alive. */
  readonly unref?: boolean;
}

/**
 * Connects to a worker's `channel` at `address`, with TLS and the handshake
 * if `security` asks for them; resolves with the socket once it is ready
 * for the channel's bytes. Rejects with the socket error (ECONNREFUSED...),
 * a TLS failure (`TLS: ...`), or a RooError ROO_ERR_AUTH_FAILED saying why
 * the handshake failed.
 */
export function connectChannel(
  address: Address,
  channel: AuthChannel,
  security: ChannelSecurity,
  o: ConnectOptions = {},
): Promise<Socket> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const tls = security.tls;
    const socket: Socket =
      tls === undefined
        ? netConnect(address.port, address.host)
        : tlsConnect({
            host: address.host,
            port: address.port,
            cert: tls.cert,
            key: tls.key,
            ca: tls.ca,
            // Any certificate the cluster's CA signed is a member: host names are not checked.
            checkServerIdentity: () => undefined,
          });
    if (o.unref === true) socket.unref();
    let settled = false;
    const timer = setTimeout(() => {
      settle(
        new RooError(
          ErrorCode.AuthFailed,
          `no connection to the ${channel} channel at ${formatAddress(address)} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    timer.unref();
    function settle(err: Error | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      if (err === undefined) resolve(socket);
      else {
        socket.destroy();
        reject(err);
      }
    }
    function onError(err: NodeJS.ErrnoException): void {
      if (tls !== undefined && err.code !== undefined && !err.code.startsWith('E')) {
        // OpenSSL's codes (ERR_SSL_..., CERT_...): say it is TLS that failed.
        const wrapped = new Error(`TLS: ${err.message}`) as NodeJS.ErrnoException;
        wrapped.code = err.code;
        settle(wrapped);
      } else settle(err);
    }
    socket.on('error', onError);
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      const secret = security.secret;
      if (secret === undefined) {
        settle(undefined);
        return;
      }
      runHandshake(socket, {
        side: 'client',
        secret,
        channel,
        timeoutMs,
        onAccepted: () => settle(undefined),
        onFailed: (err) => settle(err),
      });
    });
  });
}

/**
 * A `createConnection` for an HTTP or WebSocket client (ws's option of that
 * name): the request goes out over a socket {@link connectChannel} made, so
 * TLS and the handshake are done before the first byte of HTTP. Node calls
 * it with a callback and takes the socket from there.
 */
export function channelConnector(
  address: Address,
  channel: AuthChannel,
  security: ChannelSecurity,
  o: ConnectOptions = {},
): (options: unknown, done: (err: Error | null, socket?: Socket) => void) => undefined {
  return (_options, done) => {
    connectChannel(address, channel, security, o).then(
      (socket) => done(null, socket),
      (err: Error) => done(err),
    );
    return undefined;
  };
}
