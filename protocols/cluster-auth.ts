/**
 * The cluster handshake's messages (docs/cluster.md, "Securing a cluster"):
 * with a cluster secret (`--cluster-secret-file`), every control, data and
 * external connection opens with a mutual challenge-response before any
 * message of its channel is read. Each side proves it holds the secret with
 * an HMAC-SHA256 over both sides' fresh random nonces, the channel and the
 * protocol version; the secret never crosses the wire. The proofs and the
 * two sides' state machines are in cluster-auth-session.ts; this file holds
 * the wire format. Pure: bytes in, messages or typed errors out.
 *
 * A connection, each message a frame (frame.ts: u32 big-endian length, then
 * a msgpack map of at most {@link MAX_AUTH_MESSAGE_BYTES}):
 *
 *     client → server   hello      { channel, nonce }   which channel it wants, its nonce
 *     server → client   challenge  { nonce }            the server's nonce
 *     client → server   proof      { proof }            HMAC(secret, client transcript)
 *     server → client   welcome    { proof }            HMAC(secret, server transcript): accepted
 *                   or  refused    { code, message }    not accepted; the server closes
 *
 * Then the channel's own protocol begins (a WebSocket upgrade, data frames).
 * The client proves first, so a stranger who connects learns no proof at
 * all. Neither side sends anything past its last handshake message until
 * the other's next one has arrived, so no byte of the channel is ever read
 * by the handshake.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, RooError, type ErrorCodeValue } from './errors.js';
import { encodeFrame } from './frame.js';
import {
  asRecord,
  bad,
  clip,
  describe,
  field,
  nonEmptyText,
  packWire,
  supportedVersion,
  unpackWire,
} from './validate.js';

/** Version of the handshake; it is also part of every proof. */
export const AUTH_PROTOCOL_VERSION = 1;

/** Bytes of a nonce: fresh random bytes per connection and side. */
export const AUTH_NONCE_BYTES = 32;

/** Bytes of a proof (an HMAC-SHA256). */
export const AUTH_PROOF_BYTES = 32;

/** Largest handshake message; a frame announcing more is garbage (a hello is under 80 bytes). */
export const MAX_AUTH_MESSAGE_BYTES = 512;

/** Longest `message` of a `refused`, in UTF-16 code units. */
export const MAX_AUTH_REFUSAL_LENGTH = 300;

/**
 * The channels a handshake opens; a proof is bound to its channel.
 * `metrics`: a worker's reports to `roo metrics` (`--metrics`).
 */
export const AUTH_CHANNELS = ['control', 'data', 'external', 'metrics'] as const;

/** One of {@link AUTH_CHANNELS}. */
export type AuthChannel = (typeof AUTH_CHANNELS)[number];

/** The client asks for a channel and sends its nonce. */
export interface AuthHello {
  readonly type: 'hello';
  readonly version: typeof AUTH_PROTOCOL_VERSION;
  /** The channel the client means to speak; a listener of another channel refuses it. */
  readonly channel: AuthChannel;
  /** {@link AUTH_NONCE_BYTES} fresh random bytes. */
  readonly nonce: Uint8Array;
}

/** The server's nonce. */
export interface AuthChallenge {
  readonly type: 'challenge';
  readonly version: typeof AUTH_PROTOCOL_VERSION;
  /** {@link AUTH_NONCE_BYTES} fresh random bytes. */
  readonly nonce: Uint8Array;
}

/** The client's proof that it holds the secret. */
export interface AuthProof {
  readonly type: 'proof';
  readonly version: typeof AUTH_PROTOCOL_VERSION;
  /** HMAC-SHA256 of the client's transcript (cluster-auth-session.ts). */
  readonly proof: Uint8Array;
}

/** The server accepts the client and proves it holds the secret too. */
export interface AuthWelcome {
  readonly type: 'welcome';
  readonly version: typeof AUTH_PROTOCOL_VERSION;
  /** HMAC-SHA256 of the server's transcript. */
  readonly proof: Uint8Array;
}

/** The server does not accept the client (wrong proof, another channel); it closes next. */
export interface AuthRefused {
  readonly type: 'refused';
  readonly version: typeof AUTH_PROTOCOL_VERSION;
  /** Why, as a stable code (ROO_ERR_AUTH_FAILED, ROO_ERR_BAD_MESSAGE, ...). */
  readonly code: ErrorCodeValue;
  /** Why, in words, for the client's error (at most {@link MAX_AUTH_REFUSAL_LENGTH} units). */
  readonly message: string;
}

/** Any handshake message, discriminated by `type`. */
export type AuthMessage = AuthHello | AuthChallenge | AuthProof | AuthWelcome | AuthRefused;

/** The `type` of each kind of {@link AuthMessage}. */
export type AuthMessageType = AuthMessage['type'];

