/**
 * The worker's lifecycle (runtime/cluster/worker-lifecycle.ts): each real
 * path through it (a worker alone as a cluster of one, a restart recovering,
 * initializer, member, joiner,
 * rollback, grow, shrink), its five rules, and a property over any sequence
 * of events.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  describePhase,
  initialLifecycle,
  LIFECYCLE_MOVES,
  LIFECYCLE_PHASES,
  lifecycleStep,
  type LifecycleDecision,
  type LifecycleEvent,
  type LifecycleState,
  type WorkerRole,
} from '../../../runtime/cluster/worker-lifecycle.js';

/** Applies `events` in order, each of which must be taken; the final state and every decision. */
function take(state: LifecycleState, events: readonly LifecycleEvent[]) {
  const decisions: LifecycleDecision[] = [];
  for (const e of events) {
    const r = lifecycleStep(state, e);
    if (!r.ok) throw new Error(`'${e.kind}' refused in ${state.phase}: ${r.error.message}`);
    state = r.state;
    decisions.push(...r.decisions);
  }
  return { state, decisions };
}

/** The refusal of `event` in `state`, checked typed and changing nothing. */
function refusal(state: LifecycleState, event: LifecycleEvent): RooError {
  const r = lifecycleStep(state, event);
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(r.state).toBe(state);
  expect(r.error).toBeInstanceOf(RooError);
  expect(r.error.code).toBe(ErrorCode.IllegalTransition);
  return r.error;
}

const joinedCluster = (role: WorkerRole) =>
  take(initialLifecycle(role), [
    { kind: 'join-begun' },
    { kind: 'assigned', index: 1, members: 2 },
    { kind: 'joined' },
  ]).state;

/** A worker alone: the initializer of a cluster of one, running. */
const aloneRunning = () =>
  take(initialLifecycle('initializer'), [
    { kind: 'join-begun' },
    { kind: 'assigned', index: 0, members: 1 },
    { kind: 'joined' },
  ]).state;

describe('the paths through the lifecycle', () => {
  it('a worker alone (a cluster of one): joining, running, a signal, stopped with exit 0', () => {
    const { state, decisions } = take(aloneRunning(), [
      { kind: 'stop-asked', reason: 'SIGTERM' },
      { kind: 'stopped' },
    ]);
    expect(state.phase).toBe('stopped');
    expect(decisions).toEqual([
      { kind: 'stop', reason: 'SIGTERM', exitCode: 0 },
      { kind: 'exit', code: 0 },
    ]);
  });

  it('a worker alone restarted with files: recovering, then joining its cluster of one, then running', () => {
    const s = take(initialLifecycle('initializer'), [
      { kind: 'join-begun' },
      { kind: 'recovery-begun', checkpoint: 7 },
    ]).state;
    expect(s.phase).toBe('recovering');
    expect(describePhase(s)).toBe('recovering (checkpoint 7)');
    const r = take(s, [{ kind: 'restored', checkpoint: 7 }]).state;
    expect(r).toMatchObject({ phase: 'joining', formed: false, checkpoint: 7 });
    expect(take(r, [{ kind: 'joined' }]).state).toMatchObject({ phase: 'running', formed: true });
  });

  it('the initializer and a member: joining, assigned, running', () => {
    for (const role of ['initializer', 'member', 'joiner'] as const) {
      const s = take(initialLifecycle(role), [{ kind: 'join-begun' }]).state;
      expect(s.phase).toBe('joining');
      const a = take(s, [{ kind: 'assigned', index: 0, members: 1 }]).state;
      expect(a.phase).toBe('joining');
      expect(take(a, [{ kind: 'joined' }]).state).toMatchObject({ phase: 'running', formed: true });
    }
  });

  it('a rollback: recovering until restored, then joining until the cluster starts again', () => {
    const s = take(joinedCluster('member'), [
      { kind: 'recovery-begun', checkpoint: 4 },
      { kind: 'assigned', index: 1, members: 2 },
    ]).state;
    expect(s.phase).toBe('recovering');
    const r = take(s, [{ kind: 'restored', checkpoint: 4 }]).state;
    expect(r.phase).toBe('joining');
    expect(take(r, [{ kind: 'joined' }]).state.phase).toBe('running');
  });

  it('a restarted member rolls back before it ever ran', () => {
    const s = take(initialLifecycle('member'), [
      { kind: 'join-begun' },
      { kind: 'recovery-begun', checkpoint: 3 },
      { kind: 'assigned', index: 1, members: 2 },
      { kind: 'restored', checkpoint: 3 },
      { kind: 'joined' },
    ]).state;
    expect(s).toMatchObject({ phase: 'running', formed: true, checkpoint: 3 });
  });

  it('a reconfiguration it stays in: reconfiguring, then running', () => {
    const s = take(joinedCluster('member'), [
      { kind: 'reconfiguration-begun', id: 5, leaving: false },
    ]).state;
    expect(describePhase(s)).toBe('reconfiguring (reconfiguration 5)');
    expect(take(s, [{ kind: 'reconfiguration-ended', id: 5 }]).state.phase).toBe('running');
  });

  it('a shrink that takes it out: leaving, then a leave stops it with exit 0', () => {
    const s = take(joinedCluster('member'), [
      { kind: 'reconfiguration-begun', id: 2, leaving: true },
    ]).state;
    expect(s.phase).toBe('leaving');
    const { state, decisions } = take(s, [{ kind: 'leave-ordered', reason: 'shrink' }]);
    expect(state.phase).toBe('shutting-down');
    expect(decisions).toEqual([{ kind: 'stop', reason: 'shrink', exitCode: 0 }]);
  });

  it('a joiner turned away aborts its start', () => {
    const s = take(initialLifecycle('joiner'), [{ kind: 'join-begun' }]).state;
    const { decisions } = take(s, [{ kind: 'leave-ordered', reason: 'not running yet' }]);
    expect(decisions).toEqual([{ kind: 'abort-start', reason: 'not running yet', exitCode: 0 }]);
  });

  it('roo shutdown: a member relays it, the initializer and a worker alone shut down', () => {
    const m = take(joinedCluster('member'), [{ kind: 'shutdown-asked', reason: 'external' }]);
    expect(m.state.phase).toBe('running');
    expect(m.decisions).toEqual([{ kind: 'relay-shutdown', reason: 'external' }]);
    for (const s of [joinedCluster('initializer'), aloneRunning()]) {
      const r = take(s, [
        { kind: 'shutdown-asked', reason: 'external' },
        { kind: 'shutdown-ordered', reason: 'external' },
        { kind: 'stopped' },
      ]);
      expect(r.decisions).toEqual([
        { kind: 'shut-down', reason: 'external' },
        { kind: 'stop', reason: 'external', exitCode: 0 },
        { kind: 'exit', code: 0 },
      ]);
    }
  });

  it('a fatal error stops with its exit code; a later one does not replace it', () => {
    const { state, decisions } = take(joinedCluster('member'), [
      { kind: 'fatal', code: ErrorCode.WorkerLost, message: 'dropped', exitCode: 1 },
      { kind: 'fatal', code: ErrorCode.Internal, message: 'again', exitCode: 2 },
      { kind: 'stopped' },
    ]);
    expect(state.exitCode).toBe(1);
    expect(decisions.at(-1)).toEqual({ kind: 'exit', code: 1 });
  });
});

