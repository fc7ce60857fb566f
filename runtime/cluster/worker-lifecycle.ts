/**
 * A worker's lifecycle, as one pure state machine: every way a worker
 * starts, recovers, joins, runs, reconfigures, leaves and stops (the
 * initializer, a member, a joiner; a worker alone is the initializer of a
 * cluster of one) is a path through these states, and every part of the worker reports what happens
 * to one {@link lifecycleStep} (through lifecycle.ts's executor), which
 * decides what follows. No I/O, no timers: events in, the next state and
 * decisions out, or a typed refusal (ROO_ERR_ILLEGAL_TRANSITION) that leaves
 * the state as it was.
 *
 *   starting --join-begun--> joining --joined--> running
 *   joining, running, reconfiguring, leaving --recovery-begun (a rollback)--> recovering
 *   recovering --restored--> joining (it waits for the cluster to start again)
 *   running --reconfiguration-begun--> reconfiguring --reconfiguration-ended--> running
 *   running --reconfiguration-begun (this worker leaves)--> leaving
 *   any live state --stop / shutdown / leave / fatal--> shutting-down --stopped--> stopped
 *
 * The rules that make it more than a diagram:
 *  1. A stop asked while recovering (a signal during the restore of a
 *     checkpoint) waits until the state is restored: stopping mid-restore
 *     raced the engine being replaced. Every other live state stops at once.
 *  2. A stop before the worker ever ran aborts its start (`abort-start`);
 *     after, it drains and closes (`stop`).
 *  3. `roo shutdown` (the whole cluster, files removed) is taken only while
 *     running: during a recovery, a join or a reconfiguration it is refused,
 *     so it never removes files a restore reads or stops a half-moved
 *     cluster. A member relays it to the initializer, which decides.
 *  4. A leave is obeyed while joining (turned away), running (a rollback to
 *     before it joined) or leaving (a shrink took it out); a leave in the
 *     middle of a reconfiguration this worker stays in, or of a restore, is
 *     refused.
 *  5. `stopped` is final: every event there is refused.
 */
import { ErrorCode, RooError, type ErrorCodeValue } from '../../protocols/index.js';
import type { TransitionTable } from '../../protocols/transition.js';

/** What this worker is, from its flags; fixed for its life (a worker alone is an initializer). */
export type WorkerRole = 'initializer' | 'member' | 'joiner';

/**
 * The states of a worker's life:
 * - `starting`: loading the application, starting threads, opening listeners;
 * - `joining`: forming (initializer), joining (member, joiner) or, after a
 *   rollback restored its state, waiting for the cluster to start again;
 * - `recovering`: restoring a checkpoint (the initializer ordered a
 *   rollback, a restart's included), until its engine holds the state;
 * - `running`: its sources run, no reconfiguration under way;
 * - `reconfiguring`: taking part in a grow, shrink or rebalance it stays in;
 * - `leaving`: a shrink takes it out: it ships its key groups, then leaves;
 * - `shutting-down`: draining and closing;
 * - `stopped`: final.
 */
export type LifecyclePhase =
  | 'starting'
  | 'joining'
  | 'recovering'
  | 'running'
  | 'reconfiguring'
  | 'leaving'
  | 'shutting-down'
  | 'stopped';

/** Every phase, in the order of a worker's life (for tests and docs). */
export const LIFECYCLE_PHASES: readonly LifecyclePhase[] = [
  'starting',
  'joining',
  'recovering',
  'running',
  'reconfiguring',
  'leaving',
  'shutting-down',
  'stopped',
];

/** The moves between phases {@link lifecycleStep} can make (a unit test holds it to them). */
export const LIFECYCLE_MOVES: TransitionTable<LifecyclePhase> = {
  starting: ['starting', 'joining', 'shutting-down'],
  joining: ['joining', 'recovering', 'running', 'shutting-down'],
  recovering: ['recovering', 'joining', 'shutting-down'],
  running: ['running', 'recovering', 'reconfiguring', 'leaving', 'shutting-down'],
  reconfiguring: ['reconfiguring', 'recovering', 'running', 'shutting-down'],
  leaving: ['leaving', 'recovering', 'shutting-down'],
  'shutting-down': ['shutting-down', 'stopped'],
  stopped: [],
};

/** A stop waiting for a restore to finish (rule 1). */
export interface PendingStop {
  readonly reason: string;
  readonly exitCode: number;
}

/** The lifecycle's state. */
export interface LifecycleState {
  readonly phase: LifecyclePhase;
  readonly role: WorkerRole;
  /** True once this worker's sources have run: a stop is then no aborted start (rule 2). */
  readonly formed: boolean;
  /** The checkpoint being (or last) restored; 0 for none. */
  readonly checkpoint: number;
  /** The reconfiguration under way (reconfiguring, leaving); 0 otherwise. */
  readonly reconfiguration: number;
  /** A stop asked while recovering (rule 1). */
  readonly pendingStop: PendingStop | undefined;
  /** Why it stops (shutting-down, stopped); '' before. */
  readonly reason: string;
  /** The exit code it stops with (a fatal error's, else 0). */
  readonly exitCode: number;
}