/** Field names of each kind, besides `type` and `version`; anything else is refused. */
const FIELDS: { readonly [T in AuthMessageType]: readonly string[] } = {
  hello: ['channel', 'nonce'],
  challenge: ['nonce'],
  proof: ['proof'],
  welcome: ['proof'],
  refused: ['code', 'message'],
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a message (validated first, so a malformed one fails at its
 * sender): the msgpack payload alone, in a buffer of its own.
 */
export function encodeAuthMessage(message: AuthMessage): Uint8Array {
  return packWire(
    (v) => packr.pack(v),
    validateAuthMessage(message),
    MAX_AUTH_MESSAGE_BYTES,
    'cluster handshake message',
  );
}

/** Encodes a message with its frame header, in one buffer, ready to write. */
export function encodeAuthFrame(message: AuthMessage): Buffer {
  return encodeFrame(encodeAuthMessage(message));
}

/**
 * Decodes and validates one message payload. Throws RooError
 * ROO_ERR_BAD_VERSION for another handshake version and ROO_ERR_BAD_MESSAGE
 * for anything else malformed (garbage, truncated or padded msgpack, a value
 * that is not a valid message, a payload over {@link MAX_AUTH_MESSAGE_BYTES}).
 */
export function decodeAuthMessage(bytes: Uint8Array): AuthMessage {
  if (bytes.length > MAX_AUTH_MESSAGE_BYTES) {
    throw bad(
      `cluster handshake message of ${bytes.length} bytes exceeds the maximum of ${MAX_AUTH_MESSAGE_BYTES} bytes`,
    );
  }
  return validateAuthMessage(
    unpackWire((b) => unpackr.unpack(b), bytes, 'cluster handshake message'),
  );
}

/**
 * Checks that `value` is a handshake message of the current version and
 * returns a fresh object holding only its fields: a nonce or proof exactly
 * its size in binary, a known channel, a known error code, a non-empty,
 * well-formed message of bounded length; no other field. Throws like
 * {@link decodeAuthMessage}.
 */
export function validateAuthMessage(value: unknown): AuthMessage {
  const record = asRecord(value, 'cluster handshake message');
  const version = supportedVersion(
    record,
    'cluster handshake message',
    AUTH_PROTOCOL_VERSION,
    'worker',
  );
  const type = field(record, 'type');
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    throw bad(`unknown cluster handshake message type ${describe(type)}`);
  }
  const kind = type as AuthMessageType;
  for (const key of Object.keys(record)) {
    if (key !== 'type' && key !== 'version' && !FIELDS[kind].includes(key)) {
      throw bad(
        `unexpected field ${JSON.stringify(clip(key))} in a '${kind}' cluster handshake message`,
      );
    }
  }
  const what = `a '${kind}' cluster handshake message`;
  switch (kind) {
    case 'hello':
      return {
        type: kind,
        version,
        channel: channelField(field(record, 'channel'), what),
        nonce: bytesField(field(record, 'nonce'), 'nonce', AUTH_NONCE_BYTES, what),
      };
    case 'challenge':
      return {
        type: kind,
        version,
        nonce: bytesField(field(record, 'nonce'), 'nonce', AUTH_NONCE_BYTES, what),
      };
    case 'proof':
    case 'welcome':
      return {
        type: kind,
        version,
        proof: bytesField(field(record, 'proof'), 'proof', AUTH_PROOF_BYTES, what),
      };
    case 'refused': {
      const message = nonEmptyText(field(record, 'message'), 'message', what);
      if (message.length > MAX_AUTH_REFUSAL_LENGTH) {
        throw bad(`field 'message' of ${what} is longer than ${MAX_AUTH_REFUSAL_LENGTH}`);
      }
      return { type: kind, version, code: codeField(field(record, 'code'), what), message };
    }
  }
}

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

function codeField(x: unknown, what: string): ErrorCodeValue {
  if (typeof x !== 'string' || !CODES.has(x)) {
    throw bad(`field 'code' of ${what} must be a roo error code, got ${describe(x)}`);
  }
  return x as ErrorCodeValue;
}

function channelField(x: unknown, what: string): AuthChannel {
  if (typeof x !== 'string' || !(AUTH_CHANNELS as readonly string[]).includes(x)) {
    throw bad(
      `field 'channel' of ${what} must be one of ${AUTH_CHANNELS.join(', ')}, got ${describe(x)}`,
    );
  }
  return x as AuthChannel;
}

/** Binary of exactly `size` bytes, copied into a plain Uint8Array of its own. */
function bytesField(x: unknown, path: string, size: number, what: string): Uint8Array {
  if (!(x instanceof Uint8Array) || x.length !== size) {
    throw bad(`field '${path}' of ${what} must be ${size} bytes of binary, got ${describe(x)}`);
  }
  return Uint8Array.from(x);
}

/** A refusal to send, its message cut to the length the wire allows. */
export function authRefusal(code: ErrorCodeValue, message: string): AuthRefused {
  const text = message.length > MAX_AUTH_REFUSAL_LENGTH ? message.slice(0, 297) + '...' : message;
  return { type: 'refused', version: AUTH_PROTOCOL_VERSION, code, message: text };
}

/**
 * The RooError a client reports for a server's refusal. Its details say
 * `definitive`: trying again with the same secret cannot succeed.
 */
export function refusalError(m: AuthRefused): RooError {
  return new RooError(m.code, `the worker refused the cluster handshake: ${m.message}`, {
    definitive: true,
  });
}
