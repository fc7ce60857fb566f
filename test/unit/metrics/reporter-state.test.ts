import { describe, expect, it } from 'vitest';
import {
  admit,
  INITIAL_REPORTER_STATE,
  reporterStep,
  retryDelayMs,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  SEND_BUFFER_BYTES,
  type ReporterEvent,
  type ReporterState,
} from '../../../runtime/metrics/reporter-state.js';

/** Feeds `events` from `state`; returns the final state and every action kind, in order. */
function run(events: readonly ReporterEvent[], state: ReporterState = INITIAL_REPORTER_STATE) {
  const actions: string[] = [];
  for (const e of events) {
    const r = reporterStep(state, e);
    state = r.state;
    for (const a of r.actions)
      actions.push(
        a.kind === 'send'
          ? `send ${a.seq}`
          : a.kind === 'wait'
            ? `wait ${a.ms}`
            : a.kind === 'drop'
              ? `drop ${a.reason}`
              : a.kind,
      );
  }
  return { state, actions };
}

const report = (buffered = 0, bytes = 100): ReporterEvent => ({ kind: 'report', buffered, bytes });

describe('the metrics reporter state machine', () => {
  it('connects on start, says hello once connected, then numbers reports from 0', () => {
    const { state, actions } = run([{ kind: 'start' }, { kind: 'connected' }, report(), report()]);
    expect(actions).toEqual(['connect', 'hello', 'send 0', 'send 1']);
    expect(state).toMatchObject({ phase: 'connected', seq: 2, sent: 2, dropped: 0, skipped: 0 });
  });

  it('skips (and counts) reports due while not connected: none is queued', () => {
    const { state, actions } = run([report(), { kind: 'start' }, report(), report()]);
    expect(actions).toEqual([
      'drop not-connected',
      'connect',
      'drop not-connected',
      'drop not-connected',
    ]);
    expect(state).toMatchObject({ phase: 'connecting', skipped: 3, sent: 0 });
  });

  it('backs off after a failure, doubling the wait up to the most, and reconnects on retry', () => {
    const failOnce: ReporterEvent[] = [{ kind: 'failed' }, { kind: 'retry' }];
    const { state, actions } = run([{ kind: 'start' }, ...failOnce, ...failOnce, ...failOnce]);
    expect(actions).toEqual([
      'connect',
      'destroy',
      `wait ${RETRY_MIN_MS}`,
      'connect',
      'destroy',
      `wait ${RETRY_MIN_MS * 2}`,
      'connect',
      'destroy',
      `wait ${RETRY_MIN_MS * 4}`,
      'connect',
    ]);
    expect(state).toMatchObject({ phase: 'connecting', attempts: 3 });
    expect(retryDelayMs(100)).toBe(RETRY_MAX_MS);
  });

  it('a new connection starts over: hello again, reports from 0, attempts reset', () => {
    const { state, actions } = run([
      { kind: 'start' },
      { kind: 'connected' },
      report(),
      { kind: 'failed' },
      { kind: 'retry' },
      { kind: 'connected' },
      report(),
    ]);
    expect(actions).toEqual([
      'connect',
      'hello',
      'send 0',
      'destroy',
      `wait ${RETRY_MIN_MS}`,
      'connect',
      'hello',
      'send 0',
    ]);
    expect(state).toMatchObject({ attempts: 0, seq: 1, sent: 2 });
  });

  it('drops (and counts) a report that would overfill the send buffer, and sends once there is room', () => {
    const { state, actions } = run([
      { kind: 'start' },
      { kind: 'connected' },
      report(SEND_BUFFER_BYTES - 50, 100),
      report(SEND_BUFFER_BYTES - 100, 100),
    ]);
    expect(actions).toEqual(['connect', 'hello', 'drop buffer-full', 'send 0']);
    expect(state).toMatchObject({ dropped: 1, sent: 1, seq: 1 });
    expect(admit(0, SEND_BUFFER_BYTES)).toBe(true);
    expect(admit(1, SEND_BUFFER_BYTES)).toBe(false);
  });

  it('close destroys the socket from any phase and then ignores everything but a late connection', () => {
    for (const before of [
      [],
      [{ kind: 'start' }],
      [{ kind: 'start' }, { kind: 'connected' }],
    ] as ReporterEvent[][]) {
      const { state, actions } = run([...before, { kind: 'close' }]);
      expect(actions.at(-1)).toBe('destroy');
      expect(state.phase).toBe('closed');
    }
    const closed = run([{ kind: 'start' }, { kind: 'close' }]).state;
    expect(
      run([report(), { kind: 'retry' }, { kind: 'failed' }, { kind: 'close' }], closed).actions,
    ).toEqual([]);
    // A connection that completes after close is not kept.
    expect(run([{ kind: 'connected' }], closed).actions).toEqual(['destroy']);
  });

  it('ignores events that do not belong in a phase', () => {
    const idle = run([{ kind: 'connected' }, { kind: 'failed' }, { kind: 'retry' }]);
    expect(idle.actions).toEqual([]);
    expect(idle.state).toEqual(INITIAL_REPORTER_STATE);
    const connected = run([{ kind: 'start' }, { kind: 'connected' }]).state;
    expect(
      run([{ kind: 'start' }, { kind: 'retry' }, { kind: 'connected' }], connected).actions,
    ).toEqual([]);
  });
});