/** Something that happened to the worker, or that it is asked to do. */
export type LifecycleEvent =
  /** The worker starts forming or joining its cluster. */
  | { readonly kind: 'join-begun' }
  /** The initializer ordered a rollback (a restart found its files, or a member was lost). */
  | { readonly kind: 'recovery-begun'; readonly checkpoint: number }
  /** The initializer gave this worker its place (`assign`). */
  | { readonly kind: 'assigned'; readonly index: number; readonly members: number }
  /** The engine holds the restored checkpoint's state. */
  | { readonly kind: 'restored'; readonly checkpoint: number }
  /** Its sources run and the cluster runs (again, after a rollback). */
  | { readonly kind: 'joined' }
  /** A reconfiguration begins; `leaving`: it takes this worker out. */
  | { readonly kind: 'reconfiguration-begun'; readonly id: number; readonly leaving: boolean }
  /** The reconfiguration is over for this worker. */
  | { readonly kind: 'reconfiguration-ended'; readonly id: number }
  /** The initializer tells this worker to leave the cluster. */
  | { readonly kind: 'leave-ordered'; readonly reason: string }
  /** A signal (SIGINT, SIGTERM): this worker stops and keeps its files. */
  | { readonly kind: 'stop-asked'; readonly reason: string }
  /** `roo shutdown`: the whole cluster stops and removes its files. */
  | { readonly kind: 'shutdown-asked'; readonly reason: string }
  /** The cluster shuts down (the initializer's word, or its own once it told everyone). */
  | { readonly kind: 'shutdown-ordered'; readonly reason: string }
  /** An error the worker cannot go on from. */
  | {
      readonly kind: 'fatal';
      readonly code: ErrorCodeValue;
      readonly message: string;
      readonly exitCode: number;
    }
  /** Everything is closed. */
  | { readonly kind: 'stopped' };

/** What the worker must do. */
export type LifecycleDecision =
  /** Stop before the worker ever ran: abandon the start (nothing to drain). */
  | { readonly kind: 'abort-start'; readonly reason: string; readonly exitCode: number }
  /** Stop the running worker: drain, close, exit with `exitCode`. */
  | { readonly kind: 'stop'; readonly reason: string; readonly exitCode: number }
  /** A stop waits for the restore under way (rule 1). */
  | { readonly kind: 'defer-stop'; readonly reason: string }
  /** A member passes `roo shutdown` on to the initializer, which decides. */
  | { readonly kind: 'relay-shutdown'; readonly reason: string }
  /** The initializer shuts the cluster down: a last checkpoint, then everyone stops. */
  | { readonly kind: 'shut-down'; readonly reason: string }
  /** The process may exit with `code`. */
  | { readonly kind: 'exit'; readonly code: number };

/** The answer of {@link lifecycleStep}: the next state and what to do, or a typed refusal. */
export type LifecycleOutcome =
  | {
      readonly ok: true;
      readonly state: LifecycleState;
      readonly decisions: readonly LifecycleDecision[];
    }
  | { readonly ok: false; readonly state: LifecycleState; readonly error: RooError };

/** A worker of `role` that has just begun. */
export function initialLifecycle(role: WorkerRole): LifecycleState {
  return {
    phase: 'starting',
    role,
    formed: false,
    checkpoint: 0,
    reconfiguration: 0,
    pendingStop: undefined,
    reason: '',
    exitCode: 0,
  };
}

