import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import {
  initialState,
  type CoordinatorEvent,
  type CoordinatorState,
  type Decision,
} from '../../../runtime/cluster/coordinator.js';
import { hello, kinds, run } from './coordinator-helpers.js';

const phases = (names: string[], kind: 'spawned' | 'wired' | 'ready'): CoordinatorEvent[] =>
  names.map((name) =>
    kind === 'spawned' ? { kind, name, directory: { of: name } } : { kind, name },
  );

/** A resilient two-worker cluster, running. */
function running(): CoordinatorState {
  return run(initialState(2, 'wc', 'h1', {}), [
    { kind: 'hello', connection: 0, hello: hello('init') },
    { kind: 'hello', connection: 1, hello: hello('w2') },
    ...phases(['init', 'w2'], 'spawned'),
    ...phases(['init', 'w2'], 'wired'),
    ...phases(['init', 'w2'], 'ready'),
  ]).state;
}

describe('start-up coordinator with resilience', () => {
  it('rolls the whole cluster back when a lost worker says hello again', () => {
    const r = run(running(), [
      { kind: 'lost', name: 'w2' },
      { kind: 'hello', connection: 5, hello: hello('w2', { restorable: [3, 4] }) },
    ]);
    expect(kinds(r.decisions)).toEqual(['accept', 'rollback']);
    const rollback = r.decisions[1] as Extract<Decision, { kind: 'rollback' }>;
    expect(rollback.members.map((m) => m.name)).toEqual(['init', 'w2']);
    expect(rollback.restorable['w2']).toEqual([3, 4]);
    expect(r.state.phase).toBe('spawning');
    expect(r.state.recovering).toBe(true);
    // Every member goes through spawn, wire and start again; the end is 'recovered'.
    const after = run(r.state, [
      ...phases(['w2', 'init'], 'spawned'),
      ...phases(['init', 'w2'], 'wired'),
      ...phases(['init', 'w2'], 'ready'),
    ]);
    expect(kinds(after.decisions)).toEqual(['wire', 'start', 'recovered']);
    expect(after.state.phase).toBe('running');
    expect(after.state.recovering).toBe(false);
    expect(after.state.lost.size).toBe(0);
  });

  it('waits for every lost worker before it rolls back', () => {
    const r = run(running(), [
      { kind: 'lost', name: 'w2' },
      { kind: 'lost', name: 'init' },
      { kind: 'hello', connection: 5, hello: hello('w2') },
    ]);
    expect(kinds(r.decisions)).toEqual(['accept']);
    const r2 = run(r.state, [{ kind: 'hello', connection: 6, hello: hello('init') }]);
    expect(kinds(r2.decisions)).toEqual(['accept', 'rollback']);
  });

  it('a worker lost during a recovery is waited for, and the rollback starts over', () => {
    const r = run(running(), [
      { kind: 'lost', name: 'w2' },
      { kind: 'hello', connection: 5, hello: hello('w2') },
      { kind: 'spawned', name: 'init', directory: {} },
      { kind: 'lost', name: 'w2' },
    ]);
    expect(r.state.phase).toBe('running');
    expect(r.state.recovering).toBe(true);
    expect(kinds(r.decisions)).not.toContain('abort');
    // Stale answers of the abandoned round change nothing.
    const stale = run(r.state, [{ kind: 'spawned', name: 'init', directory: {} }]);
    expect(stale.decisions).toEqual([]);
    const back = run(r.state, [{ kind: 'hello', connection: 7, hello: hello('w2') }]);
    expect(kinds(back.decisions)).toEqual(['accept', 'rollback']);
  });

  it('a restarted initializer gathers the saved members and rolls back in their saved order', () => {
    const r = run(initialState(2, 'wc', 'h1', { order: ['init', 'w2'] }), [
      { kind: 'hello', connection: 1, hello: hello('w2', { restorable: [7] }) },
      { kind: 'hello', connection: 0, hello: hello('init', { restorable: [6, 7] }) },
    ]);
    expect(kinds(r.decisions)).toEqual(['accept', 'accept', 'rollback']);
    const rollback = r.decisions[2] as Extract<Decision, { kind: 'rollback' }>;
    expect(rollback.members.map((m) => m.name)).toEqual(['init', 'w2']);
    expect(rollback.restorable).toEqual({ w2: [7], init: [6, 7] });
  });

  it('a restarted initializer refuses a worker that is not one of its cluster', () => {
    const r = run(initialState(2, 'wc', 'h1', { order: ['init', 'w2'] }), [
      { kind: 'hello', connection: 3, hello: hello('stranger') },
    ]);
    expect(r.decisions).toHaveLength(1);
    const d = r.decisions[0] as Extract<Decision, { kind: 'refuse' }>;
    expect(d.kind).toBe('refuse');
    expect(d.code).toBe(ErrorCode.ClusterMismatch);
    expect(d.message).toContain('stranger');
  });

  it('without resilience a restarted worker rejoins alone (its state lost)', () => {
    const plain = run(initialState(2, 'wc', 'h1'), [
      { kind: 'hello', connection: 0, hello: hello('init') },
      { kind: 'hello', connection: 1, hello: hello('w2') },
      ...phases(['init', 'w2'], 'spawned'),
      ...phases(['init', 'w2'], 'wired'),
      ...phases(['init', 'w2'], 'ready'),
      { kind: 'lost', name: 'w2' },
      { kind: 'hello', connection: 5, hello: hello('w2') },
    ]);
    expect(kinds(plain.decisions).slice(-2)).toEqual(['accept', 'assign-one']);
  });
});
