import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkpointStep,
  initialCheckpointState,
  type CheckpointDecision,
  type CheckpointEvent,
  type CheckpointState,
} from '../../../runtime/checkpoint/coordinator.js';

const settings = { intervalMs: 1000, timeoutMs: 5000 };

function run(state: CheckpointState, events: CheckpointEvent[]) {
  const decisions: CheckpointDecision[] = [];
  for (const e of events) {
    const r = checkpointStep(state, e);
    state = r.state;
    decisions.push(...r.decisions);
  }
  return { state, decisions };
}

const acks = (id: number, ...workers: string[]): CheckpointEvent[] =>
  workers.map((worker) => ({ kind: 'ack', worker, checkpointId: id }));

describe('checkpoint coordinator', () => {
  it('starts a checkpoint once the interval has passed, one at a time, and commits when all acked', () => {
    let r = run(initialCheckpointState(settings, ['a', 'b'], 0), [{ kind: 'tick', nowMs: 999 }]);
    expect(r.decisions).toEqual([]);
    r = run(r.state, [{ kind: 'tick', nowMs: 1000 }]);
    expect(r.decisions).toEqual([{ kind: 'start', checkpointId: 1 }]);
    // While 1 is in flight, ticks start nothing (rule 1).
    r = run(r.state, [{ kind: 'tick', nowMs: 2500 }, ...acks(1, 'a')]);
    expect(r.decisions).toEqual([]);
    r = run(r.state, acks(1, 'b'));
    expect(r.decisions).toEqual([
      { kind: 'commit', checkpointId: 1 },
      { kind: 'delete-before', checkpointId: 1 },
    ]);
    expect(r.state.committed).toBe(1);
    // It took longer than the interval: the next starts at the next tick.
    r = run(r.state, [{ kind: 'tick', nowMs: 2600 }]);
    expect(r.decisions).toEqual([{ kind: 'start', checkpointId: 2 }]);
  });

  it('ignores stale, repeated and unknown acks (rule 5)', () => {
    let r = run(initialCheckpointState(settings, ['a', 'b'], 0), [{ kind: 'tick', nowMs: 1000 }]);
    r = run(r.state, [
      ...acks(0, 'a', 'b'),
      ...acks(2, 'a', 'b'),
      ...acks(1, 'a', 'a', 'stranger'),
    ]);
    expect(r.decisions).toEqual([]);
    expect(r.state.inFlight?.acked.size).toBe(1);
  });

  it('aborts, never half-commits, when a worker is lost before it acked (rule 4)', () => {
    let r = run(initialCheckpointState(settings, ['a', 'b', 'c'], 0), [
      { kind: 'tick', nowMs: 1000 },
    ]);
    r = run(r.state, [...acks(1, 'a'), { kind: 'lost', worker: 'b' }]);
    expect(r.decisions).toEqual([
      { kind: 'abort', checkpointId: 1, reason: "worker 'b' was lost before it acked" },
    ]);
    r = run(r.state, acks(1, 'c'));
    expect(r.decisions).toEqual([]);
    expect(r.state.committed).toBe(0);
    // The id is not reused (rule 2), and the lost worker is not waited for.
    r = run(r.state, [{ kind: 'tick', nowMs: 2000 }]);
    expect(r.decisions).toEqual([{ kind: 'start', checkpointId: 2 }]);
    r = run(r.state, acks(2, 'a', 'c'));
    expect(r.decisions[0]).toEqual({ kind: 'commit', checkpointId: 2 });
  });

  it('aborts a checkpoint with no ack within the timeout', () => {
    let r = run(initialCheckpointState(settings, ['a', 'b'], 0), [{ kind: 'tick', nowMs: 1000 }]);
    r = run(r.state, [...acks(1, 'a'), { kind: 'tick', nowMs: 5999 }]);
    expect(r.decisions).toEqual([]);
    r = run(r.state, [{ kind: 'tick', nowMs: 6000 }]);
    expect(r.decisions).toEqual([
      { kind: 'abort', checkpointId: 1, reason: 'no ack from b within 5000 ms' },
    ]);
    r = run(r.state, [{ kind: 'tick', nowMs: 6500 }]);
    expect(r.decisions).toEqual([]);
    r = run(r.state, [{ kind: 'tick', nowMs: 7000 }]);
    expect(r.decisions).toEqual([{ kind: 'start', checkpointId: 2 }]);
  });

  it('waits for a worker that joined only from the next checkpoint on', () => {
    let r = run(initialCheckpointState(settings, ['a'], 0), [
      { kind: 'tick', nowMs: 1000 },
      { kind: 'joined', worker: 'b' },
      ...acks(1, 'a'),
    ]);
    expect(r.decisions.map((d) => d.kind)).toEqual(['start', 'commit', 'delete-before']);
    r = run(r.state, [{ kind: 'tick', nowMs: 2000 }, ...acks(2, 'a')]);
    expect(r.decisions.map((d) => d.kind)).toEqual(['start']);
  });

  it('over any sequence of events: ids rise, at most one in flight, commits only fully acked ids', () => {
    const workers = ['a', 'b', 'c'];
    const event = fc.oneof(
      fc.integer({ min: 0, max: 3000 }).map((dt) => ({ kind: 'tick' as const, dt })),
      fc.record({
        kind: fc.constant('ack' as const),
        worker: fc.constantFrom(...workers, 'x'),
        back: fc.integer({ min: 0, max: 2 }),
      }),
      fc.record({
        kind: fc.constantFrom('lost' as const, 'joined' as const),
        worker: fc.constantFrom(...workers),
      }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), (events) => {
        let state = initialCheckpointState(settings, workers, 0);
        let now = 0;
        let lastStarted = 0;
        const acked = new Map<number, Set<string>>();
        const expected = new Map<number, string[]>();
        for (const e of events) {
          let ev: CheckpointEvent;
          if (e.kind === 'tick') ev = { kind: 'tick', nowMs: (now += e.dt) };
          else if (e.kind === 'ack')
            ev = {
              kind: 'ack',
              worker: e.worker,
              checkpointId: Math.max(0, state.lastId - e.back),
            };
          else ev = { kind: e.kind, worker: e.worker };
          const inFlightBefore = state.inFlight;
          const r = checkpointStep(state, ev);
          for (const d of r.decisions) {
            if (d.kind === 'start') {
              expect(inFlightBefore).toBeUndefined();
              expect(d.checkpointId).toBeGreaterThan(lastStarted);
              lastStarted = d.checkpointId;
              expected.set(d.checkpointId, [...state.workers]);
              acked.set(d.checkpointId, new Set());
            }
            if (d.kind === 'commit') {
              const got = acked.get(d.checkpointId) ?? new Set();
              if (ev.kind === 'ack') got.add(ev.worker);
              for (const w of expected.get(d.checkpointId) ?? []) expect(got.has(w)).toBe(true);
            }
          }
          if (ev.kind === 'ack' && inFlightBefore?.id === ev.checkpointId)
            acked.get(ev.checkpointId)?.add(ev.worker);
          state = r.state;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('aborts k once every worker answered when one could not take its part (rule 6)', () => {
    let s = initialCheckpointState({ intervalMs: 10, timeoutMs: Infinity }, ['a', 'b'], 0);
    let r = checkpointStep(s, { kind: 'tick', nowMs: 10 });
    s = r.state;
    expect(r.decisions).toEqual([{ kind: 'start', checkpointId: 1 }]);
    r = checkpointStep(s, { kind: 'failed', worker: 'a', checkpointId: 1 });
    s = r.state;
    // b's barriers of 1 may still travel: nothing is decided until b answers.
    expect(r.decisions).toEqual([]);
    expect(checkpointStep(s, { kind: 'tick', nowMs: 1_000_000 }).decisions).toEqual([]);
    r = checkpointStep(s, { kind: 'ack', worker: 'b', checkpointId: 1 });
    expect(r.decisions.map((d) => d.kind)).toEqual(['abort']);
    expect(r.state.committed).toBe(0);
    expect(r.state.inFlight).toBeUndefined();
  });
});
