import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Mailbox, type Receiver } from '../../../actors/mailbox.js';

function recorder(): Receiver & { got: [number, unknown, unknown][]; paused: boolean } {
  const got: [number, unknown, unknown][] = [];
  return {
    got,
    paused: false,
    receive(tag, a, b) {
      got.push([tag, a, b]);
    },
    receiveRuntime(tag, a, b) {
      got.push([tag, a, b]);
    },
  };
}

describe('Mailbox', () => {
  it('reports only the empty-to-non-empty transition', () => {
    const mb = new Mailbox(2);
    expect(mb.push(0, 'a', 1)).toBe(true);
    expect(mb.push(0, 'b', 2)).toBe(false);
    mb.deliver(recorder(), 100);
    expect(mb.push(0, 'c', 3)).toBe(true);
  });

  it('keeps FIFO order across growth and counts only application messages against the batch', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3, max: 5 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (tags, batch) => {
          const mb = new Mailbox(1);
          tags.forEach((t, i) => mb.push(t, i, -i));
          const r = recorder();
          let apps = 0;
          while (mb.size > 0) {
            const n = mb.deliver(r, batch);
            expect(n).toBeLessThanOrEqual(batch);
            apps += n;
          }
          expect(apps).toBe(tags.filter((t) => t >= 0).length);
          expect(r.got.map((g) => g[1])).toEqual(tags.map((_, i) => i));
          expect(mb.appSize).toBe(0);
        },
      ),
    );
  });

  it('stops delivering when the receiver pauses', () => {
    const mb = new Mailbox();
    for (let i = 0; i < 10; i++) mb.push(0, i, undefined);
    const r = recorder();
    const pausing: Receiver & { paused: boolean } = {
      paused: false,
      receive(tag, a, b) {
        r.receive(tag, a, b);
        if (a === 3) this.paused = true;
      },
      receiveRuntime: r.receiveRuntime,
    };
    expect(mb.deliver(pausing, 100)).toBe(4);
    expect(mb.size).toBe(6);
  });

  it('survives a receiver that pushes to its own mailbox while it grows', () => {
    const mb = new Mailbox(1);
    const seen: number[] = [];
    const self: Receiver = {
      paused: false,
      receive(_tag, a) {
        seen.push(a as number);
        if ((a as number) < 100)
          for (let k = 0; k < 3; k++) mb.push(0, (a as number) * 3 + k + 1, undefined);
      },
      receiveRuntime() {},
    };
    mb.push(0, 0, undefined);
    while (mb.size > 0) mb.deliver(self, 7);
    // Breadth-first numbering: every number from 0 up to the last is seen exactly once, in order.
    expect(seen).toEqual(seen.map((_, i) => i));
  });
});

describe('Mailbox turn boundary', () => {
  // Regression: a runtime message an actor sent itself was delivered in the
  // same turn, so a self-continuing source never yielded to the actors it fed.
  it('delivers only the messages queued when the turn began', () => {
    const mb = new Mailbox();
    let runs = 0;
    const self: Receiver = {
      paused: false,
      receive() {},
      receiveRuntime() {
        runs++;
        mb.push(-1, undefined, undefined);
      },
    };
    mb.push(-1, undefined, undefined);
    mb.deliver(self, 100);
    expect(runs).toBe(1);
    expect(mb.size).toBe(1);
  });
});
