/**
 * The metrics reporter's connection as a state machine (docs/metrics.md):
 *
 *   idle --start--> connecting --connected--> connected
 *   connecting --failed--> backoff --retry--> connecting
 *   connected --failed--> backoff
 *   any --close--> closed
 *
 * Pure: `reporterStep` takes the state and what happened and returns the
 * next state and what the executor (reporter.ts) must do. An event that
 * does not belong in the current state changes nothing; one that hands over
 * a socket the machine no longer wants (a connection completing after
 * `close`) gets it destroyed.
 *
 * The rules that keep a worker safe from its receiver:
 *  - a report is written only while connected, and only if the socket's
 *    unsent bytes plus the report stay within the send buffer's limit;
 *    otherwise it is dropped and counted, never queued (`admit`);
 *  - a lost or refused connection is retried after a backoff that doubles
 *    from RETRY_MIN_MS to RETRY_MAX_MS (`retryDelayMs`); reports due
 *    meanwhile are skipped and counted;
 *  - each connection starts with a hello, then reports numbered from 0.
 */

/** Phases of the reporter's connection. */
export type ReporterPhase = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

/** The reporter's state. */
export interface ReporterState {
  readonly phase: ReporterPhase;
  /** Failed attempts since the last connection that succeeded. */
  readonly attempts: number;
  /** The next report's sequence number on this connection. */
  readonly seq: number;
  /** Reports written. */
  readonly sent: number;
  /** Reports dropped because the send buffer was full (a receiver that does not read). */
  readonly dropped: number;
  /** Reports not sent because no connection was up. */
  readonly skipped: number;
}

/** What happened. */
export type ReporterEvent =
  | { readonly kind: 'start' }
  | { readonly kind: 'connected' }
  | { readonly kind: 'failed' }
  | { readonly kind: 'retry' }
  /** A report is due: `buffered` bytes wait unsent in the socket, the report takes `bytes`. */
  | { readonly kind: 'report'; readonly buffered: number; readonly bytes: number }
  | { readonly kind: 'close' };

/** What the executor does. */
export type ReporterAction =
  | { readonly kind: 'connect' }
  /** Write the hello (a new connection). */
  | { readonly kind: 'hello' }
  /** Write the report as number `seq`. */
  | { readonly kind: 'send'; readonly seq: number }
  /** Wait `ms`, then feed `retry`. */
  | { readonly kind: 'wait'; readonly ms: number }
  /** Drop the socket (a connection that failed, or any socket after `close`). */
  | { readonly kind: 'destroy' }
  /** The report was not written: `reason` for the log. */
  | { readonly kind: 'drop'; readonly reason: 'buffer-full' | 'not-connected' };

/** First retry after this long, ms. */
export const RETRY_MIN_MS = 100;
/** Retries at most this far apart, ms. */
export const RETRY_MAX_MS = 5_000;
/** Unsent bytes a reporter's socket may hold (a few hundred reports of a small plan). */
export const SEND_BUFFER_BYTES = 1024 * 1024;

/** The state before `start`. */
export const INITIAL_REPORTER_STATE: ReporterState = {
  phase: 'idle',
  attempts: 0,
  seq: 0,
  sent: 0,
  dropped: 0,
  skipped: 0,
};

/** How long to wait before attempt `attempts + 1`: doubling from RETRY_MIN_MS, at most RETRY_MAX_MS. */
export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(Math.max(0, attempts), 16));
}

/** Whether a report of `bytes` may be written onto `buffered` unsent bytes within `limit`. */
export function admit(buffered: number, bytes: number, limit = SEND_BUFFER_BYTES): boolean {
  return buffered + bytes <= limit;
}

/** The one transition function. */
export function reporterStep(
  state: ReporterState,
  event: ReporterEvent,
  limit = SEND_BUFFER_BYTES,
): { readonly state: ReporterState; readonly actions: readonly ReporterAction[] } {
  const same = { state, actions: [] as ReporterAction[] };
  if (event.kind === 'close') {
    if (state.phase === 'closed') return same;
    return { state: { ...state, phase: 'closed' }, actions: [{ kind: 'destroy' }] };
  }
  switch (state.phase) {
    case 'idle':
      return event.kind === 'start'
        ? { state: { ...state, phase: 'connecting' }, actions: [{ kind: 'connect' }] }
        : skipReport(state, event);
    case 'connecting':
      if (event.kind === 'connected')
        return {
          state: { ...state, phase: 'connected', attempts: 0, seq: 0 },
          actions: [{ kind: 'hello' }],
        };
      if (event.kind === 'failed') return backoff(state);
      return skipReport(state, event);
    case 'connected':
      if (event.kind === 'failed') return backoff(state);
      if (event.kind === 'report') {
        if (!admit(event.buffered, event.bytes, limit))
          return {
            state: { ...state, dropped: state.dropped + 1 },
            actions: [{ kind: 'drop', reason: 'buffer-full' }],
          };
        return {
          state: { ...state, seq: state.seq + 1, sent: state.sent + 1 },
          actions: [{ kind: 'send', seq: state.seq }],
        };
      }
      return same;
    case 'backoff':
      if (event.kind === 'retry')
        return { state: { ...state, phase: 'connecting' }, actions: [{ kind: 'connect' }] };
      return skipReport(state, event);
    case 'closed':
      // A connection that completes after close is not wanted.
      return event.kind === 'connected' ? { state, actions: [{ kind: 'destroy' }] } : same;
  }
}

function backoff(state: ReporterState): {
  readonly state: ReporterState;
  readonly actions: readonly ReporterAction[];
} {
  return {
    state: { ...state, phase: 'backoff', attempts: state.attempts + 1 },
    actions: [{ kind: 'destroy' }, { kind: 'wait', ms: retryDelayMs(state.attempts) }],
  };
}

/** A report due while not connected is skipped (counted); any other event changes nothing. */
function skipReport(
  state: ReporterState,
  event: ReporterEvent,
): { readonly state: ReporterState; readonly actions: readonly ReporterAction[] } {
  if (event.kind !== 'report') return { state, actions: [] };
  return {
    state: { ...state, skipped: state.skipped + 1 },
    actions: [{ kind: 'drop', reason: 'not-connected' }],
  };
}
