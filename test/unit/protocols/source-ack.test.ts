import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  AckedConnectionParser,
  decodeSourceAckMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  encodeSourceAckFrame,
  encodeSourceAckMessage,
  encodeSourceAckOpening,
  ErrorCode,
  MAX_ACKED_SOURCE_FRAME_BYTES,
  MAX_STREAM_ID_LENGTH,
  nextAckedConnectionState,
  RooError,
  SOURCE_ACK_MAGIC,
  SOURCE_ACK_PROTOCOL_VERSION,
  type SourceAckMessage,
  type SourceHello,
  validateSourceAckMessage,
  encodeSourceClose,
  MAX_CLOSE_REASON_LENGTH,
} from '../../../protocols/index.js';

const V = SOURCE_ACK_PROTOCOL_VERSION;
const packr = new Packr({ useRecords: false });
/** Packs raw values the way a foreign or broken peer might. */
const pack = (value: unknown): Uint8Array => new Uint8Array(packr.pack(value));

/** Runs `f` and returns what it threw (fails the test if it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectRooError(e: unknown, code: string, message?: RegExp): void {
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  if (message !== undefined) expect((e as RooError).message).toMatch(message);
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

/** What a parser made of a connection's chunks. */
interface Parsed {
  readonly data: Buffer[];
  readonly hellos: SourceHello[];
  readonly returned: SourceHello[];
  /** For each data frame, whether the hello was known when it was delivered. */
  readonly helloKnown: boolean[];
}

function parse(parser: AckedConnectionParser, chunks: readonly Buffer[]): Parsed {
  const out: Parsed = { data: [], hellos: [], returned: [], helloKnown: [] };
  for (const chunk of chunks) {
    const hello = parser.push(
      chunk,
      (payload) => {
        out.data.push(Buffer.from(payload));
        out.helloKnown.push(parser.hello !== undefined);
      },
      (h) => out.hellos.push(h),
    );
    if (hello !== undefined) out.returned.push(hello);
  }
  return out;
}

/** A stream id as senders make them: 1 to 200 UTF-16 units, well-formed, not __proto__. */
const streamId = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
  .filter((s) => s.length <= MAX_STREAM_ID_LENGTH && s !== '__proto__');
const position = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const message: fc.Arbitrary<SourceAckMessage> = fc.oneof(
  streamId.map((stream): SourceAckMessage => ({ type: 'hello', version: V, stream })),
  fc
    .record({ position, acks: fc.boolean() })
    .map((r): SourceAckMessage => ({ type: 'resume', version: V, ...r })),
  position.map((p): SourceAckMessage => ({ type: 'ack', version: V, position: p })),
  fc
    .record({
      code: fc.stringMatching(/^[A-Z0-9_]{1,64}$/),
      reason: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 80 })
        .filter((r) => r.length <= MAX_CLOSE_REASON_LENGTH),
    })
    .map((r): SourceAckMessage => ({ type: 'close', version: V, ...r })),
);
const payloads = fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 12 });
const cuts = fc.array(fc.nat(), { maxLength: 30 });

