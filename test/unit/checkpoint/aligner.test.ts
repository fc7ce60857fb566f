import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  BarrierAligner,
  type BarrierDecision,
  type HeldMessage,
} from '../../../runtime/checkpoint/aligner.js';

const refused = (f: () => unknown, code: string, text: RegExp): void => {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RooError);
  expect((caught as RooError).code).toBe(code);
  expect((caught as RooError).message).toMatch(text);
};

describe('BarrierAligner basics', () => {
  it('delivers everything when no checkpoint is aligning', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    expect(a.onMessage('a', 'x')).toBe('deliver');
    expect(a.onMessage('b', 'y')).toBe('deliver');
    expect(a.phase).toEqual({ name: 'idle' });
  });

  it('holds an input after its barrier and releases in registration order, FIFO per input', () => {
    const a = new BarrierAligner<string, number>([2, 1, 3]);
    expect(a.onBarrier(1, 7)).toEqual({ kind: 'waiting', checkpointId: 7 });
    expect(a.onMessage(1, 'one-a')).toBe('held');
    expect(a.onMessage(2, 'two-pre')).toBe('deliver');
    expect(a.onBarrier(2, 7).kind).toBe('waiting');
    expect(a.onMessage(2, 'two-a')).toBe('held');
    expect(a.onMessage(1, 'one-b')).toBe('held');
    expect(a.heldCount(1)).toBe(2);
    expect(a.totalHeld).toBe(3);
    const done = a.onBarrier(3, 7);
    expect(done).toEqual({
      kind: 'aligned',
      checkpointId: 7,
      release: [
        { input: 2, msg: 'two-a' },
        { input: 1, msg: 'one-a' },
        { input: 1, msg: 'one-b' },
      ],
    });
    expect(a.totalHeld).toBe(0);
    expect(a.lastAlignedCheckpoint).toBe(7);
    expect(a.onMessage(1, 'after')).toBe('deliver');
  });

  it('aligns at once with a single input', () => {
    const a = new BarrierAligner<string>(['only']);
    expect(a.onBarrier('only', 1)).toEqual({ kind: 'aligned', checkpointId: 1, release: [] });
  });

  it('aligns successive checkpoints', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    for (const k of [1, 2, 5]) {
      expect(a.onBarrier('b', k).kind).toBe('waiting');
      expect(a.onBarrier('a', k).kind).toBe('aligned');
    }
  });

  it('refuses duplicate inputs and a bad bound', () => {
    refused(() => new BarrierAligner<string>(['a', 'a']), ErrorCode.Internal, /already registered/);
    refused(
      () => new BarrierAligner<string>(['a'], { maxHeldPerInput: -1 }),
      ErrorCode.Internal,
      /maxHeldPerInput/,
    );
  });
});

describe('BarrierAligner refusals (state unchanged)', () => {
  const aligning = () => {
    const a = new BarrierAligner<string>(['a', 'b', 'c']);
    a.onBarrier('a', 1);
    a.onBarrier('b', 1);
    a.onBarrier('c', 1);
    a.onBarrier('a', 3);
    a.onMessage('a', 'held-1');
    return a;
  };

  it('refuses a barrier older than the checkpoint aligning', () => {
    const a = aligning();
    refused(() => a.onBarrier('b', 2), ErrorCode.BadMessage, /older than checkpoint 3/);
    refused(() => a.onBarrier('b', 1), ErrorCode.BadMessage, /older than checkpoint 3/);
    expect(a.phase).toMatchObject({ name: 'aligning', checkpointId: 3 });
    expect(a.heldCount('a')).toBe(1);
  });

  it('refuses a barrier not newer than the last aligned one when idle', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    a.onBarrier('a', 4);
    a.onBarrier('b', 4);
    refused(() => a.onBarrier('a', 4), ErrorCode.BadMessage, /not newer than the last aligned/);
    refused(() => a.onBarrier('a', 2), ErrorCode.BadMessage, /not newer/);
    expect(a.phase).toEqual({ name: 'idle' });
  });

  it('refuses a second barrier k from the same input', () => {
    const a = aligning();
    refused(() => a.onBarrier('a', 3), ErrorCode.BadMessage, /second barrier 3 from input a/);
    expect(a.onBarrier('b', 3).kind).toBe('waiting');
  });

  it('refuses barrier k+1 while k is aligning', () => {
    const a = aligning();
    refused(() => a.onBarrier('b', 4), ErrorCode.BadMessage, /one checkpoint in flight/);
    expect(a.phase).toMatchObject({ name: 'aligning', checkpointId: 3 });
  });

  it('refuses unknown inputs and bad checkpoint ids', () => {
    const a = aligning();
    refused(() => a.onMessage('z', 'x'), ErrorCode.BadMessage, /not an input/);
    refused(() => a.onBarrier('z', 3), ErrorCode.BadMessage, /not an input/);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) {
      refused(() => a.onBarrier('b', bad), ErrorCode.BadMessage, /non-negative integer/);
      refused(() => a.abort(bad), ErrorCode.BadMessage, /non-negative integer/);
    }
    refused(() => a.removeInput('z'), ErrorCode.Internal, /cannot remove input z/);
  });

  it('refuses adding an input while aligning', () => {
    const a = aligning();
    refused(() => a.addInput('d'), ErrorCode.Internal, /between checkpoints/);
    expect(a.inputs).toEqual(['a', 'b', 'c']);
  });

  it('refuses a message past the bound with QueueFull and does not hold it', () => {
    const a = new BarrierAligner<number, string>(['a', 'b'], { maxHeldPerInput: 2 });
    a.onBarrier('a', 1);
    expect(a.onMessage('a', 1)).toBe('held');
    expect(a.isAtBound('a')).toBe(false);
    expect(a.onMessage('a', 2)).toBe('held');
    expect(a.isAtBound('a')).toBe(true);
    refused(() => a.onMessage('a', 3), ErrorCode.QueueFull, /mute it/);
    expect(a.heldCount('a')).toBe(2);
    expect(a.onMessage('b', 9)).toBe('deliver');
    const done = a.onBarrier('b', 1);
    expect(done.kind === 'aligned' && done.release.map((h) => h.msg)).toEqual([1, 2]);
    expect(a.isAtBound('a')).toBe(false);
  });
});

