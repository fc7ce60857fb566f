/**
 * The control channel's transport: WebSocket (ws), one binary message per
 * control message (ws frames the messages, so no length prefix is needed).
 * The initializer runs a ControlServer on `--control`; every other worker
 * runs a ControlClient that connects there, retrying with backoff while the
 * initializer is not up yet (a worker may start first) and saying so.
 * Bytes only: encoding and validation are protocols/control-message.ts's.
 */
import { WebSocket, WebSocketServer } from 'ws';
import { ErrorCode, formatAddress, RooError, type Address } from '../../protocols/index.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';

/** Largest control message accepted (a reconfiguration ships key groups in chunks well below it). */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Handlers of a control server. */
export interface ControlServerEvents {
  message(connection: number, bytes: Buffer): void;
  closed(connection: number): void;
}

/** The initializer's side: accepts workers' control connections. */
export class ControlServer {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<number, WebSocket>();
  private next = 1;
  /** The bound address, once listening. */
  bound: Address | undefined;

  private constructor(wss: WebSocketServer, events: ControlServerEvents, log: Logger) {
    this.wss = wss;
    // Anyone can connect: what a connection does wrong is counted and logged at most every few seconds.
    const errors = new ErrorReporter(log);
    wss.on('connection', (ws, req) => {
      const id = this.next++;
      this.sockets.set(id, ws);
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
        events.message(id, Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
      });
      ws.on('error', (err) =>
        errors.report(
          new RooError(ErrorCode.BadMessage, `control connection #${id}: ${err.message}`),
          ErrorCode.BadMessage,
          'control channel (connection)',
        ),
      );
      ws.on('close', () => {
        this.sockets.delete(id);
        events.closed(id);
      });
    });
  }

  /** Listens on `address`. */
  static listen(
    address: Address,
    events: ControlServerEvents,
    log: Logger,
  ): Promise<ControlServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({
        host: address.host,
        port: address.port,
        maxPayload: MAX_CONTROL_MESSAGE_BYTES,
      });
      const server = new ControlServer(wss, events, log);
      wss.once('error', reject);
      wss.once('listening', () => {
        wss.off('error', reject);
        wss.on('error', (err) => log.error(`control listener: ${err.message}`));
        const a = wss.address();
        server.bound =
          typeof a === 'object' && a !== null ? { host: address.host, port: a.port } : address;
        resolve(server);
      });
    });
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

  /** Closes everything. */
  close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

/** A worker's side: a control connection to the initializer, connecting with retries. */
export class ControlClient {
  private ws: WebSocket | undefined;
  private closed = false;

  private constructor(
    private readonly address: Address,
    private readonly onMessage: (bytes: Buffer) => void,
    private readonly onClose: () => void,
    private readonly log: Logger,
  ) {}

  /**
   * Connects to the initializer, retrying with backoff for up to
   * `giveUpMs`; resolves once connected.
   */
  static async connect(
    address: Address,
    handlers: { message: (bytes: Buffer) => void; closed: () => void },
    log: Logger,
    giveUpMs = 60_000,
    signal?: AbortSignal,
  ): Promise<ControlClient> {
    const client = new ControlClient(address, handlers.message, handlers.closed, log);
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

  /** Sends bytes to the initializer. */
  send(bytes: Uint8Array): void {
    if (this.ws !== undefined && this.ws.readyState === WebSocket.OPEN)
      this.ws.send(bytes, { binary: true });
  }

  /** Closes the connection. */
  close(): void {
    this.closed = true;
    this.ws?.terminate();
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${formatAddress(this.address)}`, {
        maxPayload: MAX_CONTROL_MESSAGE_BYTES,
      });
      ws.once('open', () => {
        ws.off('error', reject);
        this.ws = ws;
        ws.on('message', (data) =>
          this.onMessage(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])),
        );
        ws.on('error', (err) => this.log.warn(`control connection: ${err.message}`));
        ws.on('close', () => {
          if (!this.closed) this.onClose();
        });
        resolve();
      });
      ws.once('error', reject);
    });
  }
}
