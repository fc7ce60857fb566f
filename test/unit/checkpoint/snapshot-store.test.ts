import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RooError, type Snapshot } from '../../../protocols/index.js';
import { newestRestorable, restorableIds } from '../../../runtime/checkpoint/recovery.js';
import { KEEP_COMMITTED, SnapshotStore } from '../../../runtime/checkpoint/snapshot-store.js';
import type { Logger } from '../../../runtime/logging/logger.js';

const APP = 'Word Count';
const HASH = '0123456789abcdef';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-snapshot-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const store = (worker = 'w1', hash = HASH, app = APP) => new SnapshotStore(dir, app, hash, worker);

function snapshot(id: number, worker = 'w1'): Snapshot {
  return {
    application: APP,
    applicationHash: HASH,
    worker,
    checkpointId: id,
    createdAt: new Date(1_700_000_000_000 + id).toISOString(),
    sources: { '0/0': 1000 * id },
    partitions: [
      {
        name: 'counts',
        keyGroups: [{ keyGroup: 7, entities: id, state: Uint8Array.of(id, 1, 2, 3) }],
      },
    ],
    sinks: { '0': [] },
  };
}

/** Runs `f` and returns the RooError it threw. */
function refused(f: () => unknown): RooError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    return e as RooError;
  }
  return expect.fail('expected a throw');
}

/** A logger that keeps what was logged at error level. */
function recordingLog(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const log = {
    error: (_fields: unknown, message: string) => errors.push(message),
  } as unknown as Logger;
  return { log, errors };
}

const flipByte = (path: string, at: (length: number) => number) => {
  const bytes = readFileSync(path);
  const i = at(bytes.length);
  bytes[i] = bytes[i]! ^ 0x40;
  writeFileSync(path, bytes);
};

describe('SnapshotStore files', () => {
  it('writes a snapshot durably and reads it back', () => {
    const s = store();
    const bytes = s.write(snapshot(3));
    expect(existsSync(s.path(3))).toBe(true);
    expect(readFileSync(s.path(3)).length).toBe(bytes);
    expect(s.read(3)).toEqual(snapshot(3));
    // No temp file is left behind, and the file name is the worker's, sanitised.
    expect(readdirSync(dir)).toEqual(['Word-Count-w1.checkpoint-3.snap']);
  });

  it('ids() lists this worker’s snapshot ids in numeric order, and nothing else', () => {
    const s = store();
    for (const id of [10, 2, 1]) s.write(snapshot(id));
    store('w2').write(snapshot(5, 'w2'));
    new SnapshotStore(dir, 'Other app', HASH, 'w1').write({ ...snapshot(6), application: 'x' });
    writeFileSync(`${s.path(4)}.tmp-123`, 'partial');
    writeFileSync(join(dir, 'Word-Count-w1.checkpoint-x.snap'), 'not an id');
    s.recordCommit(2);
    expect(s.ids()).toEqual([1, 2, 10]);
    expect(store('w2').ids()).toEqual([5]);
    expect(store('nobody').ids()).toEqual([]);
  });

  it('ids() of a directory that does not exist is empty', () => {
    expect(new SnapshotStore(join(dir, 'missing'), APP, HASH, 'w1').ids()).toEqual([]);
  });

  it('recordCommit keeps the two newest committed checkpoints', () => {
    const s = store();
    expect(KEEP_COMMITTED).toBe(2);
    expect(s.committed()).toEqual([]);
    expect(s.recordCommit(1)).toEqual([1]);
    expect(s.recordCommit(2)).toEqual([1, 2]);
    expect(s.recordCommit(5)).toEqual([2, 5]);
    // Durable: another store of the same worker reads the same record.
    expect(store().committed()).toEqual([2, 5]);
    // Recording the newest again does not duplicate it.
    expect(s.recordCommit(5)).toEqual([2, 5]);
    // Other workers keep their own record.
    expect(store('w2').committed()).toEqual([]);
  });

  it('an unreadable record of commits is refused, saying what to remove; recordCommit starts it afresh', () => {
    const s = store();
    s.recordCommit(1);
    const path = join(dir, 'Word-Count-w1.commits.json');
    for (const text of ['{', '{"committed": "1"}', '{"committed": [1.5]}', 'null']) {
      writeFileSync(path, text);
      const e = refused(() => s.committed());
      expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
      expect(e.message).toMatch(/commits\.json is unreadable.*remove the files of/);
    }
    expect(s.recordCommit(4)).toEqual([4]);
    expect(s.committed()).toEqual([4]);
  });

  it('prune deletes files older than the newest kept one, but not kept or newer ones', () => {
    const s = store();
    for (let id = 1; id <= 6; id++) s.write(snapshot(id));
    store('w2').write(snapshot(1, 'w2'));
    s.prune([3, 5]);
    // 6 is a checkpoint in flight (taken, not committed): it stays.
    expect(s.ids()).toEqual([3, 5, 6]);
    s.prune([]);
    expect(s.ids()).toEqual([3, 5, 6]);
    expect(store('w2').ids()).toEqual([1]);
  });

  it('dropAfter deletes the files of checkpoints newer than the one restored', () => {
    const s = store();
    for (let id = 1; id <= 4; id++) s.write(snapshot(id));
    s.dropAfter(2);
    expect(s.ids()).toEqual([1, 2]);
    s.dropAfter(0);
    expect(s.ids()).toEqual([]);
  });

  it('removeAll removes every file of this worker and only of this worker', () => {
    const s = store();
    for (let id = 1; id <= 3; id++) s.write(snapshot(id));
    s.recordCommit(2);
    store('w2').write(snapshot(1, 'w2'));
    store('w2').recordCommit(1);
    s.removeAll();
    expect(s.ids()).toEqual([]);
    expect(s.committed()).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([
      'Word-Count-w2.checkpoint-1.snap',
      'Word-Count-w2.commits.json',
    ]);
  });
});

