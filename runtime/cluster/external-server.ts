/**
 * The external (admin) channel of a worker (`--external ADDR`), Wallaroo's
 * external channel: a WebSocket server where each binary message is one
 * encoded external message (protocols/external-message.ts). Tools
 * (`roo status`, `roo shutdown`, `roo shrink`) send requests; the worker
 * answers each with a response carrying the request's id.
 *
 * Nothing that arrives here can crash the worker:
 *  - a message that does not decode or validate is answered with a coded
 *    error response (ROO_ERR_BAD_MESSAGE, ROO_ERR_BAD_VERSION, ...) and that
 *    connection is closed with a logged warning;
 *  - a well-formed request for a command this worker does not serve is
 *    answered with ROO_ERR_UNKNOWN_REQUEST, and the connection stays open;
 *  - a message over {@link DEFAULT_MAX_MESSAGE_BYTES} is refused by the
 *    WebSocket layer itself (close code 1009) before it is buffered whole;
 *  - bytes that are not a WebSocket handshake get an HTTP 400 and are closed;
 *    a plain HTTP request gets 426 Upgrade Required.
 *
 * Bounds: at most {@link DEFAULT_MAX_CONNECTIONS} connections (more are
 * refused by the listening socket) and {@link MAX_IN_FLIGHT} requests being
 * answered per connection (more are answered with ROO_ERR_QUEUE_FULL).
 * Warnings are rate-limited so that a flood of garbage cannot flood the log.
 *
 * The commands themselves are decided elsewhere: {@link answerRequest} maps
 * a request to a response through {@link ExternalHandlers}, and
 * {@link engineHandlers} implements those over a running engine.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  ErrorCode,
  RooError,
  type Address,
  type ErrorCodeValue,
  decodeExternalMessage,
  encodeExternalMessage,
  makeErrorResponse,
  makeResponse,
  shrinkRequestOf,
  type ExternalRequest,
  type ExternalResponse,
  type ExternalResultValue,
  type ShrinkOutcome,
  type ShrinkRequest,
} from '../../protocols/index.js';
import { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import { LogLine } from '../logging/log-lines.js';
import { ChannelListener, OPEN_CHANNELS, type ChannelSecurity } from '../security/index.js';
import { keysPerGroupArg } from './status.js';

/** Largest external message accepted (1 MiB); a larger one closes its connection. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Most connections open at once; the listening socket refuses more. */
export const DEFAULT_MAX_CONNECTIONS = 32;
/** Most requests of one connection being answered at once; more get ROO_ERR_QUEUE_FULL. */
export const MAX_IN_FLIGHT = 8;
/** How long a closing server waits for clients to finish the close handshake. */
const CLOSE_GRACE_MS = 500;
/** At most this many warnings are logged per {@link WARN_WINDOW_MS}; the rest are counted. */
const WARN_LIMIT = 20;
const WARN_WINDOW_MS = 10_000;

// ---------------------------------------------------------------------------
// Answering requests (no sockets).

/** What the external channel can do, by command. Each returns the response's result. */
export interface ExternalHandlers {
  status(): Promise<ExternalResultValue>;
  partitionQuery(keysPerGroup: number): Promise<ExternalResultValue>;
  entityCounts(): Promise<ExternalResultValue>;
  rotateLogs(): Promise<ExternalResultValue>;
  /** The result of a `shutdown` request; the stop itself runs after the answer is sent. */
  shutdownResult(): Promise<ExternalResultValue>;
  /** Shrinks the cluster, or (`query`) only says which workers may leave. */
  shrink(request: ShrinkRequest): Promise<ShrinkOutcome>;
  /** Spreads this worker's key groups over its threads by measured load. */
  rebalance(): Promise<{ readonly ok: boolean; readonly message: string }>;
}

/** A response, and whether the worker must shut down once it has been sent. */
export interface Answer {
  readonly response: ExternalResponse;
  readonly then: 'continue' | 'shutdown';
}

function errorAnswer(request: ExternalRequest, code: ErrorCodeValue, message: string): Answer {
  return { response: makeErrorResponse(request.id, { code, message }), then: 'continue' };
}

/** A shrink outcome as a result: only its fields, in fresh arrays. */
function shrinkResult(o: ShrinkOutcome): ExternalResultValue {
  return {
    ok: o.ok,
    message: o.message,
    leaving: [...o.leaving],
    eligible: [...o.eligible],
    members: [...o.members],
  };
}

/**
 * Answers one valid request. Never throws: a failing handler becomes an
 * error response with the failure's code (ROO_ERR_INTERNAL if it had none).
 */
