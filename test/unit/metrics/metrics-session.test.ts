import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { MetricsSession, nextMetricsSessionState } from '../../../runtime/metrics/index.js';
import { hello, report } from './reports.js';

function refusal(session: MetricsSession, m: Parameters<MetricsSession['accept']>[0]): RooError {
  const d = session.accept(m);
  if (d.kind !== 'refuse') expect.fail(`expected a refusal, got ${d.kind}`);
  expect(d.error.code).toBe(ErrorCode.BadMessage);
  expect(session.state).toBe('closed');
  return d.error;
}

describe('metrics session', () => {
  it('takes a hello, then reports that agree with it', () => {
    const s = new MetricsSession();
    expect(s.state).toBe('awaiting-hello');
    expect(s.accept(hello('initializer')).kind).toBe('hello');
    expect(s.state).toBe('reporting');
    const r = report('initializer', 0, 1000, 5);
    expect(s.accept(r)).toEqual({ kind: 'report', hello: hello('initializer'), report: r });
    expect(s.accept(report('initializer', 3, 3000, 5)).kind).toBe('report');
    s.close();
    expect(s.state).toBe('closed');
    expect(s.accept(report('initializer', 4, 5000, 5)).kind).toBe('refuse');
  });

  it('refuses what disagrees with the hello, and closes', () => {
    const cases: [ReturnType<typeof report> | ReturnType<typeof hello>, RegExp][] = [
      [report('worker2', 0, 1, 1), /names word-count\/worker2, not word-count\/initializer/],
      [report('initializer', 0, 1, 1, { app: 'other' }), /names other\/initializer/],
      [report('initializer', 0, 1, 1, { clusterId: 'c2' }), /names cluster "c2"/],
      [hello('initializer'), /a second hello/],
      [
        report('initializer', 0, 1, 1, {
          steps: [
            {
              pipeline: 'word count',
              step: 'nope',
              kind: 'computation',
              messages: 1,
              latency: report('initializer', 0, 1, 1).steps[0]!.latency,
            },
          ],
        }),
        /names step word count\/nope, which its plan lacks/,
      ],
      [
        report('initializer', 0, 1, 1, {
          steps: [{ ...report('initializer', 0, 1, 1).steps[1]!, kind: 'state' }],
        }),
        /gives step word count\/split kind state, not computation/,
      ],
      [
        report('initializer', 0, 1, 1, {
          pipelines: [
            {
              pipeline: 'x',
              messages: 0,
              latency: report('initializer', 0, 1, 0).ingressEgress.latency,
            },
          ],
        }),
        /names pipeline x/,
      ],
      [
        report('initializer', 0, 1, 1, {
          threads: [{ ...report('initializer', 0, 1, 1).threads[0]!, thread: 2 }],
        }),
        /names thread 2, but the worker has 2/,
      ],
    ];
    for (const [m, re] of cases) {
      const s = new MetricsSession();
      s.accept(hello('initializer'));
      expect(refusal(s, m).message).toMatch(re);
    }
    const s = new MetricsSession();
    expect(refusal(s, report('initializer', 0, 1, 1)).message).toMatch(/before its hello/);
    const t = new MetricsSession();
    t.accept(hello('initializer'));
    t.accept(report('initializer', 5, 1, 1));
    expect(refusal(t, report('initializer', 5, 2, 1)).message).toMatch(
      /seq 5, not above the previous 5/,
    );
  });

  it('has a transition table that refuses illegal moves', () => {
    expect(nextMetricsSessionState('awaiting-hello', 'reporting')).toBe('reporting');
    expect(() => nextMetricsSessionState('closed', 'reporting')).toThrow(/cannot move from closed/);
    expect(() => nextMetricsSessionState('reporting', 'awaiting-hello')).toThrow(RooError);
  });
});