describe('SnapshotStore.read refuses damaged files with ROO_ERR_SNAPSHOT_CORRUPT', () => {
  it('a missing file', () => {
    const e = refused(() => store().read(9));
    expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
    expect(e.message).toMatch(/checkpoint-9\.snap is missing/);
  });

  it('every truncation', () => {
    const s = store();
    s.write(snapshot(1));
    const whole = readFileSync(s.path(1));
    for (let n = 0; n < whole.length; n++) {
      writeFileSync(s.path(1), whole.subarray(0, n));
      const e = refused(() => s.read(1));
      expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
      expect(e.message).toContain(s.path(1));
      expect(e.details).toEqual({ path: s.path(1) });
    }
  });

  it('a flipped byte anywhere', () => {
    const s = store();
    s.write(snapshot(1));
    const whole = readFileSync(s.path(1));
    for (let i = 0; i < whole.length; i++) {
      writeFileSync(s.path(1), whole);
      flipByte(s.path(1), () => i);
      const e = refused(() => s.read(1));
      expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
      expect(e.message).toMatch(/is refused/);
    }
  });

  it('a whole file of another build, another worker or another checkpoint', () => {
    const s = store();
    s.write(snapshot(1));
    // Another build of the application.
    const other = refused(() => store('w1', 'ffffffffffffffff').read(1));
    expect(other.message).toMatch(/belongs to another build or worker.*build 0123456789abcdef/);
    // Another worker's file in this worker's place.
    store('w2').write(snapshot(1, 'w2'));
    copyFileSync(store('w2').path(1), s.path(2));
    expect(refused(() => s.read(2)).message).toMatch(/worker 'w2'/);
    // Checkpoint 1's file under the name of checkpoint 3.
    copyFileSync(s.path(1), s.path(3));
    const renamed = refused(() => s.read(3));
    expect(renamed.code).toBe(ErrorCode.SnapshotCorrupt);
    expect(renamed.message).toMatch(/checkpoint 1\)/);
  });
});

describe('recovery: newestRestorable', () => {
  it('restores the newest committed checkpoint whose file is whole', () => {
    const s = store();
    for (let id = 1; id <= 3; id++) s.write(snapshot(id));
    const { log, errors } = recordingLog();
    // 3 is newer but not committed: only committed ids are candidates.
    expect(newestRestorable(s, [1, 2], log)).toEqual({ id: 2, snapshot: snapshot(2) });
    expect(errors).toEqual([]);
    expect(newestRestorable(s, [], log)).toBeUndefined();
  });

  it('falls back to the earlier committed checkpoint when the newest is corrupt, logging the refusal', () => {
    const s = store();
    s.write(snapshot(4));
    s.write(snapshot(5));
    flipByte(s.path(5), (n) => n >> 1);
    const { log, errors } = recordingLog();
    expect(newestRestorable(s, [4, 5], log)).toEqual({ id: 4, snapshot: snapshot(4) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/checkpoint-5\.snap is refused: .*checksum mismatch/);
    // Ids may come in any order: the newest is tried first.
    expect(newestRestorable(s, [5, 4], recordingLog().log)?.id).toBe(4);
  });

  it('falls back when the newest file is missing or truncated', () => {
    const s = store();
    s.write(snapshot(4));
    const { log, errors } = recordingLog();
    expect(newestRestorable(s, [4, 5], log)?.id).toBe(4);
    expect(errors[0]).toMatch(/missing/);
    s.write(snapshot(5));
    writeFileSync(s.path(5), readFileSync(s.path(5)).subarray(0, 40));
    expect(newestRestorable(s, [4, 5], log)?.id).toBe(4);
    expect(errors[1]).toMatch(/truncated/);
  });

  it('throws ROO_ERR_SNAPSHOT_CORRUPT saying what to remove when none is whole', () => {
    const s = store();
    s.write(snapshot(4));
    s.write(snapshot(5));
    for (const id of [4, 5]) {
      const p = s.path(id);
      writeFileSync(p, readFileSync(p).subarray(0, 100));
    }
    const { log, errors } = recordingLog();
    const e = refused(() => newestRestorable(s, [4, 5], log));
    expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
    expect(e.message).toContain('rm ');
    expect(e.message).toContain(`rm ${join(dir, 'Word-Count-w1.')}*`);
    expect(e.message).toMatch(/worker 'w1'/);
    // Each refusal is named in the message and was logged.
    expect(e.message).toContain('checkpoint-4.snap');
    expect(e.message).toContain('checkpoint-5.snap');
    expect(errors).toHaveLength(2);
  });

  it('restorableIds keeps the committed ids whose files are whole, in order', () => {
    const s = store();
    for (const id of [1, 2, 3]) s.write(snapshot(id));
    flipByte(s.path(2), (n) => n - 1);
    const { log, errors } = recordingLog();
    expect(restorableIds(s, [1, 2, 3, 4], log)).toEqual([1, 3]);
    expect(errors).toHaveLength(2);
  });
});