/** The one transition function. */
export function lifecycleStep(state: LifecycleState, event: LifecycleEvent): LifecycleOutcome {
  const { phase } = state;
  if (phase === 'stopped') return refuse(state, event, 'the worker has stopped');
  if (phase === 'shutting-down') return whileStopping(state, event);
  switch (event.kind) {
    case 'join-begun':
      if (phase !== 'starting') return refuse(state, event);
      return ok({ ...state, phase: 'joining' });
    case 'recovery-begun': {
      const from: readonly LifecyclePhase[] = [
        'joining',
        'running',
        'reconfiguring',
        'leaving',
        'recovering',
      ];
      if (!from.includes(phase))
        return refuse(state, event, 'a rollback is ordered only once the worker is in its cluster');
      return ok({
        ...state,
        phase: 'recovering',
        checkpoint: event.checkpoint,
        reconfiguration: 0,
      });
    }
    case 'assigned':
      if (phase !== 'joining' && phase !== 'recovering')
        return refuse(state, event, 'a place is assigned only while joining or recovering');
      return ok(state);
    case 'restored': {
      if (phase !== 'recovering') return refuse(state, event);
      const next: LifecycleState = {
        ...state,
        phase: 'joining',
        checkpoint: event.checkpoint,
        pendingStop: undefined,
      };
      const p = state.pendingStop;
      return p === undefined ? ok(next) : stopping(next, p.reason, p.exitCode);
    }
    case 'joined':
      if (phase !== 'joining') return refuse(state, event);
      return ok({ ...state, phase: 'running', formed: true });
    case 'reconfiguration-begun':
      if (phase !== 'running')
        return refuse(state, event, 'one reconfiguration at a time, and only while running');
      return ok({
        ...state,
        phase: event.leaving ? 'leaving' : 'reconfiguring',
        reconfiguration: event.id,
      });
    case 'reconfiguration-ended':
      if (phase !== 'reconfiguring' || event.id !== state.reconfiguration)
        return refuse(state, event, `the reconfiguration under way is ${state.reconfiguration}`);
      return ok({ ...state, phase: 'running', reconfiguration: 0 });
    case 'leave-ordered':
      if (phase !== 'joining' && phase !== 'running' && phase !== 'leaving')
        return refuse(
          state,
          event,
          phase === 'reconfiguring'
            ? `this worker stays in reconfiguration ${state.reconfiguration}`
            : undefined,
        );
      return stopping(state, event.reason, 0);
    case 'stop-asked':
      if (phase === 'recovering') {
        const pendingStop = state.pendingStop ?? { reason: event.reason, exitCode: 0 };
        return ok({ ...state, pendingStop }, [{ kind: 'defer-stop', reason: event.reason }]);
      }
      return stopping(state, event.reason, 0);
    case 'shutdown-asked':
      if (phase !== 'running')
        return refuse(
          state,
          event,
          'a cluster shuts down only while it runs; ask again once it does, or stop each worker with SIGTERM (it keeps its files)',
        );
      if (state.role === 'member' || state.role === 'joiner')
        return ok(state, [{ kind: 'relay-shutdown', reason: event.reason }]);
      return ok({ ...state, phase: 'shutting-down', reason: event.reason }, [
        { kind: 'shut-down', reason: event.reason },
      ]);
    case 'shutdown-ordered':
      if (phase === 'recovering' || phase === 'starting')
        return refuse(state, event, phase === 'recovering' ? 'a restore is under way' : undefined);
      return stopping(state, event.reason, 0);
    case 'fatal':
      return stopping(state, `${event.code}: ${event.message}`, event.exitCode);
    case 'stopped':
      return refuse(state, event, 'the worker stops only once it is shutting down');
  }
}

/** In `shutting-down`: whatever asks to stop is answered with the stop again (it is idempotent). */
function whileStopping(state: LifecycleState, event: LifecycleEvent): LifecycleOutcome {
  switch (event.kind) {
    case 'stopped':
      return ok({ ...state, phase: 'stopped' }, [{ kind: 'exit', code: state.exitCode }]);
    case 'shutdown-asked':
      // The shutdown is under way: asking again changes nothing.
      return ok(state);
    case 'fatal': {
      const next = { ...state, exitCode: state.exitCode === 0 ? event.exitCode : state.exitCode };
      return ok(next, [stopDecision(next)]);
    }
    case 'stop-asked':
    case 'shutdown-ordered':
    case 'leave-ordered':
    // A start that was under way when the stop came has finished: stop what it started.
    case 'joined':
    case 'restored':
      return ok(state, [stopDecision(state)]);
    default:
      return refuse(state, event, `the worker is shutting down (${state.reason})`);
  }
}

/** Moves to `shutting-down` with `reason`, deciding how to stop (rule 2). */
function stopping(state: LifecycleState, reason: string, exitCode: number): LifecycleOutcome {
  const next: LifecycleState = {
    ...state,
    phase: 'shutting-down',
    reason,
    exitCode,
    pendingStop: undefined,
  };
  return ok(next, [stopDecision(next)]);
}

/** How a worker in `state` stops: it aborts its start if it never ran. */
function stopDecision(state: LifecycleState): LifecycleDecision {
  return state.formed
    ? { kind: 'stop', reason: state.reason, exitCode: state.exitCode }
    : { kind: 'abort-start', reason: state.reason, exitCode: state.exitCode };
}

function ok(state: LifecycleState, decisions: readonly LifecycleDecision[] = []): LifecycleOutcome {
  return { ok: true, state, decisions };
}

function refuse(state: LifecycleState, event: LifecycleEvent, why?: string): LifecycleOutcome {
  const what = `${state.role} worker is ${describePhase(state)}`;
  return {
    ok: false,
    state,
    error: new RooError(
      ErrorCode.IllegalTransition,
      `refused '${event.kind}': this ${what}${why === undefined ? '' : `; ${why}`}`,
      { phase: state.phase, role: state.role, event: event.kind },
    ),
  };
}

/** The phase in words, with what it is about (for logs and `roo status`). */
export function describePhase(state: LifecycleState): string {
  switch (state.phase) {
    case 'recovering':
      return `recovering (checkpoint ${state.checkpoint})`;
    case 'reconfiguring':
    case 'leaving':
      return `${state.phase} (reconfiguration ${state.reconfiguration})`;
    case 'shutting-down':
      return `shutting down (${state.reason})`;
    default:
      return state.phase;
  }
}
