import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  ErrorCode,
  FIRST_BODY_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  RooError,
  writeFrameHeader,
} from '../../../protocols/index.js';

/** Concatenation of the frames of `payloads`: a valid stream. */
function streamOf(payloads: readonly Uint8Array[]): Buffer {
  return Buffer.concat(payloads.map((p) => encodeFrame(p)));
}

/** Splits `bytes` at the given points (any naturals; reduced modulo the length, deduplicated). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Feeds every chunk and returns copies of the delivered payloads (views die with the call). */
function decodeAll(decoder: FrameDecoder, chunks: readonly Buffer[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) {
    const before = out.length;
    const n = decoder.push(chunk, (payload) => out.push(Uint8Array.from(payload)));
    expect(n).toBe(out.length - before);
  }
  return out;
}

/** Runs `f` and returns what it threw (fails the test if it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectRooError(e: unknown, code: string): void {
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
}

const payload = fc.uint8Array({ maxLength: 300 });
const payloads = fc.array(payload, { maxLength: 20 });
const cuts = fc.array(fc.nat(), { maxLength: 40 });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('encodeFrame', () => {
  it('writes a 4-byte big-endian length before the payload', () => {
    const frame = encodeFrame(Uint8Array.from([7, 8, 9]));
    expect([...frame]).toEqual([0, 0, 0, 3, 7, 8, 9]);
  });

  it('agrees with writeFrameHeader', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (length) => {
        const a = Buffer.alloc(FRAME_HEADER_BYTES);
        writeFrameHeader(a, 0, length);
        const b = Buffer.alloc(FRAME_HEADER_BYTES);
        b.writeUInt32BE(length, 0);
        expect([...a]).toEqual([...b]);
      }),
    );
  });

  it('refuses a header length a u32 cannot hold instead of wrapping it', () => {
    for (const bad of [0x100000000, -1, 1.5, Number.NaN]) {
      const e = thrown(() => writeFrameHeader(new Uint8Array(4), 0, bad));
      expect(e).toBeInstanceOf(RooError);
    }
    expectRooError(
      thrown(() => writeFrameHeader(new Uint8Array(4), 0, 2 ** 32)),
      ErrorCode.FrameTooLarge,
    );
  });
});

describe('FrameDecoder', () => {
  it('round-trips any payload list under any chunking', () => {
    fc.assert(
      fc.property(payloads, cuts, (ps, cs) => {
        const decoder = new FrameDecoder();
        const out = decodeAll(decoder, split(streamOf(ps), cs));
        expect(out).toEqual(ps);
        expect(decoder.bufferedBytes).toBe(0);
        decoder.end();
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips when every byte arrives alone', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 6 }), (ps) => {
        const stream = streamOf(ps);
        const decoder = new FrameDecoder();
        const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
        expect(decodeAll(decoder, chunks)).toEqual(ps);
        decoder.end();
      }),
      { numRuns: 50 },
    );
  });

  it('delivers a zero-length payload', () => {
    const frame = encodeFrame(new Uint8Array(0));
    expect([...frame]).toEqual([0, 0, 0, 0]);
    const decoder = new FrameDecoder();
    expect(decodeAll(decoder, [frame])).toEqual([new Uint8Array(0)]);
    // Several in a row, with headers split across chunks.
    const stream = streamOf([new Uint8Array(0), Uint8Array.of(1), new Uint8Array(0)]);
    expect(decodeAll(decoder, split(stream, [1, 3, 5, 6]))).toEqual([
      new Uint8Array(0),
      Uint8Array.of(1),
      new Uint8Array(0),
    ]);
    decoder.end();
  });

  it('accepts a payload of exactly the maximum', () => {
    const decoder = new FrameDecoder(3);
    expect(decodeAll(decoder, [encodeFrame(Uint8Array.of(1, 2, 3))])).toEqual([
      Uint8Array.of(1, 2, 3),
    ]);
  });

  it('on a truncated stream delivers the complete frames and end() reports the cut', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), cuts, (ps, at, cs) => {
        const stream = streamOf(ps);
        const cut = at % (stream.length + 1);
        const complete: Uint8Array[] = [];
        let boundary = 0;
        for (const p of ps) {
          if (boundary + FRAME_HEADER_BYTES + p.length > cut) break;
          boundary += FRAME_HEADER_BYTES + p.length;
          complete.push(p);
        }
        const decoder = new FrameDecoder();
        expect(decodeAll(decoder, split(stream.subarray(0, cut), cs))).toEqual(complete);
        expect(decoder.bufferedBytes).toBe(cut - boundary);
        if (cut === boundary) {
          decoder.end();
        } else {
          const e = thrown(() => decoder.end());
          expectRooError(e, ErrorCode.FrameTruncated);
          expect((e as RooError).details).toEqual({ bytes: cut - boundary });
        }
        // end() leaves the decoder empty and reusable.
        expect(decoder.bufferedBytes).toBe(0);
        expect(decodeAll(decoder, [encodeFrame(Uint8Array.of(5))])).toEqual([Uint8Array.of(5)]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a header over the maximum without allocating it', () => {
    const alloc = vi.spyOn(Buffer, 'alloc');
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    const allocUnsafeSlow = vi.spyOn(Buffer, 'allocUnsafeSlow');
    fc.assert(
      fc.property(
        fc.nat({ max: 1024 }),
        fc.nat(),
        fc.array(fc.uint8Array({ maxLength: 10 }), { maxLength: 3 }),
        fc.uint8Array({ maxLength: 16 }),
        cuts,
        (max, over, before, trailing, cs) => {
          const length = max + 1 + (over % (0xffffffff - max));
          const good = before.filter((p) => p.length <= max);
          const header = Buffer.alloc(FRAME_HEADER_BYTES);
          header.writeUInt32BE(length, 0);
          const stream = Buffer.concat([streamOf(good), header, trailing]);
          alloc.mockClear();
          allocUnsafe.mockClear();
          allocUnsafeSlow.mockClear();
          const decoder = new FrameDecoder(max);
          const out: Uint8Array[] = [];
          let error: unknown;
          try {
            for (const chunk of split(stream, cs)) {
              decoder.push(chunk, (p) => out.push(Uint8Array.from(p)));
            }
          } catch (e) {
            error = e;
          }
          expectRooError(error, ErrorCode.FrameTooLarge);
          expect((error as RooError).details).toEqual({ length, max });
          expect(out).toEqual(good);
          for (const spy of [alloc, allocUnsafe, allocUnsafeSlow]) {
            for (const [size] of spy.mock.calls) expect(size).toBeLessThanOrEqual(max + 64);
          }
          // The stream cannot be resynchronised: the decoder stays failed.
          expectRooError(
            thrown(() => decoder.push(encodeFrame(new Uint8Array(0)), () => {})),
            ErrorCode.FrameTooLarge,
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('on garbage throws nothing but FrameTooLarge and always returns', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 4096 }),
        cuts,
        (garbage, max, cs) => {
          const decoder = new FrameDecoder(max);
          let delivered = 0;
          try {
            for (const chunk of split(Buffer.from(garbage), cs)) {
              decoder.push(chunk, (p) => {
                expect(p.length).toBeLessThanOrEqual(max);
                delivered += FRAME_HEADER_BYTES + p.length;
              });
            }
          } catch (e) {
            expectRooError(e, ErrorCode.FrameTooLarge);
            return;
          }
          expect(delivered + decoder.bufferedBytes).toBe(garbage.length);
          try {
            decoder.end();
          } catch (e) {
            expectRooError(e, ErrorCode.FrameTruncated);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // Regression: a frame in progress was re-concatenated with every chunk, so a
  // big frame arriving in small chunks cost quadratic copying (an 8 MiB frame
  // in 1 KiB chunks copied ~32 GiB).
  it('copies a large frame arriving in small chunks a bounded number of times', () => {
    const size = 8 * 1024 * 1024;
    const stream = encodeFrame(new Uint8Array(size).fill(7));
    const decoder = new FrameDecoder();
    let got: number | undefined;
    const started = performance.now();
    for (let i = 0; i < stream.length; i += 1024) {
      decoder.push(stream.subarray(i, i + 1024), (p) => {
        got = p.length;
      });
    }
    expect(got).toBe(size);
    // Linear copying takes milliseconds; the quadratic version took many seconds.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  // Regression (seen while writing the port fuzz test's "big length, then quiet" attacks):
  // a header announcing up to 16 MiB reserved all of it at once, so a peer
  // opening many connections that announce 16 MiB and stall made the process
  // reserve 16 MiB for each, for bytes never sent.
  it('sets aside what arrived (at most twice, or 64 KiB), not what the header announces', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: DEFAULT_MAX_FRAME_BYTES }),
        fc.uint8Array({ maxLength: 300_000 }),
        cuts,
        (announced, body, cs) => {
          const header = Buffer.alloc(FRAME_HEADER_BYTES);
          header.writeUInt32BE(announced, 0);
          const sent = Buffer.from(body.subarray(0, Math.max(0, announced - 1)));
          const decoder = new FrameDecoder();
          for (const chunk of split(Buffer.concat([header, sent]), cs)) {
            decoder.push(chunk, () => expect.fail('an incomplete frame was delivered'));
          }
          expect(decoder.bufferedBytes).toBe(FRAME_HEADER_BYTES + sent.length);
          expect(decoder.reservedBytes).toBeLessThanOrEqual(
            Math.min(announced, Math.max(FIRST_BODY_BYTES, 2 * sent.length)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  // Regression: when the callback threw, the rest of the chunk was dropped and
  // the next push read mid-frame bytes as a header, silently misframing.
  it('stays failed after the callback throws rather than misframing', () => {
    const decoder = new FrameDecoder();
    const stream = streamOf([Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3)]);
    const boom = new Error('boom');
    expect(
      thrown(() =>
        decoder.push(stream, () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expectRooError(
      thrown(() => decoder.push(encodeFrame(Uint8Array.of(4)), () => {})),
      ErrorCode.Internal,
    );
    expectRooError(
      thrown(() => decoder.end()),
      ErrorCode.Internal,
    );
  });

  // Regression: a push from inside the callback interleaved the new chunk's
  // frames before the rest of the outer chunk.
  it('refuses a push from inside its own callback', () => {
    const decoder = new FrameDecoder();
    const e = thrown(() =>
      decoder.push(encodeFrame(Uint8Array.of(1)), () => {
        decoder.push(encodeFrame(Uint8Array.of(2)), () => {});
      }),
    );
    expectRooError(e, ErrorCode.Internal);
  });

  // Regression: a NaN maximum compared false against every length, so it
  // silently meant "no limit".
  it('refuses a maximum that is not a u32', () => {
    for (const bad of [Number.NaN, -1, 1.5, 2 ** 32, Number.POSITIVE_INFINITY]) {
      expectRooError(
        thrown(() => new FrameDecoder(bad)),
        ErrorCode.BadFlag,
      );
    }
    expect(new FrameDecoder(0)).toBeInstanceOf(FrameDecoder);
    expect(new FrameDecoder(0xffffffff)).toBeInstanceOf(FrameDecoder);
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16 * 1024 * 1024);
  });
});
