import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeFrame, ErrorCode, FrameDecoder, RooError } from '../../../protocols/index.js';
import { FrameEncoder, UnackedFrames } from '../../../runtime/cli/send-frames.js';

/** The payloads of the frames in `buffers`, as strings. */
function payloads(buffers: readonly Buffer[]): string[] {
  const out: string[] = [];
  const decoder = new FrameDecoder();
  for (const b of buffers) decoder.push(b, (p) => out.push(p.toString()));
  decoder.end();
  return out;
}

const names = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `frame-${from + i}`);

describe('FrameEncoder', () => {
  it('counts the frames of every part it hands out', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 70_000 }), { maxLength: 30 }), (sizes) => {
        const encoder = new FrameEncoder();
        const source = Buffer.alloc(70_000, 0x61);
        let frames = 0;
        let bytes = 0;
        for (const size of sizes) {
          encoder.add(source, 0, size);
          if (sizes.length % 3 === 0) {
            for (const part of encoder.take()) {
              frames += part.frames;
              bytes += part.bytes.length;
              expect(payloads([part.bytes])).toHaveLength(part.frames);
            }
          }
        }
        for (const part of encoder.take()) {
          frames += part.frames;
          bytes += part.bytes.length;
          expect(payloads([part.bytes])).toHaveLength(part.frames);
        }
        expect(frames).toBe(sizes.length);
        expect(bytes).toBe(encoder.bytes);
      }),
      { numRuns: 50 },
    );
  });
});

describe('UnackedFrames', () => {
  /** Appends frames `from`..`to` as parts of `per` frames. */
  function fill(kept: UnackedFrames, from: number, to: number, per: number): void {
    for (let i = from; i < to; i += per) {
      const part = names(i, Math.min(to, i + per));
      kept.append({
        bytes: Buffer.concat(part.map((p) => encodeFrame(Buffer.from(p)))),
        frames: part.length,
      });
    }
  }

  it('keeps frames until acked, cutting parts at frame boundaries', () => {
    const kept = new UnackedFrames();
    fill(kept, 0, 10, 4);
    expect(kept).toMatchObject({ base: 0, end: 10, frames: 10 });
    expect(payloads(kept.from(0))).toEqual(names(0, 10));
    expect(payloads(kept.from(6))).toEqual(names(6, 10));
    kept.ack(5);
    expect(kept).toMatchObject({ base: 5, end: 10, frames: 5 });
    expect(kept.bytes).toBe(names(5, 10).reduce((n, f) => n + 4 + f.length, 0));
    expect(payloads(kept.from(5))).toEqual(names(5, 10));
    kept.ack(3); // behind: nothing
    expect(kept.base).toBe(5);
    kept.ack(10);
    expect(kept).toMatchObject({ base: 10, end: 10, frames: 0, bytes: 0 });
    expect(kept.from(10)).toEqual([]);
  });

  it('refuses acks beyond what was sent and resends of forgotten frames', () => {
    const kept = new UnackedFrames();
    fill(kept, 0, 3, 1);
    kept.ack(2);
    for (const f of [() => kept.ack(4), () => kept.from(1), () => kept.from(4)]) {
      expect(f).toThrow(RooError);
      try {
        f();
      } catch (e) {
        expect((e as RooError).code).toBe(ErrorCode.Internal);
      }
    }
  });

  it('starts a stream later only while empty', () => {
    const kept = new UnackedFrames();
    kept.startAt(300);
    expect(kept).toMatchObject({ base: 300, end: 300 });
    fill(kept, 300, 302, 1);
    expect(kept.end).toBe(302);
    expect(() => kept.startAt(0)).toThrow(/already sent/);
  });

  it('matches a model under random appends, acks and resends', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ append: fc.integer({ min: 0, max: 6 }) }),
            fc.record({ ack: fc.nat({ max: 40 }) }),
            fc.record({ from: fc.nat({ max: 40 }) }),
          ),
          { maxLength: 200 },
        ),
        (steps) => {
          const kept = new UnackedFrames();
          let base = 0;
          let end = 0;
          for (const step of steps) {
            if ('append' in step) {
              fill(kept, end, end + step.append, Math.max(1, step.append));
              end += step.append;
            } else if ('ack' in step) {
              const p = Math.min(step.ack, end);
              kept.ack(p);
              base = Math.max(base, p);
            } else {
              const p = Math.max(base, Math.min(step.from, end));
              expect(payloads(kept.from(p))).toEqual(names(p, end));
            }
            expect(kept.base).toBe(base);
            expect(kept.end).toBe(end);
            expect(kept.bytes).toBe(names(base, end).reduce((n, f) => n + 4 + f.length, 0));
          }
        },
      ),
    );
  });
});
