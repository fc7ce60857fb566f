/**
 * The control channel's transport: WebSocket (ws), one binary message per
 * control message (ws frames the messages, so no length prefix is needed).
 * The initializer runs a ControlServer on `--control`; every other worker
 * runs a ControlClient that connects there, retrying with backoff while the
 * initializer is not up yet (a worker may start first) and saying so.
 * Bytes only: encoding and validation are protocols/control-message.ts's.
 *
 * Two things happen here below the nodes:
 *  - with a cluster secret or TLS (runtime/security/), every connection
 *    passes them before its WebSocket upgrade is read;
 *  - both ends of every connection beat (heartbeat.ts): a `heartbeat`
 *    every interval, consumed here, never handed to the node. An end that
 *    hears nothing for the heartbeat timeout reports the peer: the server
 *    through `silent` (the node decides, and closes it), the client by
 *    closing its connection, which the node sees as `closed`.
 */
import { createServer, type Server } from 'node:http';
import type { createConnection, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { ErrorCode, formatAddress, RooError, type Address } from '../../protocols/index.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import {
  ChannelListener,
  channelConnector,
  isOpen,
  OPEN_CHANNELS,
  type ChannelSecurity,
} from '../security/index.js';
import { Heartbeat, readHeartbeat } from './heartbeat.js';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from './liveness.js';

/** Largest control message accepted (a reconfiguration ships key groups in chunks well below it). */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024 * 1024;

/** How long a WebSocket upgrade may take (a listener that accepts and never answers). */
const UPGRADE_TIMEOUT_MS = 10_000;

/** How long a connection closed with a last message may take to flush it before it is cut. */
const EXPEL_GRACE_MS = 1_000;

/** How the control channel's connections are made and watched. */
export interface ControlChannelOptions {
  /** The cluster secret and TLS (default: none). */
  readonly security?: ChannelSecurity;
  /** `--heartbeat-timeout`, ms (default {@link DEFAULT_HEARTBEAT_TIMEOUT_MS}). */
  readonly heartbeatTimeoutMs?: number;
}

/** Handlers of a control server. */
export interface ControlServerEvents {
  message(connection: number, bytes: Buffer): void;
  closed(connection: number): void;
  /**
   * Nothing came on `connection` for `silentMs` (over `timeoutMs`): the peer
   * is lost. The handler closes it (`drop` or `expel`); without a handler
   * the connection is cut.
   */
  silent?(connection: number, silentMs: number, timeoutMs: number): void;
}

/** The initializer's side: accepts workers' control connections. */
export class ControlServer {
  private readonly sockets = new Map<number, WebSocket>();
  private next = 1;
  private listener: ChannelListener | undefined;
  /** The bound address, once listening. */
  bound: Address | undefined;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    events: ControlServerEvents,
    log: Logger,
    timeoutMs: number,
  ) {
    // Anyone who passed the channel's listener can connect: what a connection does wrong is
    // counted and logged at most every few seconds.
    const errors = new ErrorReporter(log);
    wss.on('connection', (ws, req) => {
      const id = this.next++;
      this.sockets.set(id, ws);
      const beat = new Heartbeat({
        timeoutMs,
        send: (bytes) => this.send(id, bytes),
        lost: (silentMs, limit) => {
          if (events.silent !== undefined) events.silent(id, silentMs, limit);
          else ws.terminate();
        },
      });
      req.socket.on('data', () => beat.heard());
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          errors.report(
            new RooError(
              ErrorCode.BadMessage,
              `control connection #${id} from ${req.socket.remoteAddress} sent text; closing it`,
            ),
            ErrorCode.BadMessage,
            'control channel (text)',
          );
          ws.close(1003, 'binary control messages only');
          return;
        }
        const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
        const heartbeat = readHeartbeat(bytes);
        if (heartbeat !== undefined) beat.peerInterval(heartbeat.interval);
        else events.message(id, bytes);
      });
      ws.on('error', (err) =>
        errors.report(
          new RooError(ErrorCode.BadMessage, `control connection #${id}: ${err.message}`),
          ErrorCode.BadMessage,
          'control channel (connection)',
        ),
      );
      ws.on('close', () => {
        beat.stop();
        this.sockets.delete(id);
        events.closed(id);
      });
    });
  }

  /** Listens on `address`. */
  static async listen(
    address: Address,
    events: ControlServerEvents,
    log: Logger,
    options: ControlChannelOptions = {},
  ): Promise<ControlServer> {
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('roo control channel: speak WebSocket\n');
    });
    const wss = new WebSocketServer({ server: http, maxPayload: MAX_CONTROL_MESSAGE_BYTES });
    // ws re-emits the HTTP server's errors; there are none to report on a server that does not listen itself.
    wss.on('error', () => undefined);
    const server = new ControlServer(
      http,
      wss,
      events,
      log,
      options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    );
    const listener = await ChannelListener.listen(address, {
      channel: 'control',
      security: options.security ?? OPEN_CHANNELS,
      errors: new ErrorReporter(log),
      onSocket: (socket: Socket) => http.emit('connection', socket),
    });
    // The HTTP server never listens itself (the channel listener does, and hands it
    // connections): 'listening' starts its tracking of connections and their timeouts.
    http.emit('listening');
    server.listener = listener;
    server.bound = listener.bound;
    return server;
  }

  /** Sends bytes to one connection (dropped if it is gone). */
  send(connection: number, bytes: Uint8Array): void {
    const ws = this.sockets.get(connection);
    if (ws !== undefined && ws.readyState === WebSocket.OPEN) ws.send(bytes, { binary: true });
  }

  /** Closes one connection. */
  drop(connection: number, reason: string): void {
    this.sockets.get(connection)?.close(1008, reason.slice(0, 120));
  }

  /** Cuts one connection at once (no close handshake: the peer may not be reading). */
  cut(connection: number): void {
    this.sockets.get(connection)?.terminate();
  }

  /**
   * Sends `bytes` as the connection's last message, then cuts it: at once
   * once they are written, and in any case after a short grace (the peer
   * may not be reading). The node sees `closed` right after.
   */
  expel(connection: number, bytes: Uint8Array): void {
    const ws = this.sockets.get(connection);
    if (ws === undefined) return;
    const cut = () => ws.terminate();
    setTimeout(cut, EXPEL_GRACE_MS).unref();
    if (ws.readyState === WebSocket.OPEN) ws.send(bytes, { binary: true }, cut);
    else cut();
  }

  /** Closes everything. */
  async close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // Ends the HTTP server's connection tracking; it was never listening, which its callback reports.
    this.http.close(() => undefined);
    await this.listener?.close();
  }
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