export async function answerRequest(
  request: ExternalRequest,
  handlers: ExternalHandlers,
): Promise<Answer> {
  try {
    switch (request.command) {
      case 'status':
        return { response: makeResponse(request.id, await handlers.status()), then: 'continue' };
      case 'partition-query': {
        const keysPerGroup = keysPerGroupArg(request.args);
        const result = await handlers.partitionQuery(keysPerGroup);
        return { response: makeResponse(request.id, result), then: 'continue' };
      }
      case 'entity-counts':
        return {
          response: makeResponse(request.id, await handlers.entityCounts()),
          then: 'continue',
        };
      case 'rotate-logs':
        return {
          response: makeResponse(request.id, await handlers.rotateLogs()),
          then: 'continue',
        };
      case 'shutdown':
        return {
          response: makeResponse(request.id, await handlers.shutdownResult()),
          then: 'shutdown',
        };
      case 'shrink': {
        // Bad args are answered with ROO_ERR_BAD_MESSAGE (below); the connection stays.
        const outcome = await handlers.shrink(shrinkRequestOf(request.args));
        return { response: makeResponse(request.id, shrinkResult(outcome)), then: 'continue' };
      }
      case 'rebalance': {
        const r = await handlers.rebalance();
        return {
          response: makeResponse(request.id, { ok: r.ok, message: r.message }),
          then: 'continue',
        };
      }
      default: {
        const command: string = (request as { command: string }).command;
        return errorAnswer(
          request,
          ErrorCode.UnknownRequest,
          `unknown external command '${command}'`,
        );
      }
    }
  } catch (err) {
    const code = err instanceof RooError ? err.code : ErrorCode.Internal;
    return errorAnswer(request, code, (err as Error).message);
  }
}

// ---------------------------------------------------------------------------
// The server's lifecycle.

/** States of the external server. */
export type ExternalServerState = 'starting' | 'listening' | 'closing' | 'closed';

