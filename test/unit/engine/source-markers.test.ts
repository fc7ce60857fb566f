import { describe, expect, it } from 'vitest';
import { MAX_MARKED, SourceMarkers } from '../../../runtime/engine/source-markers.js';

/** A source's markers on a clock the test moves, recording what is sent. */
function markers(periodMs = 10) {
  const clock = { now: 1_000 };
  const m = new SourceMarkers(periodMs, () => clock.now);
  const sent: number[] = [];
  m.send = (origin, ingress) => {
    expect(ingress).toBe(origin);
    sent.push(origin);
  };
  return { m, clock, sent };
}

describe('SourceMarkers', () => {
  it("sends a marker after the turn that took the marked chunk, with the chunk's read time as origin", () => {
    const { m, clock, sent } = markers();
    m.chunkRead(); // chunk 0: marked at 1000
    clock.now = 1_003;
    m.chunkRead(); // chunk 1: within the period, not marked
    expect(sent).toEqual([]);
    m.chunkTaken(); // chunk 0 taken: its marker goes
    expect(sent).toEqual([1_000]);
    m.chunkTaken();
    expect(sent).toEqual([1_000]);
  });

  it('marks at most one chunk per period, several while chunks wait', () => {
    const { m, clock, sent } = markers();
    for (let i = 0; i < 5; i++) {
      m.chunkRead();
      clock.now += 6;
    }
    // Reads at 1000, 1006, 1012, 1018, 1024: marked 1000, 1012 (>= 10 after 1000), 1024.
    for (let i = 0; i < 5; i++) m.chunkTaken();
    expect(sent).toEqual([1_000, 1_012, 1_024]);
  });

  it('keeps at most MAX_MARKED chunks marked', () => {
    const { m, clock, sent } = markers(1);
    for (let i = 0; i < MAX_MARKED + 5; i++) {
      m.chunkRead();
      clock.now += 1;
    }
    for (let i = 0; i < MAX_MARKED + 5; i++) m.chunkTaken();
    expect(sent).toHaveLength(MAX_MARKED);
  });

  it('a generator marks one turn in 16 at most, and only once a period has passed', () => {
    const { m, clock } = markers();
    const origins: number[] = [];
    for (let turn = 1; turn <= 64; turn++) {
      const o = m.turnStarted();
      if (o >= 0) origins.push(o);
      if (turn === 32) clock.now += 10;
    }
    // Turn 16 marks (first); 32 is within the period of 16 (clock unchanged at that read); 48 is after.
    expect(origins).toEqual([1_000, 1_010]);
  });
});