/** A worker's side: a control connection to the initializer, connecting with retries. */
export class ControlClient {
  private ws: WebSocket | undefined;
  private beat: Heartbeat | undefined;
  private closed = false;

  private constructor(
    private readonly address: Address,
    private readonly onMessage: (bytes: Buffer) => void,
    private readonly onClose: () => void,
    private readonly log: Logger,
    private readonly options: ControlChannelOptions,
  ) {}

  /**
   * Connects to the initializer, retrying with backoff for up to
   * `giveUpMs`; resolves once connected. A connection refused by the
   * cluster handshake (another secret) is retried too, and said so.
   */
  static async connect(
    address: Address,
    handlers: { message: (bytes: Buffer) => void; closed: () => void },
    log: Logger,
    giveUpMs = 60_000,
    signal?: AbortSignal,
    options: ControlChannelOptions = {},
  ): Promise<ControlClient> {
    const client = new ControlClient(address, handlers.message, handlers.closed, log, options);
    const until = Date.now() + giveUpMs;
    let delay = RETRY_MIN_MS;
    let attempt = 0;
    for (;;) {
      attempt++;
      if (signal?.aborted === true) throw new Error('stopped while connecting to the initializer');
      try {
        await client.open();
        if (attempt > 1) log.info(`connected to the initializer at ${formatAddress(address)}`);
        return client;
      } catch (err) {
        if (err instanceof RooError && err.details?.['definitive'] === true) {
          // The other end holds another cluster secret (or refused ours): trying again cannot help.
          throw new RooError(
            err.code,
            `cannot join through ${formatAddress(address)}: ${err.message}; give every worker the same --cluster-secret-file`,
          );
        }
        if (Date.now() + delay > until) {
          throw new Error(
            `cannot reach the initializer's control address ${formatAddress(address)} (${(err as Error).message}); is the initializer running?`,
          );
        }
        if (attempt === 1 || attempt % 10 === 0) {
          log.info(
            `initializer at ${formatAddress(address)} is not reachable yet (${(err as Error).message}); retrying`,
          );
        }
        // Wait for the next try, unless the worker is told to stop meanwhile.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          function done(): void {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
          }
          signal?.addEventListener('abort', done, { once: true });
        });
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Sends bytes to the initializer; false if the connection is not open (nothing sent). */
  send(bytes: Uint8Array): boolean {
    if (this.ws === undefined || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(bytes, { binary: true });
    return true;
  }

  /** Closes the connection. */
  close(): void {
    this.closed = true;
    this.beat?.stop();
    this.ws?.terminate();
  }

  private open(): Promise<void> {
    const security = this.options.security ?? OPEN_CHANNELS;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${formatAddress(this.address)}`, {
        maxPayload: MAX_CONTROL_MESSAGE_BYTES,
        handshakeTimeout: UPGRADE_TIMEOUT_MS,
        ...(isOpen(security)
          ? {}
          : {
              // ws's type wants net.createConnection; Node's HTTP client takes a callback form too.
              createConnection: channelConnector(
                this.address,
                'control',
                security,
              ) as unknown as typeof createConnection,
            }),
      });
      let socket: Socket | undefined;
      ws.once('upgrade', (res) => {
        socket = res.socket;
      });
      ws.once('open', () => {
        ws.off('error', reject);
        this.ws = ws;
        const beat = new Heartbeat({
          timeoutMs: this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
          send: (bytes) => this.send(bytes),
          lost: (silentMs, timeoutMs) => {
            this.log.warn(
              { code: ErrorCode.WorkerLost },
              `nothing came from the initializer for ${silentMs} ms (heartbeat timeout ${timeoutMs} ms): closing the control connection`,
            );
            ws.terminate();
          },
        });
        this.beat = beat;
        socket?.on('data', () => beat.heard());
        ws.on('message', (data) => {
          const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
          const heartbeat = readHeartbeat(bytes);
          if (heartbeat !== undefined) beat.peerInterval(heartbeat.interval);
          else this.onMessage(bytes);
        });
        ws.on('error', (err) => this.log.warn(`control connection: ${err.message}`));
        ws.on('close', () => {
          beat.stop();
          if (!this.closed) this.onClose();
        });
        resolve();
      });
      ws.once('error', reject);
    });
  }
}