describe('BarrierAligner abort', () => {
  it('releases everything held and resets; late barriers of the aborted checkpoint are dropped', () => {
    const a = new BarrierAligner<string>(['a', 'b', 'c']);
    a.onBarrier('a', 2);
    a.onMessage('a', 'a1');
    a.onBarrier('c', 2);
    a.onMessage('c', 'c1');
    a.onMessage('a', 'a2');
    expect(a.abort(2)).toEqual({
      kind: 'aborted',
      checkpointId: 2,
      release: [
        { input: 'a', msg: 'a1' },
        { input: 'a', msg: 'a2' },
        { input: 'c', msg: 'c1' },
      ],
    });
    expect(a.phase).toEqual({ name: 'idle' });
    expect(a.onMessage('a', 'a3')).toBe('deliver');
    expect(a.onBarrier('b', 2)).toEqual({ kind: 'dropped', checkpointId: 2 });
    expect(a.phase).toEqual({ name: 'idle' });
    // The next checkpoint aligns normally, and a late barrier 2 during it is dropped too.
    expect(a.onBarrier('a', 3).kind).toBe('waiting');
    expect(a.onBarrier('b', 2).kind).toBe('dropped');
    a.onBarrier('b', 3);
    expect(a.onBarrier('c', 3).kind).toBe('aligned');
  });

  it('an abort before any barrier arrived makes that checkpoint’s barriers dropped', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    expect(a.abort(5)).toEqual({ kind: 'aborted', checkpointId: 5, release: [] });
    expect(a.onBarrier('a', 5).kind).toBe('dropped');
    expect(a.onBarrier('a', 6).kind).toBe('waiting');
  });

  it('an abort of an older checkpoint leaves the one aligning alone', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    a.onBarrier('a', 4);
    a.onMessage('a', 'x');
    expect(a.abort(3)).toEqual({ kind: 'aborted', checkpointId: 3, release: [] });
    expect(a.heldCount('a')).toBe(1);
    expect(a.onBarrier('b', 4)).toEqual({
      kind: 'aligned',
      checkpointId: 4,
      release: [{ input: 'a', msg: 'x' }],
    });
  });

  it('an abort of a checkpoint already aligned here changes nothing', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    a.onBarrier('a', 1);
    a.onBarrier('b', 1);
    expect(a.abort(1).release).toEqual([]);
    refused(() => a.onBarrier('a', 1), ErrorCode.BadMessage, /not newer/);
  });
});

describe('BarrierAligner inputs between and during checkpoints', () => {
  it('adds and removes inputs between checkpoints', () => {
    const a = new BarrierAligner<string>(['a']);
    a.addInput('b');
    expect(a.onBarrier('a', 1).kind).toBe('waiting');
    expect(a.onBarrier('b', 1).kind).toBe('aligned');
    expect(a.removeInput('a')).toEqual({ kind: 'removed' });
    expect(a.inputs).toEqual(['b']);
    expect(a.onBarrier('b', 2).kind).toBe('aligned');
  });

  it('removing the last missing input completes the alignment', () => {
    const a = new BarrierAligner<string>(['a', 'b', 'c']);
    a.onBarrier('a', 1);
    a.onMessage('a', 'a1');
    expect(a.removeInput('c')).toEqual({ kind: 'waiting', checkpointId: 1 });
    expect(a.removeInput('b')).toEqual({
      kind: 'aligned',
      checkpointId: 1,
      release: [{ input: 'a', msg: 'a1' }],
    });
  });

  it('an input removed after its barrier still has its held messages released', () => {
    const a = new BarrierAligner<string>(['a', 'b']);
    a.onBarrier('a', 1);
    a.onMessage('a', 'a1');
    expect(a.removeInput('a').kind).toBe('waiting');
    refused(() => a.onMessage('a', 'a2'), ErrorCode.BadMessage, /not an input/);
    expect(a.heldCount('a')).toBe(1);
    expect(a.onBarrier('b', 1)).toEqual({
      kind: 'aligned',
      checkpointId: 1,
      release: [{ input: 'a', msg: 'a1' }],
    });
    expect(a.heldCount('a')).toBe(0);
    a.addInput('a');
    expect(a.inputs).toEqual(['b', 'a']);
  });
});

