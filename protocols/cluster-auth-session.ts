/**
 * The cluster handshake's two sides as pure state machines, and the proofs
 * they exchange (the messages are cluster-auth.ts's). The caller supplies
 * the random nonces and moves the bytes; a side takes each message the peer
 * sent and returns its next state, what to send, and the outcome once there
 * is one. No I/O, no clock, no randomness here: the same inputs always give
 * the same steps, so every rule is unit-tested without a socket.
 *
 * A proof is HMAC-SHA256(secret, "roo-cluster-auth/V/ROLE/CHANNEL/" ||
 * client nonce || server nonce), V the handshake version, ROLE `client` or
 * `server`. Both nonces are fresh per connection, so a proof recorded on one
 * connection verifies on no other (a replay); the role keeps a server's
 * proof from passing as a client's (a reflection); the channel keeps a
 * data-channel proof from opening the external channel. Proofs are compared
 * in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  AUTH_NONCE_BYTES,
  AUTH_PROTOCOL_VERSION,
  authRefusal,
  refusalError,
  type AuthChannel,
  type AuthMessage,
} from './cluster-auth.js';
import { ErrorCode, RooError, type ErrorCodeValue } from './errors.js';
import { checkedTransition, type TransitionTable } from './transition.js';

/** Which side of a handshake computes a proof. */
export type AuthRole = 'client' | 'server';

