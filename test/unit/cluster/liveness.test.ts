import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  heartbeatIntervalMs,
  judgePeer,
  type PeerClock,
} from '../../../runtime/cluster/liveness.js';

const TIMEOUT = 5_000;

function clock(lastHeardMs: number, lastCheckMs: number, peerIntervalMs?: number): PeerClock {
  return { lastHeardMs, lastCheckMs, peerIntervalMs };
}

describe('heartbeatIntervalMs', () => {
  it('is a fifth of the timeout, at most 1 s, at least 1 ms', () => {
    expect(heartbeatIntervalMs(5_000)).toBe(1_000);
    expect(heartbeatIntervalMs(60_000)).toBe(1_000);
    expect(heartbeatIntervalMs(1_500)).toBe(300);
    expect(heartbeatIntervalMs(100)).toBe(20);
    expect(heartbeatIntervalMs(3)).toBe(1);
  });
});

describe('judgePeer', () => {
  it('a peer heard within the timeout is alive', () => {
    expect(judgePeer(clock(10_000, 14_000), 15_000, TIMEOUT)).toEqual({ kind: 'alive' });
    // Exactly the timeout is not yet over it.
    expect(judgePeer(clock(10_000, 14_000), 15_000, 5_000)).toEqual({ kind: 'alive' });
  });

  it('a peer silent for longer than the timeout is lost, with how long', () => {
    expect(judgePeer(clock(10_000, 15_000), 15_001, TIMEOUT)).toEqual({
      kind: 'lost',
      silentMs: 5_001,
      timeoutMs: TIMEOUT,
    });
  });

  it('a peer with a slower beat gets three of its intervals, if longer than the timeout', () => {
    // The peer beats every 3 s: 9 s of silence is its limit, not 5 s.
    expect(judgePeer(clock(0, 8_500, 3_000), 8_999, TIMEOUT)).toEqual({ kind: 'alive' });
    expect(judgePeer(clock(0, 8_500, 3_000), 9_001, TIMEOUT)).toEqual({
      kind: 'lost',
      silentMs: 9_001,
      timeoutMs: 9_000,
    });
    // A faster beat never shortens this end's timeout.
    expect(judgePeer(clock(0, 4_900, 100), 4_999, TIMEOUT)).toEqual({ kind: 'alive' });
  });

  it('a check more than half the timeout late means this end was stalled: nobody is blamed', () => {
    // Stopped for 20 s: the peer looks silent for 20 s, but this end did not run either.
    expect(judgePeer(clock(0, 1_000), 21_000, TIMEOUT)).toEqual({
      kind: 'stalled',
      stalledMs: 20_000,
    });
    // Half the timeout late is still on time.
    expect(judgePeer(clock(0, 2_600), 5_100, TIMEOUT)).toEqual({
      kind: 'lost',
      silentMs: 5_100,
      timeoutMs: TIMEOUT,
    });
  });

  it('checking on time, a peer is lost exactly when its silence passes the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 60_000 }),
        fc.nat({ max: 1_000_000 }),
        fc.nat({ max: 200_000 }),
        fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
        (timeout, heard, silence, peerInterval) => {
          const now = heard + silence;
          // This end checked one interval ago: it was running.
          const lastCheck = now - heartbeatIntervalMs(timeout);
          const verdict = judgePeer(clock(heard, lastCheck, peerInterval), now, timeout);
          const limit = Math.max(timeout, 3 * (peerInterval ?? 0));
          if (silence > limit) {
            expect(verdict).toEqual({ kind: 'lost', silentMs: silence, timeoutMs: limit });
          } else expect(verdict).toEqual({ kind: 'alive' });
        },
      ),
    );
  });
});
