/**
 * Runs the cluster handshake (protocols/cluster-auth.ts) on one connected
 * socket, either side: writes the side's messages as frames, reads the
 * peer's, steps the pure session, and ends in exactly one of accepted or
 * failed. The one implementation every channel uses (control, data,
 * external; see channel-socket.ts).
 *
 * Bounds: a frame over MAX_AUTH_MESSAGE_BYTES fails the handshake before it
 * is buffered; so does a peer that is not done within the timeout (a silent
 * stranger cannot hold a socket), or that sends anything past its last
 * handshake message before the answer (no byte of the channel is ever read
 * here, so none can be lost or taken for a handshake message).
 *
 * On failure the socket is closed: a server first writes its `refused`, so
 * the client can say why. On success the socket is handed back untouched,
 * flowing and without listeners of ours: the caller attaches its own at once
 * (the server synchronously, in `onAccepted`).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  AUTH_NONCE_BYTES,
  authClientStep,
  authRefusal,
  authServerStep,
  decodeAuthMessage,
  encodeAuthFrame,
  ErrorCode,
  FrameDecoder,
  MAX_AUTH_MESSAGE_BYTES,
  RooError,
  startAuthClient,
  startAuthServer,
  type AuthChannel,
  type AuthClientSession,
  type AuthMessage,
  type AuthServerSession,
  type AuthStep,
} from '../../protocols/index.js';

/** How long a handshake may take by default, from its start to its last message. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** How long a refused peer may keep its half-closed socket before it is destroyed. */
const LINGER_MS = 1_000;

/** One handshake on one socket. */
export interface HandshakeOptions {
  readonly side: 'client' | 'server';
  readonly secret: Uint8Array;
  readonly channel: AuthChannel;
  readonly timeoutMs?: number;
  /** Called once, synchronously from the read that completed the handshake. */
  readonly onAccepted: () => void;
  /** Called once with why the handshake failed; the socket is closed (or closing). */
  readonly onFailed: (error: RooError) => void;
}

/** Why a client's handshake failed when its peer does not speak the handshake at all. */
const NOT_SPOKEN = 'is it running without a cluster secret, or is this not its address?';

/** Runs one handshake on `socket` (connected; for TLS, once the TLS handshake is done). */
export function runHandshake(socket: Socket, o: HandshakeOptions): void {
  const timeoutMs = o.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const framer = new FrameDecoder(MAX_AUTH_MESSAGE_BYTES);
  /** Set once the outcome is known: no later event matters. */
  let finished = false;
  /** The session accepted; handed over once the rest of the chunk is known to be empty. */
  let accepted = false;
  /** A frame came after the one that accepted: the peer did not wait for the answer. */
  let early = false;
  let server: AuthStep<AuthServerSession> | undefined;
  let client: AuthStep<AuthClientSession> | undefined;
  const nonce = new Uint8Array(randomBytes(AUTH_NONCE_BYTES));
  if (o.side === 'server') server = { session: startAuthServer(o.secret, o.channel, nonce) };
  else client = startAuthClient(o.secret, o.channel, nonce);

  const detach = () => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.off('error', onError);
  };
  const fail = (error: RooError, last?: AuthMessage) => {
    if (finished) return;
    finished = true;
    detach();
    // Errors after this point (a reset while lingering) are of no interest.
    socket.on('error', () => undefined);
    if (last !== undefined && socket.writable) {
      socket.end(encodeAuthFrame(last));
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    } else socket.destroy();
    o.onFailed(error);
  };
  /** Steps the session with one message; returns the failure to report, if any. */
  const step = (m: AuthMessage): { error: RooError; last?: AuthMessage } | undefined => {
    const next =
      server !== undefined
        ? (server = authServerStep(server.session, m))
        : (client = authClientStep((client as AuthStep<AuthClientSession>).session, m));
    const { send, outcome } = next;
    if (outcome instanceof RooError) {
      // Every failure is reported as ROO_ERR_AUTH_FAILED; a message out of turn says so in words.
      const error =
        outcome.code === ErrorCode.AuthFailed
          ? outcome
          : new RooError(ErrorCode.AuthFailed, `cluster handshake: ${outcome.message}`);
      return server !== undefined && send !== undefined ? { error, last: send } : { error };
    }
    if (send !== undefined) socket.write(encodeAuthFrame(send));
    if (outcome === 'accepted') accepted = true;
    return undefined;
  };
  function onData(chunk: Buffer): void {
    let failure: { error: RooError; last?: AuthMessage } | undefined;
    try {
      framer.push(chunk, (payload) => {
        if (accepted) early = true;
        else if (failure === undefined) failure = step(decodeAuthMessage(payload));
      });
    } catch (err) {
      const e = err as RooError;
      const message =
        e.code !== ErrorCode.FrameTooLarge
          ? `cluster handshake: ${e.message}`
          : o.side === 'client'
            ? `the worker did not answer with the cluster handshake (${NOT_SPOKEN})`
            : 'it does not speak the cluster handshake (a client without the cluster secret, or no roo process)';
      const error = new RooError(ErrorCode.AuthFailed, message);
      failure = {
        error,
        ...(o.side === 'server' ? { last: authRefusal(error.code, message) } : {}),
      };
    }
    if (failure !== undefined) return fail(failure.error, failure.last);
    if (!accepted) return;
    if (early || framer.bufferedBytes > 0) {
      return fail(
        new RooError(
          ErrorCode.AuthFailed,
          'the peer sent data before the cluster handshake had finished',
        ),
      );
    }
    finished = true;
    detach();
    o.onAccepted();
  }
  function onEnd(): void {
    fail(
      new RooError(
        ErrorCode.AuthFailed,
        o.side === 'client'
          ? `the worker closed the connection during the cluster handshake (${NOT_SPOKEN})`
          : 'the peer closed the connection during the cluster handshake',
      ),
    );
  }
  function onError(err: Error): void {
    fail(new RooError(ErrorCode.AuthFailed, `cluster handshake: ${err.message}`));
  }
  const timer = setTimeout(
    () =>
      fail(
        new RooError(
          ErrorCode.AuthFailed,
          `the cluster handshake did not finish within ${timeoutMs} ms`,
        ),
      ),
    timeoutMs,
  );
  timer.unref();
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  if (client?.send !== undefined) socket.write(encodeAuthFrame(client.send));
}