/** The proof `role` sends on `channel` for the two nonces. */
export function authProof(
  secret: Uint8Array,
  role: AuthRole,
  channel: AuthChannel,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Uint8Array {
  const label = Buffer.from(
    `roo-cluster-auth/${AUTH_PROTOCOL_VERSION}/${role}/${channel}/`,
    'ascii',
  );
  const mac = createHmac('sha256', secret);
  mac.update(label);
  mac.update(clientNonce);
  mac.update(serverNonce);
  return new Uint8Array(mac.digest());
}

/** True if `proof` is the one `role` must send; compared in constant time. */
export function verifyAuthProof(
  secret: Uint8Array,
  role: AuthRole,
  channel: AuthChannel,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
  proof: Uint8Array,
): boolean {
  const expected = authProof(secret, role, channel, clientNonce, serverNonce);
  return proof.length === expected.length && timingSafeEqual(proof, expected);
}

/** What one step of a side decided. */
export interface AuthStep<S> {
  readonly session: S;
  /** The message to send now, if any. */
  readonly send?: AuthMessage;
  /** Set once the handshake is over: `accepted`, or why it failed (the connection is then closed). */
  readonly outcome?: 'accepted' | RooError;
}

/** Phases of the client: hello sent → proof sent → accepted (or failed). */
export type AuthClientPhase = 'hello-sent' | 'proof-sent' | 'accepted' | 'failed';

const CLIENT_MOVES: TransitionTable<AuthClientPhase> = {
  'hello-sent': ['proof-sent', 'failed'],
  'proof-sent': ['accepted', 'failed'],
  accepted: [],
  failed: [],
};

/** The client's side. */
export interface AuthClientSession {
  readonly phase: AuthClientPhase;
  readonly secret: Uint8Array;
  readonly channel: AuthChannel;
  readonly clientNonce: Uint8Array;
  /** Known once the challenge has come. */
  readonly serverNonce: Uint8Array | undefined;
}

/** Starts a client: returns its session and the hello to send first. */
export function startAuthClient(
  secret: Uint8Array,
  channel: AuthChannel,
  clientNonce: Uint8Array,
): AuthStep<AuthClientSession> {
  checkNonce(clientNonce);
  return {
    session: { phase: 'hello-sent', secret, channel, clientNonce, serverNonce: undefined },
    send: { type: 'hello', version: AUTH_PROTOCOL_VERSION, channel, nonce: clientNonce },
  };
}

/**
 * The client takes the server's next message: a `challenge` is answered with
 * its proof, a `welcome` whose proof verifies accepts, a `refused` fails with
 * the server's code, and anything else (a message out of turn, a server
 * proof that does not verify, a challenge echoing the client's nonce) fails
 * with ROO_ERR_AUTH_FAILED.
 */
export function authClientStep(s: AuthClientSession, m: AuthMessage): AuthStep<AuthClientSession> {
  if (s.phase === 'accepted' || s.phase === 'failed') {
    throw new RooError(ErrorCode.Internal, `a ${s.phase} cluster handshake took a message`);
  }
  const fail = (
    message: string,
    code: ErrorCodeValue = ErrorCode.AuthFailed,
    definitive = false,
  ): AuthStep<AuthClientSession> => ({
    session: { ...s, phase: checkedTransition(CLIENT_MOVES, s.phase, 'failed', 'handshake') },
    outcome: new RooError(code, message, definitive ? { definitive: true } : undefined),
  });
  if (m.type === 'refused') {
    return {
      session: { ...s, phase: checkedTransition(CLIENT_MOVES, s.phase, 'failed', 'handshake') },
      outcome: refusalError(m),
    };
  }
  if (s.phase === 'hello-sent' && m.type === 'challenge') {
    if (sameBytes(m.nonce, s.clientNonce)) return fail('the worker echoed our nonce back');
    const proof = authProof(s.secret, 'client', s.channel, s.clientNonce, m.nonce);
    return {
      session: {
        ...s,
        phase: checkedTransition(CLIENT_MOVES, s.phase, 'proof-sent', 'handshake'),
        serverNonce: m.nonce,
      },
      send: { type: 'proof', version: AUTH_PROTOCOL_VERSION, proof },
    };
  }
  if (s.phase === 'proof-sent' && m.type === 'welcome') {
    const serverNonce = s.serverNonce as Uint8Array;
    if (!verifyAuthProof(s.secret, 'server', s.channel, s.clientNonce, serverNonce, m.proof)) {
      return fail(
        'the worker does not hold this cluster secret (its proof does not verify)',
        ErrorCode.AuthFailed,
        true,
      );
    }
    return {
      session: { ...s, phase: checkedTransition(CLIENT_MOVES, s.phase, 'accepted', 'handshake') },
      outcome: 'accepted',
    };
  }
  return fail(`the worker sent '${m.type}' out of turn (${s.phase})`, ErrorCode.BadMessage);
}

/** Phases of the server: awaiting the hello → challenge sent → accepted (or failed). */
export type AuthServerPhase = 'awaiting-hello' | 'challenge-sent' | 'accepted' | 'failed';

const SERVER_MOVES: TransitionTable<AuthServerPhase> = {
  'awaiting-hello': ['challenge-sent', 'failed'],
  'challenge-sent': ['accepted', 'failed'],
  accepted: [],
  failed: [],
};

/** The server's side. */
export interface AuthServerSession {
  readonly phase: AuthServerPhase;
  readonly secret: Uint8Array;
  /** The channel this listener serves. */
  readonly channel: AuthChannel;
  readonly serverNonce: Uint8Array;
  /** Known once the hello has come. */
  readonly clientNonce: Uint8Array | undefined;
}

/** Starts a server for one accepted connection; it waits for the client's hello. */
export function startAuthServer(
  secret: Uint8Array,
  channel: AuthChannel,
  serverNonce: Uint8Array,
): AuthServerSession {
  checkNonce(serverNonce);
  return { phase: 'awaiting-hello', secret, channel, serverNonce, clientNonce: undefined };
}

/**
 * The server takes the client's next message: a `hello` for its channel is
 * answered with the challenge, a `proof` that verifies with the welcome
 * (accepted). Anything else fails with ROO_ERR_AUTH_FAILED (or
 * ROO_ERR_BAD_MESSAGE for a message out of turn) and a `refused` to send
 * before closing: a hello for another channel, one carrying the server's
 * own nonce, a proof that does not verify (another secret, or a proof
 * replayed from another connection).
 */
export function authServerStep(s: AuthServerSession, m: AuthMessage): AuthStep<AuthServerSession> {
  if (s.phase === 'accepted' || s.phase === 'failed') {
    throw new RooError(ErrorCode.Internal, `a ${s.phase} cluster handshake took a message`);
  }
  const fail = (
    message: string,
    code: ErrorCodeValue = ErrorCode.AuthFailed,
  ): AuthStep<AuthServerSession> => ({
    session: { ...s, phase: checkedTransition(SERVER_MOVES, s.phase, 'failed', 'handshake') },
    send: authRefusal(code, message),
    outcome: new RooError(code, message),
  });
  if (s.phase === 'awaiting-hello' && m.type === 'hello') {
    if (m.channel !== s.channel) {
      return fail(`this address serves the ${s.channel} channel, not the ${m.channel} channel`);
    }
    if (sameBytes(m.nonce, s.serverNonce)) return fail('the client sent the server its own nonce');
    return {
      session: {
        ...s,
        phase: checkedTransition(SERVER_MOVES, s.phase, 'challenge-sent', 'handshake'),
        clientNonce: m.nonce,
      },
      send: { type: 'challenge', version: AUTH_PROTOCOL_VERSION, nonce: s.serverNonce },
    };
  }
  if (s.phase === 'challenge-sent' && m.type === 'proof') {
    const clientNonce = s.clientNonce as Uint8Array;
    if (!verifyAuthProof(s.secret, 'client', s.channel, clientNonce, s.serverNonce, m.proof)) {
      return fail('wrong cluster secret (the proof does not verify)');
    }
    return {
      session: { ...s, phase: checkedTransition(SERVER_MOVES, s.phase, 'accepted', 'handshake') },
      send: {
        type: 'welcome',
        version: AUTH_PROTOCOL_VERSION,
        proof: authProof(s.secret, 'server', s.channel, clientNonce, s.serverNonce),
      },
      outcome: 'accepted',
    };
  }
  return fail(`'${m.type}' out of turn (${s.phase})`, ErrorCode.BadMessage);
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== AUTH_NONCE_BYTES) {
    throw new RooError(
      ErrorCode.Internal,
      `a handshake nonce must be ${AUTH_NONCE_BYTES} bytes, got ${nonce.length}`,
    );
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