describe('messages', () => {
  it('round-trips every message kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeSourceAckMessage(m);
        expect(decodeSourceAckMessage(bytes)).toEqual(m);
        expect(bytes.length).toBeLessThanOrEqual(1024);
      }),
    );
  });

  it('frames a message with its 4-byte length', () => {
    const m: SourceAckMessage = { type: 'ack', version: V, position: 42 };
    const frame = encodeSourceAckFrame(m);
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    expect(decodeSourceAckMessage(frame.subarray(4))).toEqual(m);
  });

  it('refuses every truncation and padding of an encoding', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeSourceAckMessage(m);
        for (let n = 0; n < bytes.length; n++) {
          expectRooError(
            thrown(() => decodeSourceAckMessage(bytes.subarray(0, n))),
            ErrorCode.BadMessage,
          );
        }
        const padded = new Uint8Array(bytes.length + 1);
        padded.set(bytes);
        expectRooError(
          thrown(() => decodeSourceAckMessage(padded)),
          ErrorCode.BadMessage,
        );
      }),
      { numRuns: 50 },
    );
  });

  it('never throws anything but a RooError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeSourceAckMessage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          validateSourceAckMessage(value);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses malformed messages with messages that say what is wrong', () => {
    const cases: [unknown, string, RegExp][] = [
      [[], ErrorCode.BadMessage, /must be a map/],
      [{ type: 'hello', stream: 's' }, ErrorCode.BadMessage, /version must be/],
      [{ type: 'hello', version: 2, stream: 's' }, ErrorCode.BadVersion, /version 2/],
      [{ type: 'nope', version: V }, ErrorCode.BadMessage, /unknown source ack message type/],
      [{ type: 'hello', version: V }, ErrorCode.BadMessage, /'stream'.*1 to 200/],
      [{ type: 'hello', version: V, stream: '' }, ErrorCode.BadMessage, /'stream'/],
      [{ type: 'hello', version: V, stream: 'x'.repeat(201) }, ErrorCode.BadMessage, /201/],
      [{ type: 'hello', version: V, stream: '__proto__' }, ErrorCode.BadMessage, /__proto__/],
      [{ type: 'hello', version: V, stream: 'a\uD800' }, ErrorCode.BadMessage, /UTF-16/],
      [{ type: 'hello', version: V, stream: 's', x: 1 }, ErrorCode.BadMessage, /unexpected/],
      [{ type: 'resume', version: V, position: 1 }, ErrorCode.BadMessage, /'acks'/],
      [{ type: 'resume', version: V, position: -1, acks: true }, ErrorCode.BadMessage, /position/],
      [{ type: 'resume', version: V, position: 1.5, acks: true }, ErrorCode.BadMessage, /position/],
      [{ type: 'ack', version: V, position: 2 ** 53 }, ErrorCode.BadMessage, /position/],
      [{ type: 'ack', version: V, position: '3' }, ErrorCode.BadMessage, /position/],
      [{ type: 'ack', version: V, position: 3, acks: true }, ErrorCode.BadMessage, /unexpected/],
    ];
    for (const [value, code, re] of cases) {
      expectRooError(
        thrown(() => validateSourceAckMessage(value)),
        code,
        re,
      );
      // msgpackr turns a lone surrogate into U+FFFD: only the validator can see it.
      if (re.source !== 'UTF-16') {
        expectRooError(
          thrown(() => decodeSourceAckMessage(pack(value))),
          code,
          re,
        );
      }
    }
    // Encoders validate too: a bad message fails at its sender.
    expectRooError(
      thrown(() => encodeSourceAckOpening('')),
      ErrorCode.BadMessage,
      /'stream'/,
    );
    expectRooError(
      thrown(() => decodeSourceAckMessage(new Uint8Array(2000))),
      ErrorCode.BadMessage,
      /exceeds the maximum/,
    );
  });

  it('a close: code and reason checked; the encoder cuts a long reason to fit 1 KiB', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'close', version: V, code: 'roo_err', reason: 'x' }, /'code'/],
      [{ type: 'close', version: V, code: 'X'.repeat(65), reason: 'x' }, /'code'/],
      [{ type: 'close', version: V, code: 'X', reason: '' }, /'reason'/],
      [{ type: 'close', version: V, code: 'X', reason: 'r'.repeat(251) }, /'reason'.*250/],
      [{ type: 'close', version: V, code: 'X' }, /'reason'/],
    ];
    for (const [value, re] of cases) {
      expectRooError(
        thrown(() => validateSourceAckMessage(value)),
        ErrorCode.BadMessage,
        re,
      );
    }
    // The widest text there is, far too long: cut, never inside a surrogate pair, under 1 KiB.
    const frame = encodeSourceClose(
      'ROO_ERR_SNAPSHOT_ENCODE_FAILED',
      '\u{1F600}\uFFFF'.repeat(400),
    );
    expect(frame.length - 4).toBeLessThanOrEqual(1024);
    const m = decodeSourceAckMessage(frame.subarray(4));
    expect(m).toMatchObject({ type: 'close', code: 'ROO_ERR_SNAPSHOT_ENCODE_FAILED' });
    const reason = (m as { reason: string }).reason;
    expect(reason.length).toBeLessThanOrEqual(MAX_CLOSE_REASON_LENGTH);
    expect(reason.endsWith('...')).toBe(true);
    expect(reason.isWellFormed()).toBe(true);
  });

  it('takes a 200-unit stream id and refuses 201', () => {
    const ok = 'é'.repeat(MAX_STREAM_ID_LENGTH);
    expect(decodeSourceAckMessage(encodeSourceAckOpening(ok).subarray(12))).toEqual({
      type: 'hello',
      version: V,
      stream: ok,
    });
    expect(() => encodeSourceAckOpening(ok + 'é')).toThrow(/1 to 200/);
  });
});

