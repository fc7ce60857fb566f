import { describe, expect, it } from 'vitest';
import {
  CheckpointSummary,
  formatBytes,
  formatCheckpointSummary,
  SUMMARY_EVERY_MS,
} from '../../../runtime/checkpoint/checkpoint-summary.js';

describe('the INFO summary of checkpoint commits', () => {
  it('logs the first commit at once, then one summary per period with what committed in it', () => {
    const s = new CheckpointSummary(0);
    expect(s.committed(1, 10, 1024, 500)).toBe(
      'checkpoints: 1 committed in 0.5 s (mean 10.0 ms, max 10.0 ms; snapshots here 1.0 KB); newest: checkpoint 1 committed',
    );
    expect(s.committed(2, 20, 1024, 1_000)).toBeUndefined();
    expect(s.committed(3, 40, 2048, 2_000)).toBeUndefined();
    expect(s.due(SUMMARY_EVERY_MS)).toBeUndefined();
    expect(s.due(SUMMARY_EVERY_MS + 500)).toBe(
      'checkpoints: 2 committed in 30.0 s (mean 30.0 ms, max 40.0 ms; snapshots here 3.0 KB); newest: checkpoint 3 committed',
    );
    // Nothing committed since: nothing to say.
    expect(s.due(3 * SUMMARY_EVERY_MS)).toBeUndefined();
    expect(s.committed(4, 5, 0, 3 * SUMMARY_EVERY_MS)).toMatch(
      /^checkpoints: 1 committed in 59\.5 s/,
    );
  });

  it("ends with the newest id as scripts match it (': checkpoint N committed')", () => {
    const line = formatCheckpointSummary({
      count: 3,
      seconds: 30,
      meanMs: 1,
      maxMs: 2,
      bytes: 0,
      newest: 77,
    });
    expect(/: checkpoint (\d+) committed$/.exec(line)?.[1]).toBe('77');
  });

  it('formats bytes in binary units', () => {
    expect([0, 1023, 1024, 1536, 5 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.0 KB',
      '1.5 KB',
      '5.0 MB',
      '3.0 TB',
    ]);
  });
});
