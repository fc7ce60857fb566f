/**
 * The pace of the demo's first `roo send` in a cluster: it lasts about
 * PACED_SECONDS, so that the cluster can grow and shrink while the text
 * streams in, unless the pace is more than any machine would send anyway.
 */
import { describe, expect, it } from 'vitest';
import { PACED_SECONDS, sendPace } from '../../../runtime/cli/demo-send.js';

describe('sendPace', () => {
  it('paces a send to last about PACED_SECONDS, 20 batches a second', () => {
    expect(sendPace(250_000)).toEqual({
      batch: 1_250,
      intervalNs: 50_000_000,
      linesPerSecond: 25_000,
    });
    for (const lines of [1, 1_500, 50_000, 250_000, 1_000_000]) {
      const pace = sendPace(lines)!;
      expect(pace.batch).toBeGreaterThanOrEqual(1);
      expect(pace.linesPerSecond).toBe(pace.batch * 20);
      // Never slower than PACED_SECONDS; a little faster when the batch rounds up.
      expect(lines / pace.linesPerSecond).toBeLessThanOrEqual(PACED_SECONDS);
      if (lines >= 1_000) expect(lines / pace.linesPerSecond).toBeGreaterThan(PACED_SECONDS * 0.9);
    }
  });

  it('does not pace nothing, or a send no machine would hold back', () => {
    expect(sendPace(0)).toBeUndefined();
    expect(sendPace(25_000_000)).toBeUndefined();
  });
});