describe('AckedConnectionParser', () => {
  it('documents the magic: "ROOACK1\\n", whose first 4 bytes read as a length are far above any limit', () => {
    expect(Buffer.from(SOURCE_ACK_MAGIC).toString('latin1')).toBe('ROOACK1\n');
    expect(Buffer.from(SOURCE_ACK_MAGIC).readUInt32BE(0)).toBe(1_380_929_345);
    expect(MAX_ACKED_SOURCE_FRAME_BYTES).toBeLessThan(0x52000000);
    expect(DEFAULT_MAX_FRAME_BYTES).toBeLessThan(MAX_ACKED_SOURCE_FRAME_BYTES);
  });

  it('reads an acknowledging connection however it is split: hello first, then numbered data', () => {
    fc.assert(
      fc.property(streamId, payloads, cuts, (stream, data, at) => {
        const bytes = Buffer.concat([
          encodeSourceAckOpening(stream),
          ...data.map((d) => encodeFrame(d)),
        ]);
        const parser = new AckedConnectionParser();
        const out = parse(parser, split(bytes, at));
        expect(out.hellos).toEqual([{ type: 'hello', version: V, stream }]);
        expect(out.returned).toEqual(out.hellos);
        expect(out.data.map((b) => Uint8Array.from(b))).toEqual(data);
        expect(out.helloKnown.every((k) => k)).toBe(true);
        expect(parser.stream).toBe(stream);
        expect(parser.frames).toBe(data.length);
        expect(parser.state).toBe('acking');
        parser.end();
      }),
    );
  });

  it('splits the magic at every byte boundary, one byte per chunk included', () => {
    const bytes = Buffer.concat([encodeSourceAckOpening('s'), encodeFrame(Buffer.from('x'))]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new AckedConnectionParser();
      const out = parse(parser, [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(out.hellos.map((h) => h.stream)).toEqual(['s']);
      expect(out.data.map(String)).toEqual(['x']);
    }
    const parser = new AckedConnectionParser();
    const out = parse(
      parser,
      [...bytes].map((b) => Buffer.of(b)),
    );
    expect(out.hellos).toHaveLength(1);
    expect(out.data.map(String)).toEqual(['x']);
  });

  it('reads a plain connection however it is split, first chunks of 1 to 3 bytes included', () => {
    fc.assert(
      fc.property(payloads, cuts, (data, at) => {
        const bytes = Buffer.concat(data.map((d) => encodeFrame(d)));
        const parser = new AckedConnectionParser();
        const out = parse(parser, split(bytes, at));
        expect(out.hellos).toEqual([]);
        expect(out.data.map((b) => Uint8Array.from(b))).toEqual(data);
        expect(parser.stream).toBeUndefined();
        expect(parser.frames).toBe(data.length);
        parser.end();
      }),
    );
    for (let first = 1; first <= 3; first++) {
      const bytes = encodeFrame(Buffer.from('plain'));
      const parser = new AckedConnectionParser();
      const out = parse(parser, [bytes.subarray(0, first), bytes.subarray(first)]);
      expect(out.data.map(String)).toEqual(['plain']);
      expect(parser.state).toBe('plain');
    }
  });

  it('takes an empty connection, and an empty chunk, as nothing', () => {
    const parser = new AckedConnectionParser();
    expect(parser.push(Buffer.alloc(0), () => expect.fail('no data'))).toBeUndefined();
    expect(parser.state).toBe('detecting');
    parser.end();
  });

  it('reports a connection cut anywhere short of a whole frame as truncated', () => {
    const bytes = Buffer.concat([
      encodeSourceAckOpening('stream-1'),
      encodeFrame(Buffer.from('d')),
    ]);
    const helloEnd = encodeSourceAckOpening('stream-1').length;
    for (let n = 1; n < bytes.length; n++) {
      if (n === helloEnd) continue; // a whole hello, no data: a clean end
      const parser = new AckedConnectionParser();
      parse(parser, [bytes.subarray(0, n)]);
      expectRooError(
        thrown(() => parser.end()),
        ErrorCode.FrameTruncated,
      );
      // Fail-stop: the same error again.
      expectRooError(
        thrown(() => parser.end()),
        ErrorCode.FrameTruncated,
      );
    }
    const whole = new AckedConnectionParser();
    parse(whole, [bytes.subarray(0, helloEnd)]);
    whole.end();
  });

  it('refuses a connection that starts like the magic and strays from it', () => {
    // Stray within "ROOA": read as a plain frame header, far too large.
    for (let at = 1; at < 4; at++) {
      const bytes = Buffer.from(SOURCE_ACK_MAGIC.subarray(0, 8));
      bytes[at] = 0x00;
      expectRooError(
        thrown(() => new AckedConnectionParser().push(bytes, () => undefined)),
        ErrorCode.FrameTooLarge,
      );
    }
    // Stray after "ROOA": a bad message, wherever the chunks are cut.
    for (let at = 4; at < 8; at++) {
      const bytes = Buffer.from(SOURCE_ACK_MAGIC);
      bytes[at] = 0x21;
      for (let cut = 0; cut <= 8; cut++) {
        const parser = new AckedConnectionParser();
        const e = thrown(() => parse(parser, [bytes.subarray(0, cut), bytes.subarray(cut)]));
        expectRooError(e, ErrorCode.BadMessage, /not with the acking magic/);
        expect(parser.state).toBe('failed');
        expect(thrown(() => parser.push(encodeFrame(Buffer.from('x')), () => undefined))).toBe(e);
      }
    }
  });

  it('refuses a bad hello: garbage, another message, another version, an oversized frame', () => {
    const magic = Buffer.from(SOURCE_ACK_MAGIC);
    const cases: [Buffer, string][] = [
      [encodeFrame(Buffer.from('not msgpack \xc1')), ErrorCode.BadMessage],
      [encodeSourceAckFrame({ type: 'ack', version: V, position: 1 }), ErrorCode.BadMessage],
      [encodeFrame(pack({ type: 'hello', version: 9, stream: 's' })), ErrorCode.BadVersion],
      [encodeFrame(pack({ type: 'hello', version: V, stream: '' })), ErrorCode.BadMessage],
      [encodeFrame(Buffer.alloc(2000)), ErrorCode.BadMessage],
    ];
    for (const [frame, code] of cases) {
      const parser = new AckedConnectionParser();
      const data: Buffer[] = [];
      expectRooError(
        thrown(() =>
          parser.push(Buffer.concat([magic, frame, encodeFrame(Buffer.from('d'))]), (p) =>
            data.push(p),
          ),
        ),
        code,
      );
      expect(data).toEqual([]);
      expect(parser.hello).toBeUndefined();
    }
    // A hello may take 1 KiB whatever the data limit; a larger frame is refused unread.
    const long = 'long-'.repeat(30);
    const small = new AckedConnectionParser(10);
    const hello = encodeSourceAckFrame({ type: 'hello', version: V, stream: long });
    expect(small.push(Buffer.concat([magic, hello]), () => undefined)?.stream).toBe(long);
    const huge = Buffer.concat([magic, encodeFrame(Buffer.alloc(1025))]);
    expectRooError(
      thrown(() => new AckedConnectionParser(10).push(huge, () => undefined)),
      ErrorCode.FrameTooLarge,
    );
  });

  it('refuses data frames over the limit on both kinds of connection', () => {
    const plain = new AckedConnectionParser(10);
    expectRooError(
      thrown(() => plain.push(encodeFrame(Buffer.alloc(11)), () => undefined)),
      ErrorCode.FrameTooLarge,
    );
    const acking = new AckedConnectionParser(10);
    acking.push(encodeSourceAckOpening('s'), () => undefined);
    expectRooError(
      thrown(() => acking.push(encodeFrame(Buffer.alloc(11)), () => undefined)),
      ErrorCode.FrameTooLarge,
    );
  });

  it('never throws anything but a RooError on garbage, and never delivers after an error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc.uint8Array({ maxLength: 60 }).map((b) => Uint8Array.from([...SOURCE_ACK_MAGIC, ...b])),
        ),
        cuts,
        (bytes, at) => {
          const parser = new AckedConnectionParser(1000);
          let failed = false;
          for (const chunk of split(Buffer.from(bytes), at)) {
            try {
              parser.push(chunk, () => expect(failed).toBe(false));
            } catch (e) {
              expect(e).toBeInstanceOf(RooError);
              failed = true;
            }
          }
          expect(parser.state === 'failed').toBe(failed);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('passes a callback error through and is fail-stop afterwards', () => {
    const parser = new AckedConnectionParser();
    const boom = new TypeError('boom');
    const frames = Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('b'))]);
    expect(
      thrown(() =>
        parser.push(frames, () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expectRooError(
      thrown(() => parser.push(Buffer.alloc(0), () => undefined)),
      ErrorCode.Internal,
      /callback threw/,
    );
  });

  it('refuses a re-entrant push', () => {
    const parser = new AckedConnectionParser();
    const e = thrown(() =>
      parser.push(encodeFrame(Buffer.from('a')), () => parser.push(Buffer.alloc(0), () => 0)),
    );
    expectRooError(e, ErrorCode.Internal, /inside its own callback/);
  });

  it('refuses a frame limit at which a plain length could look like the magic', () => {
    expect(() => new AckedConnectionParser(MAX_ACKED_SOURCE_FRAME_BYTES)).not.toThrow();
    for (const bad of [MAX_ACKED_SOURCE_FRAME_BYTES + 1, 0xffffffff, -1, 1.5, Number.NaN]) {
      expectRooError(
        thrown(() => new AckedConnectionParser(bad)),
        ErrorCode.BadFlag,
      );
    }
  });

  it('moves only along its transition table', () => {
    expect(nextAckedConnectionState('detecting', 'hello')).toBe('hello');
    expect(nextAckedConnectionState('hello', 'acking')).toBe('acking');
    expectRooError(
      thrown(() => nextAckedConnectionState('plain', 'acking')),
      ErrorCode.Internal,
    );
    expectRooError(
      thrown(() => nextAckedConnectionState('failed', 'plain')),
      ErrorCode.Internal,
    );
  });
});