const TRANSITIONS: Readonly<Record<ExternalServerState, readonly ExternalServerState[]>> = {
  starting: ['listening', 'closed'],
  listening: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** Returns `to` if the server may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextExternalServerState(
  from: ExternalServerState,
  to: ExternalServerState,
): ExternalServerState {
  if (!TRANSITIONS[from].includes(to)) {
    throw new RooError(ErrorCode.Internal, `external server cannot move from ${from} to ${to}`);
  }
  return to;
}

/** Settings of an external server. */
export interface ExternalServerOptions {
  /** Where to listen (port 0: any free port). */
  readonly address: Address;
  /** The commands, given the bound address (`host:port`, known once listening). */
  readonly handlers: (boundAddress: string) => ExternalHandlers;
  readonly log: Logger;
  /** Called once a `shutdown` request has been answered. */
  readonly onShutdown: () => void;
  readonly maxMessageBytes?: number;
  readonly maxConnections?: number;
  /** The cluster secret and TLS: a connection that fails them never reaches HTTP (default: none). */
  readonly security?: ChannelSecurity;
}

/** A listening external channel. */
export class ExternalServer {
  private state: ExternalServerState = 'starting';
  private readonly sockets = new Set<WebSocket>();
  private warnings = 0;
  private suppressed = 0;
  private windowStart = 0;
  private closed: Promise<void> | undefined;
  private handlers: ExternalHandlers | undefined;
  private listener: ChannelListener | undefined;

  private constructor(
    private readonly options: ExternalServerOptions,
    private readonly http: Server,
    private readonly wss: WebSocketServer,
  ) {}

  /** Listens on `options.address`; logs `external channel listening on host:port`. */
  static async start(options: ExternalServerOptions): Promise<ExternalServer> {
    const http = createServer((req, res) => {
      // A plain HTTP request (no upgrade): say what this port speaks.
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('roo external channel: speak WebSocket (e.g. roo status / roo shutdown)\n');
      req.resume();
    });
    http.headersTimeout = 10_000;
    http.requestTimeout = 10_000;
    const wss = new WebSocketServer({
      server: http,
      maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    const server = new ExternalServer(options, http, wss);
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      server.warn(
        `external channel: refused a connection that is not a WebSocket handshake (${err.code ?? err.message})`,
      );
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      socket.destroy();
    });
    wss.on('connection', (ws, req) => server.accept(ws, req));
    wss.on('wsClientError', (err, socket) => {
      server.warn(`external channel: bad WebSocket handshake: ${err.message}`);
      socket.destroy();
    });
    // ws re-emits the HTTP server's errors here; they are handled (and logged) on `http`.
    wss.on('error', () => undefined);
    try {
      server.listener = await ChannelListener.listen(options.address, {
        channel: 'external',
        security: options.security ?? OPEN_CHANNELS,
        errors: new ErrorReporter(options.log),
        maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        onSocket: (socket) => http.emit('connection', socket),
      });
    } catch (err) {
      server.state = nextExternalServerState(server.state, 'closed');
      throw new RooError(
        ErrorCode.BadAddress,
        `--external ${options.address.host}:${options.address.port}: cannot listen: ${(err as Error).message}`,
      );
    }
    // The HTTP server never listens itself (the channel listener hands it each connection
    // that passed): 'listening' starts its tracking of connections and their timeouts.
    http.emit('listening');
    http.on('error', (err) => server.warn(`external channel: ${err.message}`));
    server.handlers = options.handlers(server.address);
    server.state = nextExternalServerState(server.state, 'listening');
    options.log.info(`${LogLine.ExternalListening} ${server.address}`);
    return server;
  }

  /** The bound address, `host:port`. */
  get address(): string {
    return this.listener?.local ?? `${this.options.address.host}:${this.options.address.port}`;
  }

  /** Stops listening and closes every connection (after a short close handshake). */
  close(): Promise<void> {
    if (this.closed !== undefined) return this.closed;
    this.closed = new Promise<void>((resolve) => {
      if (this.state === 'closed') {
        resolve();
        return;
      }
      this.state = nextExternalServerState(this.state, 'closing');
      for (const ws of this.sockets) ws.close(1001, 'worker shutting down');
      const force = setTimeout(() => {
        for (const ws of this.sockets) ws.terminate();
        this.http.closeAllConnections();
      }, CLOSE_GRACE_MS);
      this.wss.close();
      // Ends the HTTP server's connection tracking; it was never listening, which its callback reports.
      this.http.close(() => undefined);
      void (this.listener as ChannelListener).close().then(() => {
        clearTimeout(force);
        this.state = nextExternalServerState(this.state, 'closed');
        resolve();
      });
    });
    return this.closed;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const handlers = this.handlers;
    if (this.state !== 'listening' || handlers === undefined) {
      ws.close(1001, 'worker shutting down');
      return;
    }
    this.sockets.add(ws);
    let inFlight = 0;
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws has already closed the connection (1009 for an oversized message, 1002 for a protocol error).
      const why =
        err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? `message over ${this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES} bytes`
          : err.message;
      this.warn(`external channel: closed the connection from ${peer}: ${why}`);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      let request: ExternalRequest;
      try {
        request = readRequest(toBytes(data), isBinary);
      } catch (err) {
        this.refuse(ws, peer, err);
        return;
      }
      if (inFlight >= MAX_IN_FLIGHT) {
        const message = `more than ${MAX_IN_FLIGHT} requests in flight on one connection; wait for answers`;
        this.send(ws, makeErrorResponse(request.id, { code: ErrorCode.QueueFull, message }));
        return;
      }
      inFlight++;
      void answerRequest(request, handlers).then((answer) => {
        inFlight--;
        if (answer.then === 'shutdown') {
          this.options.log.info(`external channel: shutdown requested from ${peer}`);
          this.send(ws, answer.response, () => this.options.onShutdown());
        } else {
          this.send(ws, answer.response);
        }
      });
    });
  }

  /**
   * A message that is not a valid request. A well-formed request for an
   * unknown command is answered and the connection kept; anything else is
   * answered if its id could be read, logged, and its connection closed.
   */
  private refuse(ws: WebSocket, peer: string, err: unknown): void {
    const code = err instanceof RooError ? err.code : ErrorCode.BadMessage;
    const message = err instanceof Error ? err.message : String(err);
    const id = err instanceof RooError ? err.details?.['id'] : undefined;
    const answerable = typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
    if (code === ErrorCode.UnknownRequest && answerable) {
      this.send(ws, makeErrorResponse(id, { code, message }));
      return;
    }
    this.warn(`external channel: closing the connection from ${peer}: ${code}: ${message}`);
    // A close reason is at most 123 bytes; the code says what was wrong.
    const close = () => ws.close(1008, code);
    if (answerable) this.send(ws, makeErrorResponse(id, { code, message }), close);
    else close();
  }

  /** Sends one response; `after` runs once it is written (or could not be). */
  private send(
    ws: WebSocket,
    response: ExternalResponse,
    after: () => void = () => undefined,
  ): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeExternalMessage(response);
    } catch (err) {
      // A result that is not JSON-like is a bug here; the tool still gets an answer.
      this.options.log.error(
        `external channel: cannot encode an answer: ${(err as Error).message}`,
      );
      bytes = encodeExternalMessage(
        makeErrorResponse(response.id, {
          code: ErrorCode.Internal,
          message: `cannot encode the answer: ${(err as Error).message}`,
        }),
      );
    }
    if (ws.readyState !== ws.OPEN) {
      after();
      return;
    }
    ws.send(bytes, { binary: true }, () => after());
  }

  /** Logs a warning unless too many were logged lately (then counts it). */
  private warn(line: string): void {
    const now = Date.now();
    if (now - this.windowStart >= WARN_WINDOW_MS) {
      if (this.suppressed > 0) {
        this.options.log.warn(
          `external channel: ${this.suppressed} more warnings in the last ${WARN_WINDOW_MS / 1000}s not logged`,
        );
      }
      this.windowStart = now;
      this.warnings = 0;
      this.suppressed = 0;
    }
    if (this.warnings < WARN_LIMIT) {
      this.warnings++;
      this.options.log.warn(line);
    } else {
      this.suppressed++;
    }
  }
}

/** Decodes one incoming WebSocket message as a request; throws a RooError saying why it is not one. */
export function readRequest(bytes: Uint8Array, isBinary: boolean): ExternalRequest {
  if (!isBinary) {
    throw new RooError(
      ErrorCode.BadMessage,
      'external messages are binary WebSocket messages; got a text message',
    );
  }
  const message = decodeExternalMessage(bytes);
  if (message.type !== 'request') {
    throw new RooError(
      ErrorCode.BadMessage,
      'a worker takes requests on its external channel, not responses',
      {
        id: message.id,
      },
    );
  }
  return message;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
