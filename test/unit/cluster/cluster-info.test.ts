import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  clusterInfoPath,
  loadClusterInfo,
  removeClusterInfo,
  saveClusterInfo,
  type ClusterInfo,
} from '../../../runtime/cluster/cluster-info.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'roo-info-'));
  dirs.push(d);
  return d;
};
const info = (over: Partial<ClusterInfo> = {}): ClusterInfo => ({
  version: 1,
  application: 'Word Count',
  applicationHash: 'abc',
  worker: 'w2',
  workerIndex: 1,
  workers: ['initializer', 'w2'],
  control: { host: '127.0.0.1', port: 6000 },
  savedAt: '2026-11-21T00:00:00.000Z',
  ...over,
});

describe('cluster information files', () => {
  it('round-trips, named by application and worker, leaving no temp file', () => {
    const dir = fresh();
    const path = saveClusterInfo(dir, info());
    expect(path).toBe(clusterInfoPath(dir, 'Word Count', 'w2'));
    expect(readdirSync(dir)).toEqual(['Word-Count-w2.cluster.json']);
    expect(loadClusterInfo(dir, 'Word Count', 'abc', 'w2')).toEqual(info());
    expect(loadClusterInfo(dir, 'Word Count', 'abc', 'other')).toBeUndefined();
    removeClusterInfo(dir, 'Word Count', 'w2');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses another build of the application with a message saying what to remove', () => {
    const dir = fresh();
    saveClusterInfo(dir, info({ applicationHash: 'old' }));
    try {
      loadClusterInfo(dir, 'Word Count', 'abc', 'w2');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RooError);
      expect((err as RooError).code).toBe(ErrorCode.StaleResilience);
      expect((err as RooError).message).toContain(`rm ${clusterInfoPath(dir, 'Word Count', 'w2')}`);
    }
  });

  it('refuses a corrupt or truncated file clearly', () => {
    const dir = fresh();
    const path = clusterInfoPath(dir, 'Word Count', 'w2');
    for (const text of ['{"version": 1, "applic', 'null', '{"version":2}', '\u0000\u0001garbage']) {
      writeFileSync(path, text);
      expect(() => loadClusterInfo(dir, 'Word Count', 'abc', 'w2')).toThrow(/cluster information/);
    }
  });
});