describe('rule 1: a stop during a restore waits for it', () => {
  it('defers the stop, then stops once restored (a rollback of a running cluster: it had run; a restart: it had not)', () => {
    const rolledBack = take(aloneRunning(), [
      { kind: 'recovery-begun', checkpoint: 2 },
      { kind: 'stop-asked', reason: 'SIGINT' },
    ]);
    expect(rolledBack.state).toMatchObject({
      phase: 'recovering',
      pendingStop: { reason: 'SIGINT' },
    });
    expect(rolledBack.decisions).toEqual([{ kind: 'defer-stop', reason: 'SIGINT' }]);
    expect(take(rolledBack.state, [{ kind: 'restored', checkpoint: 2 }]).decisions).toEqual([
      { kind: 'stop', reason: 'SIGINT', exitCode: 0 },
    ]);
    const restarted = take(initialLifecycle('member'), [
      { kind: 'join-begun' },
      { kind: 'recovery-begun', checkpoint: 2 },
      { kind: 'stop-asked', reason: 'SIGTERM' },
      { kind: 'stop-asked', reason: 'SIGINT' },
      { kind: 'restored', checkpoint: 2 },
    ]);
    // It never ran: the stop aborts its start; the first reason is kept.
    expect(restarted.decisions.at(-1)).toEqual({
      kind: 'abort-start',
      reason: 'SIGTERM',
      exitCode: 0,
    });
  });

  it('a fatal error during a restore stops at once', () => {
    const s = take(joinedCluster('member'), [{ kind: 'recovery-begun', checkpoint: 1 }]).state;
    const r = take(s, [
      { kind: 'fatal', code: ErrorCode.SnapshotCorrupt, message: 'x', exitCode: 2 },
    ]);
    expect(r.state.phase).toBe('shutting-down');
  });
});

