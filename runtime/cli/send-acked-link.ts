/**
 * The terms of `roo send`'s acknowledging connection (send-acked.ts), as
 * data and pure functions: its settings and their defaults, the link's
 * states and transition table, and what a message from the source means in
 * each state (a `resume` or `ack` to act on, an ack to ignore, or an error
 * that fails the send: rules 3 and 7 of send-acked.ts). Kept apart from
 * AckedOutput, which owns the sockets, timers and kept frames, so that the
 * decisions read (and are tested) without a connection.
 */
import {
  ErrorCode,
  type ErrorCodeValue,
  RooError,
  type SourceAck,
  type SourceAckMessage,
  type SourceResume,
} from '../../protocols/index.js';
import type { Address } from '../../protocols/address.js';

/** Default bound on the bytes kept unacknowledged (`--max-unacked-mb 64`). */
export const DEFAULT_MAX_UNACKED_BYTES = 64 * 1024 * 1024;
/** Default time a lost connection is retried. */
export const DEFAULT_RECONNECT_RETRY_MS = 60_000;
/** Default time one connection waits for the source's `resume`. */
export const DEFAULT_RESUME_WAIT_MS = 15_000;

/** What an acknowledging send needs. */
export interface AckedOutputOptions {
  readonly address: Address;
  /** The stream id sent in every hello. */
  readonly stream: string;
  /** Most bytes kept unacknowledged before `write` waits. */
  readonly maxUnackedBytes: number;
  /** How long the first connection's refusals are retried. */
  readonly connectRetryMs: number;
  /** How long a lost connection is retried. */
  readonly reconnectRetryMs: number;
  /** How long one connection waits for the `resume`. */
  readonly resumeWaitMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly log: (line: string) => void;
}

/** States of an acknowledging connection. */
export type AckedLinkState =
  'connecting' | 'handshaking' | 'streaming' | 'reconnecting' | 'closing' | 'closed' | 'failed';

const LINK_TRANSITIONS: Readonly<Record<AckedLinkState, readonly AckedLinkState[]>> = {
  connecting: ['handshaking', 'closed', 'failed'],
  handshaking: ['streaming', 'reconnecting', 'closed', 'failed'],
  streaming: ['reconnecting', 'closing', 'closed', 'failed'],
  reconnecting: ['handshaking', 'closing', 'closed', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

/** Returns `to` if a link may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextAckedLinkState(from: AckedLinkState, to: AckedLinkState): AckedLinkState {
  if (!LINK_TRANSITIONS[from].includes(to)) {
    throw new RooError(ErrorCode.Internal, `acknowledging send cannot move from ${from} to ${to}`);
  }
  return to;
}

/** How waiting for a `resume` on one connection ended. */
export type HandshakeOutcome = 'resumed' | 'closed' | 'timeout' | 'aborted' | 'failed';

/**
 * What message `m` from the source at `where` asks of a link in `state`: the
 * `resume` to act on while handshaking, the `ack` to act on while streaming,
 * or undefined for an ack that comes while closing (everything written is
 * already being closed). Throws RooError for a `close` (rule 7: its own code
 * when it is one of roo's, else ROO_ERR_BAD_MESSAGE; `unacked` messages are
 * lost with it) and ROO_ERR_BAD_MESSAGE for any other message out of place
 * (rule 3).
 */
export function acceptSourceMessage(
  state: AckedLinkState,
  m: SourceAckMessage,
  where: string,
  unacked: number,
): SourceResume | SourceAck | undefined {
  if (m.type === 'close') {
    // The source stops for good: no ack will come, however long the wait (rule 7).
    const known = (Object.values(ErrorCode) as string[]).includes(m.code);
    throw new RooError(
      known ? (m.code as ErrorCodeValue) : ErrorCode.BadMessage,
      `${where} closed the stream for good, with ${unacked} messages not acknowledged: ${known ? '' : `${m.code} `}${m.reason}`,
      { code: m.code },
    );
  }
  if (state === 'handshaking' && m.type === 'resume') return m;
  if (state === 'streaming' && m.type === 'ack') return m;
  if (state === 'closing' && m.type === 'ack') return undefined;
  throw new RooError(
    ErrorCode.BadMessage,
    `${where} sent a '${m.type}' message while the send was ${state}`,
  );
}

/**
 * Checks a `resume` at `position` after a reconnect (rule 3): it may not ask
 * for messages before `base` (acknowledged, so no longer kept) nor beyond
 * `written` (never sent). Throws ROO_ERR_BAD_MESSAGE otherwise, since
 * guessing would lose or duplicate data.
 */
export function checkResumePosition(
  position: number,
  base: number,
  written: number,
  where: string,
): void {
  if (position < base || position > written) {
    throw new RooError(
      ErrorCode.BadMessage,
      position < base
        ? `${where} asks to resume at message ${position}, but it acknowledged every message before ${base}, which are gone (did it restore an older checkpoint?)`
        : `${where} asks to resume at message ${position}, but only ${written} were sent (another sender with the same --stream-id?)`,
      { position, base, sent: written },
    );
  }
}

/**
 * Checks an `ack` at `position`: the source cannot have committed more
 * messages than were `written`. Throws ROO_ERR_BAD_MESSAGE otherwise.
 */
export function checkAckPosition(position: number, written: number, where: string): void {
  if (position > written) {
    throw new RooError(
      ErrorCode.BadMessage,
      `${where} acknowledged ${position} messages, but only ${written} were sent`,
      { position, sent: written },
    );
  }
}
