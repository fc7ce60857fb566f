import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import { initialState, step, type CoordinatorEvent } from '../../../runtime/cluster/coordinator.js';
import { hello, kinds, run } from './coordinator-helpers.js';

describe('start-up coordinator', () => {
  it('walks gathering -> spawning -> wiring -> starting -> running with N workers', () => {
    let s = initialState(3, 'wc', 'h1');
    let r = run(s, [
      { kind: 'hello', connection: 1, hello: hello('initializer') },
      { kind: 'hello', connection: 2, hello: hello('w2') },
    ]);
    expect(r.state.phase).toBe('gathering');
    expect(kinds(r.decisions)).toEqual(['accept', 'accept']);
    r = run(r.state, [{ kind: 'hello', connection: 3, hello: hello('w3') }]);
    expect(r.state.phase).toBe('spawning');
    expect(r.decisions.at(-1)).toMatchObject({ kind: 'assign' });
    s = r.state;
    r = run(s, [
      { kind: 'spawned', name: 'w3', directory: 'd3' },
      { kind: 'spawned', name: 'initializer', directory: 'd1' },
    ]);
    expect(r.decisions).toEqual([]);
    r = run(r.state, [{ kind: 'spawned', name: 'w2', directory: 'd2' }]);
    expect(r.decisions).toEqual([{ kind: 'wire', directories: ['d1', 'd2', 'd3'] }]);
    r = run(
      r.state,
      ['initializer', 'w2', 'w3'].map((name) => ({ kind: 'wired', name }) as CoordinatorEvent),
    );
    expect(kinds(r.decisions)).toEqual(['start']);
    r = run(
      r.state,
      ['w3', 'w2', 'initializer'].map((name) => ({ kind: 'ready', name }) as CoordinatorEvent),
    );
    expect(kinds(r.decisions)).toEqual(['running']);
    expect(r.state.phase).toBe('running');
  });

  it('refuses a duplicate name with a clear, coded error', () => {
    const r = run(initialState(3, 'wc', 'h1'), [
      { kind: 'hello', connection: 1, hello: hello('a') },
      { kind: 'hello', connection: 2, hello: hello('a') },
    ]);
    expect(r.decisions[1]).toMatchObject({
      kind: 'refuse',
      connection: 2,
      code: ErrorCode.DuplicateWorker,
    });
    expect(r.state.members).toHaveLength(1);
  });

  it('refuses a worker running another application or another build of it', () => {
    const r = run(initialState(2, 'wc', 'h1'), [
      { kind: 'hello', connection: 1, hello: hello('a', { applicationHash: 'h2' }) },
      { kind: 'hello', connection: 2, hello: hello('b', { application: 'other' }) },
    ]);
    expect(r.decisions.map((d) => d.kind === 'refuse' && d.code)).toEqual([
      ErrorCode.ClusterMismatch,
      ErrorCode.ClusterMismatch,
    ]);
  });

  it('ignores repeated and out-of-phase reports', () => {
    let r = run(initialState(2, 'wc', 'h1'), [
      { kind: 'hello', connection: 1, hello: hello('a') },
      { kind: 'wired', name: 'a' },
      { kind: 'hello', connection: 2, hello: hello('b') },
      { kind: 'spawned', name: 'a', directory: 1 },
      { kind: 'spawned', name: 'a', directory: 1 },
      { kind: 'spawned', name: 'nobody', directory: 1 },
    ]);
    expect(r.state.phase).toBe('spawning');
    r = run(r.state, [{ kind: 'spawned', name: 'b', directory: 2 }]);
    expect(r.state.phase).toBe('wiring');
  });

  it('forgets a worker lost while gathering, aborts if one is lost later', () => {
    let r = run(initialState(2, 'wc', 'h1'), [
      { kind: 'hello', connection: 1, hello: hello('a') },
      { kind: 'lost', name: 'a' },
    ]);
    expect(r.state.members).toHaveLength(0);
    r = run(r.state, [
      { kind: 'hello', connection: 2, hello: hello('a') },
      { kind: 'hello', connection: 3, hello: hello('b') },
      { kind: 'lost', name: 'b' },
    ]);
    expect(r.state.phase).toBe('aborted');
    expect(kinds(r.decisions).at(-1)).toBe('abort');
  });

  it('gives a restarted worker its old place once running, and refuses newcomers', () => {
    const names = ['a', 'b'];
    let r = run(
      initialState(2, 'wc', 'h1'),
      names.map((n, i) => ({ kind: 'hello', connection: i, hello: hello(n) }) as CoordinatorEvent),
    );
    for (const kind of ['spawned', 'wired', 'ready'] as const) {
      r = run(
        r.state,
        names.map((name) => ({ kind, name, directory: name }) as CoordinatorEvent),
      );
    }
    expect(r.state.phase).toBe('running');
    // While 'b' is connected, a second 'b' is a duplicate, not a restart.
    const twin = step(r.state, { kind: 'hello', connection: 8, hello: hello('b') });
    expect(twin.decisions[0]).toMatchObject({ kind: 'refuse', code: ErrorCode.DuplicateWorker });
    r = run(r.state, [{ kind: 'lost', name: 'b' }]);
    const moved = step(r.state, {
      kind: 'hello',
      connection: 6,
      hello: hello('b', { data: { host: '127.0.0.1', port: 99 } }),
    });
    expect(moved.decisions[0]).toMatchObject({ kind: 'refuse', code: ErrorCode.ClusterMismatch });
    const again = step(r.state, { kind: 'hello', connection: 9, hello: hello('b') });
    expect(kinds(again.decisions)).toEqual(['accept', 'assign-one']);
    // A newcomer without --join is refused, saying how to grow; with --join it is let in to join.
    const newcomer = step(r.state, { kind: 'hello', connection: 10, hello: hello('c') });
    expect(newcomer.decisions[0]).toMatchObject({
      kind: 'refuse',
      code: ErrorCode.ClusterMismatch,
      message: expect.stringMatching(/--join/) as unknown,
    });
    const joiner = step(again.state, {
      kind: 'hello',
      connection: 11,
      hello: { ...hello('c'), joinRunning: true },
    });
    expect(joiner.decisions).toMatchObject([
      { kind: 'join', connection: 11, member: { name: 'c' } },
    ]);
    expect(joiner.state.members.map((m) => m.name)).toEqual(['a', 'b']);
    // While a member is lost ('b' here), nobody joins.
    const refused = step(r.state, {
      kind: 'hello',
      connection: 12,
      hello: { ...hello('c'), joinRunning: true },
    });
    expect(refused.decisions[0]).toMatchObject({ kind: 'refuse' });
  });

  it('takes a restarted worker through spawn, wire and start again, alone', () => {
    const names = ['a', 'b'];
    let r = run(
      initialState(2, 'wc', 'h1'),
      names.map((n, i) => ({ kind: 'hello', connection: i, hello: hello(n) }) as CoordinatorEvent),
    );
    for (const kind of ['spawned', 'wired', 'ready'] as const) {
      r = run(
        r.state,
        names.map((name) => ({ kind, name, directory: `${name}1` }) as CoordinatorEvent),
      );
    }
    r = run(r.state, [
      { kind: 'lost', name: 'b' },
      { kind: 'hello', connection: 7, hello: hello('b') },
    ]);
    expect(kinds(r.decisions)).toEqual(['accept', 'assign-one']);
    r = run(r.state, [{ kind: 'spawned', name: 'b', directory: 'b2' }]);
    expect(r.decisions).toEqual([{ kind: 'wire-one', name: 'b', directories: ['a1', 'b2'] }]);
    r = run(r.state, [{ kind: 'wired', name: 'b' }]);
    expect(r.decisions).toEqual([{ kind: 'start-one', name: 'b' }]);
    r = run(r.state, [{ kind: 'ready', name: 'b' }]);
    expect(r.decisions).toEqual([{ kind: 'rejoined', name: 'b' }]);
    expect(r.state.phase).toBe('running');
    expect(r.state.rejoining.size).toBe(0);
  });

  it('lets a member that joined a running cluster rejoin a restarted initializer, which expects it', () => {
    const start = initialState(3, 'wc', 'h1', { order: ['a', 'b', 'c'] });
    const r = run(start, [
      { kind: 'hello', connection: 0, hello: hello('a') },
      { kind: 'hello', connection: 1, hello: hello('b') },
      // 'c' had joined with --join; its hello still says so.
      { kind: 'hello', connection: 2, hello: { ...hello('c'), joinRunning: true } },
    ]);
    expect(r.decisions.map((d) => d.kind)).toEqual(['accept', 'accept', 'accept', 'rollback']);
    // A stranger asking to join while the cluster recovers is refused.
    const stranger = step(r.state, {
      kind: 'hello',
      connection: 3,
      hello: { ...hello('d'), joinRunning: true },
    });
    expect(stranger.decisions[0]).toMatchObject({ kind: 'refuse' });
  });
});