describe('rule 2: a stop before the worker ran aborts its start', () => {
  it('starting and joining abort; running stops', () => {
    expect(
      take(initialLifecycle('member'), [{ kind: 'stop-asked', reason: 'SIGINT' }]).decisions,
    ).toEqual([{ kind: 'abort-start', reason: 'SIGINT', exitCode: 0 }]);
    const joining = take(initialLifecycle('member'), [{ kind: 'join-begun' }]).state;
    expect(take(joining, [{ kind: 'stop-asked', reason: 'x' }]).decisions[0]?.kind).toBe(
      'abort-start',
    );
    expect(take(joinedCluster('member'), [{ kind: 'stop-asked', reason: 'x' }]).decisions).toEqual([
      { kind: 'stop', reason: 'x', exitCode: 0 },
    ]);
  });

  it('a start that finishes after the stop is stopped too', () => {
    const joining = take(initialLifecycle('initializer'), [{ kind: 'join-begun' }]).state;
    const s = take(joining, [{ kind: 'stop-asked', reason: 'SIGTERM' }]).state;
    expect(take(s, [{ kind: 'joined' }]).decisions).toEqual([
      { kind: 'abort-start', reason: 'SIGTERM', exitCode: 0 },
    ]);
    // A cluster role stopped before it began to join does not begin.
    const m = take(initialLifecycle('member'), [{ kind: 'stop-asked', reason: 'SIGTERM' }]).state;
    expect(refusal(m, { kind: 'join-begun' }).message).toMatch(/shutting down \(SIGTERM\)/);
  });
});

describe('rule 3: roo shutdown only while running', () => {
  it('is refused while recovering, joining, reconfiguring or leaving', () => {
    const running = joinedCluster('initializer');
    const cases: LifecycleState[] = [
      take(running, [{ kind: 'recovery-begun', checkpoint: 9 }]).state,
      take(initialLifecycle('initializer'), [{ kind: 'join-begun' }]).state,
      take(running, [{ kind: 'reconfiguration-begun', id: 1, leaving: false }]).state,
      take(joinedCluster('member'), [{ kind: 'reconfiguration-begun', id: 1, leaving: true }])
        .state,
    ];
    for (const s of cases) {
      const e = refusal(s, { kind: 'shutdown-asked', reason: 'external' });
      expect(e.message).toContain(`is ${describePhase(s)}`);
      expect(e.details).toMatchObject({ phase: s.phase, event: 'shutdown-asked' });
    }
  });

  it('asked again while shutting down changes nothing', () => {
    const s = take(aloneRunning(), [{ kind: 'shutdown-asked', reason: 'a' }]).state;
    const r = lifecycleStep(s, { kind: 'shutdown-asked', reason: 'b' });
    expect(r).toEqual({ ok: true, state: s, decisions: [] });
  });
});

describe('rule 4: when a leave is obeyed', () => {
  it('is refused during a reconfiguration this worker stays in, and during a restore', () => {
    const running = joinedCluster('member');
    const reconfiguring = take(running, [
      { kind: 'reconfiguration-begun', id: 3, leaving: false },
    ]).state;
    expect(refusal(reconfiguring, { kind: 'leave-ordered', reason: 'x' }).message).toMatch(
      /stays in reconfiguration 3/,
    );
    const recovering = take(running, [{ kind: 'recovery-begun', checkpoint: 1 }]).state;
    refusal(recovering, { kind: 'leave-ordered', reason: 'x' });
  });

  it('is obeyed while running (a rollback to before it joined)', () => {
    expect(
      take(joinedCluster('joiner'), [{ kind: 'leave-ordered', reason: 'rolled back' }]).decisions,
    ).toEqual([{ kind: 'stop', reason: 'rolled back', exitCode: 0 }]);
  });
});

describe('illegal moves of each role', () => {
  it('no role runs, is assigned or recovers before it begins to join', () => {
    for (const role of ['initializer', 'member', 'joiner'] as const) {
      const s = initialLifecycle(role);
      refusal(s, { kind: 'joined' });
      refusal(s, { kind: 'assigned', index: 0, members: 1 });
      refusal(s, { kind: 'recovery-begun', checkpoint: 1 });
      refusal(s, { kind: 'restored', checkpoint: 1 });
    }
    refusal(aloneRunning(), { kind: 'join-begun' });
  });

  it('a member refuses a cluster shutdown before it began', () => {
    const s = initialLifecycle('member');
    refusal(s, { kind: 'shutdown-ordered', reason: 'x' });
  });

  it('one reconfiguration at a time, ended by its own id', () => {
    const s = take(joinedCluster('member'), [
      { kind: 'reconfiguration-begun', id: 1, leaving: false },
    ]).state;
    refusal(s, { kind: 'reconfiguration-begun', id: 2, leaving: false });
    refusal(s, { kind: 'reconfiguration-ended', id: 2 });
    refusal(joinedCluster('member'), { kind: 'reconfiguration-ended', id: 1 });
    refusal(joinedCluster('member'), { kind: 'assigned', index: 0, members: 1 });
    refusal(joinedCluster('member'), { kind: 'stopped' });
  });
});

