/**
 * The checkpoint coordinator's decisions, as a pure state machine over
 * observed facts (docs/resilience.md). The executor around it owns
 * the timer, the control channel and the files; this file only decides.
 *
 *   idle --(interval elapsed)--> in flight k --(every worker acked k)--> idle
 *                                     |  (commit k, delete older)
 *                                     +--(a worker lost / timeout)--> idle (abort k)
 *
 * Rules, each with a unit test:
 *  1. At most one checkpoint is in flight; the next starts at the first tick
 *     at least `intervalMs` after the previous one started (after an abort:
 *     a full interval after the abort).
 *  2. Checkpoint ids increase strictly, also across aborts (an aborted id is
 *     never reused, so a late ack for it cannot be mistaken).
 *  3. k commits only when every member of the cluster, as it was when k
 *     started, has acked k; then older checkpoints may be deleted.
 *  4. A checkpoint that cannot finish (a member lost, or no ack within
 *     `timeoutMs`) is aborted, never half-committed.
 *  5. Acks for another checkpoint, from unknown workers, or repeated, change
 *     nothing.
 *  6. A worker that could not take its part (`failed`) still answers: k is
 *     aborted once every worker has answered, so that no barrier of k is
 *     still travelling when k+1 starts (the epoch bit relies on it).
 */

/** Settings of the coordinator. */
export interface CheckpointSettings {
  /** Time between checkpoint starts (`--time-between-checkpoints`, in ms here). */
  readonly intervalMs: number;
  /** Longest a checkpoint may stay in flight before it is aborted. */
  readonly timeoutMs: number;
}

/** The coordinator's state. */
export interface CheckpointState {
  readonly settings: CheckpointSettings;
  /** Workers of the cluster now. */
  readonly workers: readonly string[];
  /** Last committed checkpoint id (0: none yet). */
  readonly committed: number;
  /** Last id handed out (committed, aborted or in flight). */
  readonly lastId: number;
  /** When the last checkpoint started, or the coordinator began (ms). */
  readonly lastStartMs: number;
  readonly inFlight:
    | {
        readonly id: number;
        readonly startedMs: number;
        /** Workers that must ack: the members when it started. */
        readonly expected: readonly string[];
        readonly acked: ReadonlySet<string>;
        /** Workers that answered that they could not take their part. */
        readonly failed?: ReadonlySet<string>;
      }
    | undefined;
}

/** A fact the coordinator observes. */
export type CheckpointEvent =
  | { readonly kind: 'tick'; readonly nowMs: number }
  | { readonly kind: 'ack'; readonly worker: string; readonly checkpointId: number }
  | { readonly kind: 'failed'; readonly worker: string; readonly checkpointId: number }
  | { readonly kind: 'lost'; readonly worker: string }
  | { readonly kind: 'joined'; readonly worker: string };

/** What the executor must do. */
export type CheckpointDecision =
  | { readonly kind: 'start'; readonly checkpointId: number }
  | { readonly kind: 'commit'; readonly checkpointId: number }
  | { readonly kind: 'delete-before'; readonly checkpointId: number }
  | { readonly kind: 'abort'; readonly checkpointId: number; readonly reason: string };

/** The first state: nothing committed, the clock started at `nowMs`. */
export function initialCheckpointState(
  settings: CheckpointSettings,
  workers: readonly string[],
  nowMs: number,
  committed = 0,
): CheckpointState {
  return {
    settings,
    workers: [...workers],
    committed,
    lastId: committed,
    lastStartMs: nowMs,
    inFlight: undefined,
  };
}

type Result = { state: CheckpointState; decisions: CheckpointDecision[] };

/** The one transition function. */
export function checkpointStep(state: CheckpointState, event: CheckpointEvent): Result {
  switch (event.kind) {
    case 'tick':
      return onTick(state, event.nowMs);
    case 'ack':
      return onAck(state, event.worker, event.checkpointId, false);
    case 'failed':
      return onAck(state, event.worker, event.checkpointId, true);
    case 'lost':
      return onLost(state, event.worker);
    case 'joined':
      return state.workers.includes(event.worker)
        ? { state, decisions: [] }
        : { state: { ...state, workers: [...state.workers, event.worker] }, decisions: [] };
  }
}

function onTick(state: CheckpointState, nowMs: number): Result {
  const f = state.inFlight;
  if (f !== undefined) {
    if (nowMs - f.startedMs < state.settings.timeoutMs) return { state, decisions: [] };
    const missing = f.expected.filter((w) => !f.acked.has(w));
    return abort(
      state,
      nowMs,
      `no ack from ${missing.join(', ')} within ${state.settings.timeoutMs} ms`,
    );
  }
  if (state.workers.length === 0 || nowMs - state.lastStartMs < state.settings.intervalMs) {
    return { state, decisions: [] };
  }
  const id = state.lastId + 1;
  return {
    state: {
      ...state,
      lastId: id,
      lastStartMs: nowMs,
      inFlight: { id, startedMs: nowMs, expected: [...state.workers], acked: new Set() },
    },
    decisions: [{ kind: 'start', checkpointId: id }],
  };
}

function onAck(
  state: CheckpointState,
  worker: string,
  checkpointId: number,
  failure: boolean,
): Result {
  const f = state.inFlight;
  if (
    f === undefined ||
    f.id !== checkpointId ||
    !f.expected.includes(worker) ||
    f.acked.has(worker)
  ) {
    return { state, decisions: [] };
  }
  const acked = new Set(f.acked).add(worker);
  const failed = failure ? new Set(f.failed).add(worker) : f.failed;
  if (acked.size < f.expected.length) {
    return {
      state: { ...state, inFlight: { ...f, acked, ...(failed === undefined ? {} : { failed }) } },
      decisions: [],
    };
  }
  if (failed !== undefined && failed.size > 0) {
    return abort(
      state,
      f.startedMs,
      `worker(s) ${[...failed].join(', ')} could not take their part`,
    );
  }
  return {
    state: { ...state, committed: f.id, inFlight: undefined },
    decisions: [
      { kind: 'commit', checkpointId: f.id },
      { kind: 'delete-before', checkpointId: f.id },
    ],
  };
}

function onLost(state: CheckpointState, worker: string): Result {
  const workers = state.workers.filter((w) => w !== worker);
  const after = { ...state, workers };
  const f = state.inFlight;
  if (f === undefined || !f.expected.includes(worker) || f.acked.has(worker)) {
    // An acked worker's snapshot is on disk already; k can still commit.
    return { state: after, decisions: [] };
  }
  return abort(after, f.startedMs, `worker '${worker}' was lost before it acked`);
}

function abort(state: CheckpointState, nowMs: number, reason: string): Result {
  const f = state.inFlight;
  if (f === undefined) return { state, decisions: [] };
  return {
    // The next checkpoint waits a full interval from here.
    state: { ...state, inFlight: undefined, lastStartMs: Math.max(state.lastStartMs, nowMs) },
    decisions: [{ kind: 'abort', checkpointId: f.id, reason }],
  };
}
