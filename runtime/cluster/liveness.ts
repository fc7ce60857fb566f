/**
 * Is the other end of a control connection lost? A pure decision over
 * timestamps (docs/cluster.md, "When a worker is lost"); heartbeat.ts owns
 * the timer that asks it and the sockets.
 *
 * Both ends send a heartbeat every interval, and any byte from the peer
 * counts as a sign of life (a big message still arriving is not silence).
 * The peer is lost once it has been silent for longer than the heartbeat
 * timeout, or three of its own intervals if those are longer (a peer
 * configured with a slower beat is not blamed for it).
 *
 * The clock that measures silence must have been running: if this process
 * itself did not run for a while (SIGSTOP, a suspended machine, a long
 * stall of its event loop), the peer's silence over that time is no
 * evidence, since its heartbeats may be sitting unread in the socket. So a
 * check that comes much later than it should says `stalled`, and the
 * window starts again.
 */

/** Default heartbeat timeout (`--heartbeat-timeout`), ms. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5_000;

/** Shortest and longest heartbeat timeouts accepted, ms. */
export const MIN_HEARTBEAT_TIMEOUT_MS = 100;
export const MAX_HEARTBEAT_TIMEOUT_MS = 3_600_000;

/** Longest interval between heartbeats, ms, however long the timeout. */
const MAX_INTERVAL_MS = 1_000;

/** How often an end sends its heartbeat (and checks its peer) for a given timeout: a fifth of it, at most 1 s. */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(1, Math.min(MAX_INTERVAL_MS, Math.floor(timeoutMs / 5)));
}

/** What an end knows of its peer. */
export interface PeerClock {
  /** When a byte last came from the peer (monotonic ms), or when watching began. */
  readonly lastHeardMs: number;
  /** When this end last checked (monotonic ms), or when watching began. */
  readonly lastCheckMs: number;
  /** The peer's own heartbeat interval, once a heartbeat has told it. */
  readonly peerIntervalMs: number | undefined;
}

/** The verdict on a peer. */
export type Liveness =
  | { readonly kind: 'alive' }
  /** Silent for `silentMs`, over `timeoutMs` (the timeout that applied). */
  | { readonly kind: 'lost'; readonly silentMs: number; readonly timeoutMs: number }
  /** This end did not run for `stalledMs`: start the window again, blame no one. */
  | { readonly kind: 'stalled'; readonly stalledMs: number };

/**
 * Judges the peer at `nowMs`, this end's heartbeat timeout being
 * `timeoutMs`. A check later than half the timeout after the previous one
 * means this end was stalled (checks come every fifth of it).
 */
export function judgePeer(clock: PeerClock, nowMs: number, timeoutMs: number): Liveness {
  const sinceCheck = nowMs - clock.lastCheckMs;
  if (sinceCheck > timeoutMs / 2) return { kind: 'stalled', stalledMs: sinceCheck };
  const limit = Math.max(timeoutMs, 3 * (clock.peerIntervalMs ?? 0));
  const silentMs = nowMs - clock.lastHeardMs;
  return silentMs > limit ? { kind: 'lost', silentMs, timeoutMs: limit } : { kind: 'alive' };
}
