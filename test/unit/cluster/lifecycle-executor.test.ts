/**
 * The lifecycle's executor (runtime/cluster/lifecycle-executor.ts): it keeps
 * the state, logs refusals with their code, hands each decision to its
 * handler, and `check` changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import { WorkerLifecycle } from '../../../runtime/cluster/lifecycle-executor.js';
import type { Logger } from '../../../runtime/logging/logger.js';

/** A logger that keeps its warnings (with their codes) and info lines. */
function recordingLog() {
  const warnings: { code: unknown; message: string }[] = [];
  const infos: string[] = [];
  const log = {
    warn: (fields: { code?: unknown }, message: string) =>
      warnings.push({ code: fields.code, message }),
    info: (message: string) => infos.push(message),
    debug: () => undefined,
  } as unknown as Logger;
  return { log, warnings, infos };
}

describe('WorkerLifecycle', () => {
  it('takes events, hands decisions to their handlers, and ends with the exit code', () => {
    const { log, warnings } = recordingLog();
    const lifecycle = new WorkerLifecycle('initializer', log);
    const done: string[] = [];
    lifecycle.handle({ 'shut-down': (d) => done.push(`shut-down ${d.reason}`) });
    lifecycle.handle({
      stop: (d) => done.push(`stop ${d.reason} ${d.exitCode}`),
      exit: (d) => done.push(`exit ${d.code}`),
    });
    expect(lifecycle.report({ kind: 'join-begun' })).toBe(true);
    expect(lifecycle.report({ kind: 'joined' })).toBe(true);
    expect(lifecycle.phase).toBe('running');
    expect(lifecycle.report({ kind: 'shutdown-asked', reason: 'external' })).toBe(true);
    expect(lifecycle.describe()).toBe('shutting down (external)');
    expect(lifecycle.report({ kind: 'shutdown-ordered', reason: 'cluster shutdown' })).toBe(true);
    expect(lifecycle.report({ kind: 'stopped' })).toBe(true);
    expect(done).toEqual(['shut-down external', 'stop external 0', 'exit 0']);
    expect(warnings).toEqual([]);
  });

  it('logs a refusal with its code, changes nothing, and carries out nothing', () => {
    const { log, warnings } = recordingLog();
    const lifecycle = new WorkerLifecycle('member', log);
    const done: string[] = [];
    lifecycle.handle({ 'relay-shutdown': () => done.push('relay') });
    lifecycle.report({ kind: 'join-begun' });
    const before = lifecycle.state;
    expect(lifecycle.report({ kind: 'shutdown-asked', reason: 'external' })).toBe(false);
    expect(lifecycle.state).toBe(before);
    expect(done).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.code).toBe(ErrorCode.IllegalTransition);
    expect(warnings[0]?.message).toMatch(
      /^refused 'shutdown-asked': this member worker is joining/,
    );
  });

  it('check answers without taking the event', () => {
    const { log } = recordingLog();
    const lifecycle = new WorkerLifecycle('member', log);
    lifecycle.report({ kind: 'join-begun' });
    lifecycle.report({ kind: 'joined' });
    const before = lifecycle.state;
    expect(lifecycle.check({ kind: 'shutdown-asked', reason: 'x' })).toBeUndefined();
    expect(lifecycle.check({ kind: 'reconfiguration-ended', id: 1 })?.code).toBe(
      ErrorCode.IllegalTransition,
    );
    expect(lifecycle.state).toBe(before);
  });

  it('says so when a stop waits for a restore, and stops once restored', () => {
    const { log, infos } = recordingLog();
    const lifecycle = new WorkerLifecycle('initializer', log);
    const stops: string[] = [];
    lifecycle.handle({ stop: (d) => stops.push(d.reason) });
    lifecycle.report({ kind: 'join-begun' });
    lifecycle.report({ kind: 'joined' });
    lifecycle.report({ kind: 'recovery-begun', checkpoint: 3 });
    lifecycle.report({ kind: 'stop-asked', reason: 'SIGTERM' });
    expect(infos).toEqual(['SIGTERM: stopping once the checkpoint is restored']);
    expect(stops).toEqual([]);
    lifecycle.report({ kind: 'restored', checkpoint: 3 });
    expect(stops).toEqual(['SIGTERM']);
  });

  it('a handler set again replaces the one before, for its kind only', () => {
    const { log } = recordingLog();
    const lifecycle = new WorkerLifecycle('member', log);
    const seen: string[] = [];
    lifecycle.handle({ 'abort-start': () => seen.push('first'), stop: () => seen.push('stop') });
    lifecycle.handle({ 'abort-start': () => seen.push('second') });
    lifecycle.report({ kind: 'join-begun' });
    lifecycle.report({ kind: 'stop-asked', reason: 'SIGINT' });
    expect(seen).toEqual(['second']);
  });
});
