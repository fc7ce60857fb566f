/**
 * The tools' side of a worker's external channel (`roo status`,
 * `roo shutdown`): connect over WebSocket, send one request, wait for the
 * response with the same id, close. Every way this can go wrong ends in an
 * {@link ExternalClientError} whose message says what happened in words a
 * user can act on (nothing listens there, no answer in time, not a roo
 * external channel, the worker refused the request...).
 */
import type { createConnection } from 'node:net';
import { WebSocket } from 'ws';
import {
  ErrorCode,
  RooError,
  decodeExternalMessage,
  encodeExternalMessage,
  formatAddress,
  EXTERNAL_PROTOCOL_VERSION,
  type Address,
  type ExternalArgs,
  type ExternalCommand,
  type ExternalResponse,
} from '../../protocols/index.js';
import { channelConnector, isOpen, type ChannelSecurity } from '../security/index.js';

/** How long a request may take, from connecting to the answer, unless `--timeout` says otherwise. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** Largest answer accepted (a partition query of a big state can be several MB). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Why a request got no usable answer. */
export type ExternalClientFailure =
  | 'unreachable' // nothing listens, or the host cannot be reached
  | 'timeout' // no answer in time
  | 'closed' // the worker closed the connection before answering
  | 'not-external' // something answers there, but not a roo external channel
  | 'bad-answer' // the answer did not decode or did not match the request
  | 'refused' // the worker answered with an error
  | 'unauthorized'; // the cluster handshake or TLS failed (another secret, another CA, none)

/** A request that failed; `reason` says how, `code` is the worker's code for `refused`. */
export class ExternalClientError extends Error {
  constructor(
    readonly reason: ExternalClientFailure,
    message: string,
    /** The worker's error code, for `refused`. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ExternalClientError';
  }
}

/** Options of one request. */
export interface ExternalRequestOptions {
  /** Milliseconds from connecting to the answer (default {@link DEFAULT_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  readonly args?: ExternalArgs;
  /** The cluster secret and TLS the worker's external channel asks for (default: none). */
  readonly security?: ChannelSecurity;
}

let nextId = 1;

function noAnswer(where: string, timeoutMs: number): string {
  return `no answer from ${where} within ${timeoutMs} ms (use --timeout MS to wait longer)`;
}

/** Words for a failed connection, by its errno code or ws's message. */
function connectionError(
  where: string,
  timeoutMs: number,
  err: NodeJS.ErrnoException,
): ExternalClientError {
  if (err instanceof RooError && err.code === ErrorCode.AuthFailed) {
    return new ExternalClientError('unauthorized', `${where}: ${err.message}`);
  }
  if (err.message.startsWith('TLS: ')) {
    return new ExternalClientError('unauthorized', `${where}: ${err.message}`);
  }
  if (err.code?.startsWith('HPE_') === true) {
    return new ExternalClientError(
      'not-external',
      `${where} did not answer in HTTP (${err.code}): is it a roo external channel that wants a cluster secret (--cluster-secret-file) or TLS (--tls-cert, --tls-key, --tls-ca)?`,
    );
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new ExternalClientError(
        'unreachable',
        `nothing listens on ${where} (connection refused); is a worker running with --external ${where}?`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ExternalClientError('unreachable', `cannot resolve the host of ${where}`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new ExternalClientError('unreachable', `cannot reach ${where} (${err.code})`);
    case 'ECONNRESET':
      return new ExternalClientError(
        'closed',
        `${where} reset the connection; is it a roo worker's --external address?`,
      );
    default:
      if (/Opening handshake has timed out/.test(err.message)) {
        return new ExternalClientError('timeout', noAnswer(where, timeoutMs));
      }
      if (/Unexpected server response|Invalid WebSocket frame/.test(err.message)) {
        return new ExternalClientError(
          'not-external',
          `${where} is not a roo external channel (${err.message})`,
        );
      }
      return new ExternalClientError(
        'unreachable',
        `cannot talk to ${where}: ${err.code ?? err.message}`,
      );
  }
}

/**
 * Sends `command` to the worker whose external channel is at `address` and
 * resolves with the response's result. Rejects with an
 * {@link ExternalClientError}: `refused` (with the worker's code) if the
 * worker answered with an error, or another reason if there was no answer.
 */
export function requestExternal(
  address: Address,
  command: ExternalCommand,
  options: ExternalRequestOptions = {},
): Promise<ExternalResponse & { ok: true }> {
  const where = formatAddress(address);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = nextId++;
  const request = encodeExternalMessage({
    type: 'request',
    version: EXTERNAL_PROTOCOL_VERSION,
    id,
    command,
    ...(options.args === undefined ? {} : { args: options.args }),
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const security = options.security;
    const ws = new WebSocket(`ws://${where}/`, {
      handshakeTimeout: timeoutMs,
      maxPayload: MAX_ANSWER_BYTES,
      perMessageDeflate: false,
      ...(security === undefined || isOpen(security)
        ? {}
        : {
            // ws's type wants net.createConnection; Node's HTTP client takes a callback form too.
            createConnection: channelConnector(address, 'external', security, {
              timeoutMs,
            }) as unknown as typeof createConnection,
          }),
    });
    const finish = (error: ExternalClientError | undefined, response?: ExternalResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) ws.close(1000);
      else ws.terminate();
      if (error !== undefined) reject(error);
      else resolve(response as ExternalResponse & { ok: true });
    };
    const timer = setTimeout(
      () => finish(new ExternalClientError('timeout', noAnswer(where, timeoutMs))),
      timeoutMs,
    );
    ws.on('open', () => ws.send(request, { binary: true }));
    ws.on('error', (err: NodeJS.ErrnoException) => finish(connectionError(where, timeoutMs, err)));
    ws.on('unexpected-response', (_req, res) => {
      finish(
        new ExternalClientError(
          'not-external',
          `${where} is not a roo external channel (it answered HTTP ${res.statusCode})`,
        ),
      );
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const why = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
      finish(
        new ExternalClientError(
          'closed',
          `${where} closed the connection before answering (code ${code}${why})`,
        ),
      );
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let response: ExternalResponse;
      try {
        if (!isBinary) throw new Error('a text message');
        const message = decodeExternalMessage(new Uint8Array(data));
        if (message.type !== 'response') throw new Error('a request, not a response');
        response = message;
      } catch (err) {
        const what =
          err instanceof RooError ? `${err.code}: ${err.message}` : (err as Error).message;
        finish(
          new ExternalClientError('bad-answer', `${where} sent an unreadable answer: ${what}`),
        );
        return;
      }
      if (response.id !== id) {
        finish(
          new ExternalClientError(
            'bad-answer',
            `${where} answered request ${response.id}, but request ${id} was sent`,
          ),
        );
      } else if (!response.ok) {
        finish(
          new ExternalClientError(
            'refused',
            `${where} refused '${command}': ${response.error.code}: ${response.error.message}`,
            response.error.code,
          ),
        );
      } else {
        finish(undefined, response);
      }
    });
  });
}
