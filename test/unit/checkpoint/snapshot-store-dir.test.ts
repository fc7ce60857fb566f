import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SnapshotStore } from '../../../runtime/checkpoint/snapshot-store.js';

const snap = (id: number) => ({
  application: 'app',
  applicationHash: 'h',
  worker: 'w1',
  checkpointId: id,
  createdAt: new Date(0).toISOString(),
  sources: {},
  partitions: [],
  sinks: {},
});

describe('SnapshotStore with a --resilience-dir written as users write it', () => {
  for (const form of ['trailing slash', 'leading ./', 'double slash']) {
    it(`ids(), prune, dropAfter and removeAll see the files (${form})`, () => {
      const base = mkdtempSync(join(tmpdir(), 'roo-dir-'));
      try {
        const dir =
          form === 'trailing slash'
            ? `${base}/`
            : form === 'leading ./'
              ? `./${relative(process.cwd(), base)}`
              : base.replace('/roo-dir-', '//roo-dir-');
        const s = new SnapshotStore(dir, 'app', 'h', 'w1');
        s.write(snap(1));
        s.write(snap(2));
        expect(readdirSync(base).sort()).toEqual([
          'app-w1.checkpoint-1.snap',
          'app-w1.checkpoint-2.snap',
        ]);
        expect(s.ids()).toEqual([1, 2]);
        s.removeAll();
        expect(readdirSync(base)).toEqual([]);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    });
  }
});