// ---------------------------------------------------------------------------
// Any sequence of events.

const roleArb = fc.constantFrom<WorkerRole>('initializer', 'member', 'joiner');
const eventArb: fc.Arbitrary<LifecycleEvent> = fc.oneof(
  fc.constant<LifecycleEvent>({ kind: 'join-begun' }),
  fc.nat(5).map((checkpoint): LifecycleEvent => ({ kind: 'recovery-begun', checkpoint })),
  fc.constant<LifecycleEvent>({ kind: 'assigned', index: 0, members: 2 }),
  fc.nat(5).map((checkpoint): LifecycleEvent => ({ kind: 'restored', checkpoint })),
  fc.constant<LifecycleEvent>({ kind: 'joined' }),
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.boolean())
    .map(([id, leaving]): LifecycleEvent => ({ kind: 'reconfiguration-begun', id, leaving })),
  fc
    .integer({ min: 1, max: 3 })
    .map((id): LifecycleEvent => ({ kind: 'reconfiguration-ended', id })),
  fc.constant<LifecycleEvent>({ kind: 'leave-ordered', reason: 'leave' }),
  fc.constant<LifecycleEvent>({ kind: 'stop-asked', reason: 'SIGTERM' }),
  fc.constant<LifecycleEvent>({ kind: 'shutdown-asked', reason: 'external' }),
  fc.constant<LifecycleEvent>({ kind: 'shutdown-ordered', reason: 'cluster' }),
  fc.integer({ min: 1, max: 2 }).map((exitCode): LifecycleEvent => ({
    kind: 'fatal',
    code: ErrorCode.Internal,
    message: 'boom',
    exitCode,
  })),
  fc.constant<LifecycleEvent>({ kind: 'stopped' }),
);

describe('any sequence of events', () => {
  it('keeps a defined phase, moves only as the table says, refuses only with a typed error, and stopped is final', () => {
    fc.assert(
      fc.property(roleArb, fc.array(eventArb, { maxLength: 40 }), (role, events) => {
        let state = initialLifecycle(role);
        let stoppedAt: LifecycleState | undefined;
        for (const event of events) {
          const r = lifecycleStep(state, event);
          expect(LIFECYCLE_PHASES).toContain(r.state.phase);
          expect(r.state.role).toBe(role);
          if (!r.ok) {
            expect(r.error).toBeInstanceOf(RooError);
            expect(r.error.code).toBe(ErrorCode.IllegalTransition);
            expect(r.error.message).toMatch(new RegExp(`^refused '${event.kind}'`));
            expect(r.state).toBe(state);
          } else {
            expect(LIFECYCLE_MOVES[state.phase]).toContain(r.state.phase);
            // An exit is decided exactly when the worker stops.
            const exits = r.decisions.filter((d) => d.kind === 'exit');
            expect(exits.length).toBe(
              r.state.phase === 'stopped' && state.phase !== 'stopped' ? 1 : 0,
            );
          }
          if (stoppedAt !== undefined) {
            expect(r.ok).toBe(false);
            expect(r.state).toBe(stoppedAt);
          }
          state = r.state;
          if (state.phase === 'stopped') stoppedAt ??= state;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('once shutting down, only stopping is left', () => {
    fc.assert(
      fc.property(roleArb, fc.array(eventArb, { maxLength: 30 }), (role, events) => {
        let state = take(initialLifecycle(role), [{ kind: 'stop-asked', reason: 'SIGTERM' }]).state;
        for (const event of events) {
          state = lifecycleStep(state, event).state;
          expect(['shutting-down', 'stopped']).toContain(state.phase);
        }
      }),
    );
  });

  it('a stop asked in any live state is taken: at once, or (recovering) once restored', () => {
    fc.assert(
      fc.property(roleArb, fc.array(eventArb, { maxLength: 30 }), (role, events) => {
        let state = initialLifecycle(role);
        for (const event of events) state = lifecycleStep(state, event).state;
        if (state.phase === 'stopped') return;
        const r = lifecycleStep(state, { kind: 'stop-asked', reason: 'SIGTERM' });
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const kinds = r.decisions.map((d) => d.kind);
        if (state.phase === 'recovering') {
          expect(kinds).toEqual(['defer-stop']);
          const after = lifecycleStep(r.state, { kind: 'restored', checkpoint: 0 });
          expect(after.ok && after.state.phase).toBe('shutting-down');
        } else {
          expect(r.state.phase).toBe('shutting-down');
          expect(kinds).toHaveLength(1);
          expect(['stop', 'abort-start']).toContain(kinds[0]);
        }
      }),
    );
  });
});
