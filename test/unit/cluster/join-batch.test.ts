/**
 * Joiners that join together (runtime/cluster/join-batch.ts): K workers
 * naming --worker-count K are gathered and grown by at once; a joiner alone
 * grows at once; a mismatched count or a duplicate name is refused; a
 * waiting joiner that goes away leaves the batch.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocols/index.js';
import { addJoiner, dropJoiner, NO_BATCH } from '../../../runtime/cluster/join-batch.js';
import type { Member } from '../../../runtime/cluster/coordinator.js';

const member = (name: string): Member => ({
  name,
  threads: 1,
  control: { host: '127.0.0.1', port: 1 },
  data: { host: '127.0.0.1', port: 2 },
});

describe('joiners that join together', () => {
  it('grows at once by a joiner alone', () => {
    const r = addJoiner(NO_BATCH, member('w3'), 1);
    expect(r.decision).toEqual({ kind: 'grow', joiners: [member('w3')] });
    expect(r.batch).toBe(NO_BATCH);
  });

  it('waits for all K, then grows by all of them in the order they asked', () => {
    let r = addJoiner(NO_BATCH, member('w3'), 3);
    expect(r.decision).toEqual({ kind: 'wait', name: 'w3', have: 1, count: 3 });
    r = addJoiner(r.batch, member('w4'), 3);
    expect(r.decision).toEqual({ kind: 'wait', name: 'w4', have: 2, count: 3 });
    r = addJoiner(r.batch, member('w5'), 3);
    expect(r.decision).toEqual({
      kind: 'grow',
      joiners: [member('w3'), member('w4'), member('w5')],
    });
    expect(r.batch).toBe(NO_BATCH);
  });

  it('refuses a joiner naming another count, or a name already waiting, and keeps the batch', () => {
    const first = addJoiner(NO_BATCH, member('w3'), 2);
    const other = addJoiner(first.batch, member('w4'), 3);
    expect(other.decision).toMatchObject({
      kind: 'refuse',
      name: 'w4',
      code: ErrorCode.ClusterMismatch,
    });
    expect(other.decision.kind === 'refuse' && other.decision.reason).toContain('--worker-count 2');
    expect(other.batch).toBe(first.batch);
    const twice = addJoiner(first.batch, member('w3'), 2);
    expect(twice.decision).toMatchObject({ kind: 'refuse', code: ErrorCode.DuplicateWorker });
    expect(twice.batch).toBe(first.batch);
  });

  it('drops a waiting joiner that went away; the rest still wait for a full batch', () => {
    let r = addJoiner(NO_BATCH, member('w3'), 2);
    const batch = dropJoiner(r.batch, 'w3');
    expect(batch).toBe(NO_BATCH);
    r = addJoiner(batch, member('w4'), 2);
    expect(r.decision.kind).toBe('wait');
    expect(dropJoiner(r.batch, 'nobody')).toBe(r.batch);
    r = addJoiner(r.batch, member('w5'), 2);
    expect(r.decision).toEqual({ kind: 'grow', joiners: [member('w4'), member('w5')] });
  });
});