// ---- Properties: random interleavings of N inputs, each sending pre ++ barrier ++ post.

interface Msg {
  readonly input: number;
  readonly seq: number;
  readonly before: boolean;
}
type Event = { readonly input: number } & (
  { readonly kind: 'msg'; readonly msg: Msg } | { readonly kind: 'barrier' }
);

const streams = fc.array(fc.record({ pre: fc.nat(8), post: fc.nat(8) }), {
  minLength: 1,
  maxLength: 5,
});

/** Interleaves per-input event queues, keeping each input's order; `picks` choose the next input. */
function interleave(shape: { pre: number; post: number }[], picks: number[]): Event[] {
  const queues: Event[][] = shape.map(({ pre, post }, input) => {
    const q: Event[] = [];
    for (let s = 0; s < pre; s++)
      q.push({ input, kind: 'msg', msg: { input, seq: s, before: true } });
    q.push({ input, kind: 'barrier' });
    for (let s = pre; s < pre + post; s++)
      q.push({ input, kind: 'msg', msg: { input, seq: s, before: false } });
    return q;
  });
  const out: Event[] = [];
  let p = 0;
  for (;;) {
    const open = queues.filter((q) => q.length > 0);
    if (open.length === 0) return out;
    const pick = picks[p++] ?? 0;
    out.push(open[pick % open.length]!.shift()!);
  }
}

const sentBy = (shape: { pre: number; post: number }[], input: number): number[] =>
  Array.from({ length: shape[input]!.pre + shape[input]!.post }, (_, s) => s);

describe('BarrierAligner properties', () => {
  it('before aligned: exactly the pre-barrier messages; released: post-barrier ones; order kept, nothing lost or duplicated', () => {
    fc.assert(
      fc.property(
        streams,
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.nat(1000),
        (shape, picks, k) => {
          const inputs = shape.map((_, i) => i);
          const al = new BarrierAligner<Msg, number>(inputs);
          const before: Msg[] = [];
          const after: Msg[] = [];
          let release: readonly HeldMessage<number, Msg>[] | undefined;
          for (const e of interleave(shape, picks)) {
            if (e.kind === 'barrier') {
              const d: BarrierDecision<number, Msg> = al.onBarrier(e.input, k);
              if (d.kind === 'aligned') {
                expect(release).toBeUndefined();
                expect(d.checkpointId).toBe(k);
                release = d.release;
              } else expect(d.kind).toBe('waiting');
            } else if (al.onMessage(e.input, e.msg) === 'deliver') {
              (release === undefined ? before : after).push(e.msg);
            }
          }
          expect(release).toBeDefined();
          const released = release!.map((h) => {
            expect(h.msg.input).toBe(h.input);
            return h.msg;
          });
          expect(before.every((m) => m.before)).toBe(true);
          expect(released.every((m) => !m.before)).toBe(true);
          expect(after.every((m) => !m.before)).toBe(true);
          // Released inputs come in registration order.
          const order = released.map((m) => m.input);
          expect(order).toEqual([...order].sort((x, y) => x - y));
          // Per input: delivered before ++ released ++ delivered after = sent, in order.
          for (const i of inputs) {
            const got = [...before, ...released, ...after]
              .filter((m) => m.input === i)
              .map((m) => m.seq);
            expect(got).toEqual(sentBy(shape, i));
          }
          expect(al.totalHeld).toBe(0);
          expect(al.phase).toEqual({ name: 'idle' });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an abort at any point releases everything held; nothing is lost or duplicated', () => {
    fc.assert(
      fc.property(
        streams,
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.nat(300),
        (shape, picks, abortAt) => {
          const inputs = shape.map((_, i) => i);
          const al = new BarrierAligner<Msg, number>(inputs);
          const delivered: Msg[] = [];
          const events = interleave(shape, picks);
          let aligned = false;
          let aborted = false;
          events.forEach((e, n) => {
            if (n === abortAt && !aligned) {
              aborted = true;
              const r = al.abort(1);
              delivered.push(...r.release.map((h) => h.msg));
              expect(al.totalHeld).toBe(0);
            }
            if (e.kind === 'barrier') {
              const d = al.onBarrier(e.input, 1);
              if (aborted) expect(d.kind).toBe('dropped');
              if (d.kind === 'aligned') {
                aligned = true;
                delivered.push(...d.release.map((h) => h.msg));
              }
            } else if (al.onMessage(e.input, e.msg) === 'deliver') delivered.push(e.msg);
          });
          expect(aligned !== aborted).toBe(true);
          for (const i of inputs) {
            expect(delivered.filter((m) => m.input === i).map((m) => m.seq)).toEqual(
              sentBy(shape, i),
            );
          }
          expect(al.totalHeld).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
