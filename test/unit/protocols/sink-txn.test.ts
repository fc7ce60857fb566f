import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  decodeSinkTxnMessage,
  DEFAULT_MAX_SINK_TXN_BYTES,
  encodeFrame,
  encodeSinkTxn,
  encodeSinkTxnAck,
  encodeSinkTxnHeader,
  encodeSinkTxnHello,
  encodeSinkTxnMessage,
  ErrorCode,
  FIRST_BODY_BYTES,
  MAX_SINK_ID_LENGTH,
  MAX_SINK_TXN_MESSAGE_BYTES,
  nextTxnConnectionState,
  RooError,
  SinkAckParser,
  SINK_TXN_MAGIC,
  SINK_TXN_PROTOCOL_VERSION,
  type SinkTxnMessage,
  TxnConnectionParser,
  type TxnConnectionEvent,
  validateSinkTxnMessage,
} from '../../../protocols/index.js';

/** Packs raw values the way a peer would, to build malformed messages. */
const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

/** Runs `f` and returns what it threw (fails the test if it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectCode(f: () => unknown, code: string): RooError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  return e as RooError;
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

/** What a parser reported, with plain bytes joined and txn bodies copied. */
interface Parsed {
  plain: Buffer;
  hello: string[];
  txns: { sink: string; epoch: number; bytes: Buffer }[];
  /** Order of event kinds, consecutive plain events merged. */
  order: string[];
}

function collector(): { parsed: Parsed; visit: (e: TxnConnectionEvent) => void } {
  const plains: Buffer[] = [];
  const parsed: Parsed = { plain: Buffer.alloc(0), hello: [], txns: [], order: [] };
  const visit = (e: TxnConnectionEvent): void => {
    if (parsed.order.at(-1) !== e.kind || e.kind !== 'plain') parsed.order.push(e.kind);
    switch (e.kind) {
      case 'plain':
        plains.push(Buffer.from(e.bytes));
        parsed.plain = Buffer.concat(plains);
        break;
      case 'hello':
        parsed.hello.push(e.sink);
        break;
      case 'txn':
        parsed.txns.push({ sink: e.sink, epoch: e.epoch, bytes: Buffer.from(e.bytes) });
        break;
    }
  };
  return { parsed, visit };
}

/** Feeds `chunks` then ends; returns what was reported and what `end` threw, if anything. */
function parseAll(
  chunks: readonly Buffer[],
  maxTxnBytes?: number,
): { parsed: Parsed; endError: unknown } {
  const parser = new TxnConnectionParser(maxTxnBytes);
  const { parsed, visit } = collector();
  for (const chunk of chunks) parser.push(chunk, visit);
  let endError: unknown;
  try {
    parser.end(visit);
  } catch (e) {
    endError = e;
  }
  return { parsed, endError };
}

const sinkId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const epochs = fc
  .uniqueArray(fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()), { maxLength: 8 })
  .map((a) => a.sort((x, y) => x - y));
const body = fc.uint8Array({ maxLength: 200 });
const cuts = fc.array(fc.nat(), { maxLength: 30 });

/** A sink connection: hello then transactions of ascending epochs. */
const connection = fc
  .tuple(sinkId, epochs)
  .chain(([sink, es]) =>
    fc
      .array(body, { minLength: es.length, maxLength: es.length })
      .map((bodies) => ({ sink, txns: es.map((epoch, i) => ({ epoch, bytes: bodies[i]! })) })),
  );

/** The bytes a sink writes for `conn`, each body given as several chunks. */
function streamOf(conn: { sink: string; txns: { epoch: number; bytes: Uint8Array }[] }): Buffer {
  const parts: Uint8Array[] = [encodeSinkTxnHello(conn.sink)];
  for (const t of conn.txns) {
    const half = t.bytes.length >> 1;
    parts.push(...encodeSinkTxn(t.epoch, [t.bytes.subarray(0, half), t.bytes.subarray(half)]));
  }
  return Buffer.concat(parts);
}

const samples: readonly SinkTxnMessage[] = [
  { type: 'hello', version: 1, sink: 'worker1/word totals' },
  { type: 'txn', version: 1, epoch: 7, bytes: 12 },
  { type: 'ack', version: 1, sink: 'worker1/word totals', applied: 7 },
  { type: 'ack', version: 1, sink: 'worker2/tcp sink', applied: null },
];

describe('sink transaction messages', () => {
  const message: fc.Arbitrary<SinkTxnMessage> = fc.oneof(
    fc.record({
      type: fc.constant('hello' as const),
      version: fc.constant(SINK_TXN_PROTOCOL_VERSION),
      sink: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 100 })
        .map((s) => s.slice(0, 300)),
    }),
    fc.record({
      type: fc.constant('txn' as const),
      version: fc.constant(SINK_TXN_PROTOCOL_VERSION),
      epoch: fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()),
      bytes: fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()),
    }),
    fc.record({
      type: fc.constant('ack' as const),
      version: fc.constant(SINK_TXN_PROTOCOL_VERSION),
      sink: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 100 })
        .map((s) => s.slice(0, 300)),
      applied: fc.option(fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()), { nil: null }),
    }),
  );

  it('round-trips every kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeSinkTxnMessage(encodeSinkTxnMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every truncated and every padded encoding with ROO_ERR_BAD_MESSAGE', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, extra) => {
        const encoded = encodeSinkTxnMessage(m);
        for (let n = 0; n < encoded.length; n++) {
          expectCode(() => decodeSinkTxnMessage(encoded.subarray(0, n)), ErrorCode.BadMessage);
        }
        const padded = new Uint8Array([...encoded, ...extra]);
        expectCode(() => decodeSinkTxnMessage(padded), ErrorCode.BadMessage);
      }),
      { numRuns: 100 },
    );
  });

  it('on garbage and on any other msgpack value throws only RooError', () => {
    const check = (bytes: Uint8Array): void => {
      try {
        const m = decodeSinkTxnMessage(bytes);
        expect(validateSinkTxnMessage(m)).toEqual(m);
      } catch (e) {
        expect(e).toBeInstanceOf(RooError);
        expect([ErrorCode.BadMessage, ErrorCode.BadVersion]).toContain((e as RooError).code);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), check), { numRuns: 1000 });
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withTypedArray: true }), (x) => check(pack(x))),
      { numRuns: 500 },
    );
  });

  it('refuses another version with ROO_ERR_BAD_VERSION, checked before the type', () => {
    for (const m of samples) {
      const e = expectCode(
        () => decodeSinkTxnMessage(pack({ ...m, version: 2 })),
        ErrorCode.BadVersion,
      );
      expect(e.details).toEqual({ version: 2, supported: 1 });
    }
    expectCode(
      () => decodeSinkTxnMessage(pack({ type: 'commit', version: 2 })),
      ErrorCode.BadVersion,
    );
    expectCode(
      () => decodeSinkTxnMessage(pack({ type: 'hello', sink: 'x' })),
      ErrorCode.BadMessage,
    );
  });

  it('refuses unknown types, unknown fields and bad fields, naming them', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'commit', version: 1 }, /unknown sink transaction message type "commit"/],
      [{ ...samples[0]!, extra: 1 }, /unexpected field "extra" in a 'hello'/],
      [{ ...samples[1]!, sink: 'x' }, /unexpected field "sink" in a 'txn'/],
      [{ ...samples[0]!, sink: '' }, /'sink'.*1 to 300 characters/],
      [{ ...samples[0]!, sink: 'x'.repeat(MAX_SINK_ID_LENGTH + 1) }, /'sink'.*\(301 characters\)/],
      [{ ...samples[0]!, sink: 42 }, /'sink'.*number 42/],
      [{ type: 'hello', version: 1 }, /'sink'.*got nothing/],
      [{ ...samples[0]!, sink: 'a\uD800b' }, /'sink'.*not well-formed/],
      [{ ...samples[1]!, epoch: -1 }, /'epoch'.*non-negative safe integer/],
      [{ ...samples[1]!, epoch: 1.5 }, /'epoch'/],
      [{ ...samples[1]!, epoch: 2 ** 53 }, /'epoch'/],
      [{ ...samples[1]!, epoch: '3' }, /'epoch'/],
      [{ type: 'txn', version: 1, epoch: 3 }, /'bytes'.*got nothing/],
      [{ ...samples[1]!, bytes: -5 }, /'bytes'/],
      [{ ...samples[2]!, applied: -1 }, /'applied'.*non-negative safe integer/],
      [{ ...samples[2]!, applied: '7' }, /'applied'/],
      [{ type: 'ack', version: 1, sink: 'x' }, /'applied'.*got nothing/],
      [{ type: 'ack', version: 1, applied: 1 }, /'sink'.*got nothing/],
      [{ ...samples[2]!, epoch: 1 }, /unexpected field "epoch" in a 'ack'/],
      [[1, 2], /must be a map/],
      ['hello', /must be a map/],
    ];
    for (const [value, pattern] of cases) {
      // The validator directly (a lone surrogate would not survive msgpack) and through msgpack.
      expect(expectCode(() => validateSinkTxnMessage(value), ErrorCode.BadMessage).message).toMatch(
        pattern,
      );
    }
    expect(validateSinkTxnMessage({ ...samples[0]!, sink: 'é'.repeat(300) })).toMatchObject({
      sink: 'é'.repeat(300),
    });
  });

  it('is applied by the encoders, so a bad message fails at the sink', () => {
    expectCode(() => encodeSinkTxnHello(''), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxnHello('x'.repeat(301)), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxnHeader(-1, 0), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxnHeader(1, 0.5), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxn(Number.NaN, []), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxnAck('', 1), ErrorCode.BadMessage);
    expectCode(() => encodeSinkTxnAck('s', -1), ErrorCode.BadMessage);
  });

  it('keeps the longest hello within the message limit', () => {
    // 300 code units of the widest UTF-8 (3 bytes each, no surrogate pairs).
    const hello = encodeSinkTxnHello('\uFFFF'.repeat(MAX_SINK_ID_LENGTH));
    expect(hello.length - SINK_TXN_MAGIC.length - 4).toBeLessThanOrEqual(
      MAX_SINK_TXN_MESSAGE_BYTES,
    );
  });
});

describe('sink side encoding', () => {
  it('starts a connection with "ROOTXN1\\n" and the framed hello', () => {
    expect(Buffer.from(SINK_TXN_MAGIC).toString('latin1')).toBe('ROOTXN1\n');
    // "ROOT" read as a frame length is above any frame a roo peer accepts.
    expect(Buffer.from(SINK_TXN_MAGIC).readUInt32BE(0)).toBe(1_380_929_364);
    const hello = encodeSinkTxnHello('worker1/word totals');
    expect(hello.subarray(0, 8)).toEqual(Buffer.from('ROOTXN1\n'));
    const length = hello.readUInt32BE(8);
    expect(hello.length).toBe(12 + length);
    expect(decodeSinkTxnMessage(hello.subarray(12))).toEqual(samples[0]);
  });

  it('writes a transaction as its framed header, then the body chunks uncopied', () => {
    const a = Buffer.from('alpha => 1\n');
    const b = Buffer.from('beta => 2\n');
    const out = encodeSinkTxn(9, [a, Buffer.alloc(0), b]);
    expect(out).toHaveLength(3);
    expect(out[1]).toBe(a);
    expect(out[2]).toBe(b);
    expect(Buffer.from(out[0]!)).toEqual(
      encodeFrame(encodeSinkTxnMessage({ type: 'txn', version: 1, epoch: 9, bytes: 21 })),
    );
    expect(encodeSinkTxn(9, Buffer.concat([a, b]))[0]).toEqual(out[0]);
    expect(encodeSinkTxn(10, [])).toEqual([encodeSinkTxnHeader(10, 0)]);
  });
});

describe('TxnConnectionParser', () => {
  it('reports the hello and every transaction under any chunking', () => {
    fc.assert(
      fc.property(connection, cuts, (conn, cs) => {
        const { parsed, endError } = parseAll(split(streamOf(conn), cs));
        expect(endError).toBeUndefined();
        expect(parsed.plain.length).toBe(0);
        expect(parsed.hello).toEqual([conn.sink]);
        expect(parsed.txns).toEqual(
          conn.txns.map((t) => ({ sink: conn.sink, epoch: t.epoch, bytes: Buffer.from(t.bytes) })),
        );
        expect(parsed.order).toEqual(['hello', ...conn.txns.map(() => 'txn')]);
      }),
      { numRuns: 300 },
    );
  });

  it('reports the same when every byte arrives alone', () => {
    const conn = {
      sink: 'worker1/word totals',
      txns: [
        { epoch: 1, bytes: Buffer.from('a => 1\n') },
        { epoch: 2, bytes: Buffer.alloc(0) },
        { epoch: 5, bytes: Buffer.from('b => 1\nc => 3\n') },
      ],
    };
    const stream = streamOf(conn);
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    const { parsed, endError } = parseAll(bytes);
    expect(endError).toBeUndefined();
    expect(parsed.txns.map((t) => [t.epoch, t.bytes.toString()])).toEqual([
      [1, 'a => 1\n'],
      [2, ''],
      [5, 'b => 1\nc => 3\n'],
    ]);
  });

  it('detects the magic split at every boundary, and twice split', () => {
    const stream = streamOf({ sink: 's', txns: [{ epoch: 3, bytes: Buffer.from('xyz\n') }] });
    for (let i = 0; i <= 8; i++) {
      for (let j = i; j <= 8; j++) {
        const { parsed, endError } = parseAll([
          stream.subarray(0, i),
          stream.subarray(i, j),
          stream.subarray(j),
        ]);
        expect(endError).toBeUndefined();
        expect(parsed.hello).toEqual(['s']);
        expect(parsed.txns).toEqual([{ sink: 's', epoch: 3, bytes: Buffer.from('xyz\n') }]);
        expect(parsed.plain.length).toBe(0);
      }
    }
  });

  it('passes a plain connection through unchanged under any chunking, however short', () => {
    const plain = fc
      .uint8Array({ maxLength: 100 })
      .filter((b) => !Buffer.from(b.subarray(0, 8)).equals(Buffer.from(SINK_TXN_MAGIC)));
    // Prefixes of the magic, and prefixes with a different byte after them, are common cases.
    const nearMagic = fc
      .tuple(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 20 }))
      .map(([n, rest]) => new Uint8Array([...SINK_TXN_MAGIC.subarray(0, n), ...rest]))
      .filter((b) => !Buffer.from(b.subarray(0, 8)).equals(Buffer.from(SINK_TXN_MAGIC)));
    fc.assert(
      fc.property(fc.oneof(plain, nearMagic), cuts, (bytes, cs) => {
        const { parsed, endError } = parseAll(split(Buffer.from(bytes), cs));
        expect(endError).toBeUndefined();
        expect(parsed.plain).toEqual(Buffer.from(bytes));
        expect(parsed.hello).toEqual([]);
        expect(parsed.txns).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('delivers a plain connection as it comes, holding back only a possible magic', () => {
    const parser = new TxnConnectionParser();
    const { parsed, visit } = collector();
    parser.push(Buffer.from('ROOT'), visit);
    expect(parser.state).toBe('detecting');
    expect(parsed.plain.length).toBe(0);
    parser.push(Buffer.from('S => 4\n'), visit);
    expect(parser.state).toBe('plain');
    expect(parsed.plain.toString()).toBe('ROOTS => 4\n');
    parser.push(Buffer.from('ROOTXN1\n'), visit);
    expect(parsed.plain.toString()).toBe('ROOTS => 4\nROOTXN1\n');

    // A framed plain connection: its first byte is a length's high byte, never 'R'.
    const framed = new TxnConnectionParser();
    const f = collector();
    framed.push(encodeFrame(Buffer.from('hello')), f.visit);
    expect(f.parsed.plain).toEqual(encodeFrame(Buffer.from('hello')));
  });

  it('on every truncation reports the complete transactions only, and end() says what was cut', () => {
    fc.assert(
      fc.property(connection, cuts, (conn, cs) => {
        const stream = streamOf(conn);
        // Where each transaction ends in the stream.
        const ends: number[] = [];
        let at = encodeSinkTxnHello(conn.sink).length;
        for (const t of conn.txns) {
          at += encodeSinkTxnHeader(t.epoch, t.bytes.length).length + t.bytes.length;
          ends.push(at);
        }
        for (let cut = 0; cut < stream.length; cut++) {
          const { parsed, endError } = parseAll(split(stream.subarray(0, cut), cs));
          const complete = ends.filter((e) => e <= cut).length;
          if (parsed.txns.length !== complete) {
            expect.fail(`cut at ${cut}: ${parsed.txns.length} txns, expected ${complete}`);
          }
          if (cut < 8) {
            // Not yet known to be a sink connection: the bytes come back as plain.
            expect(parsed.plain).toEqual(stream.subarray(0, cut));
            continue;
          }
          expect(parsed.plain.length).toBe(0);
          const between = cut === encodeSinkTxnHello(conn.sink).length || ends.includes(cut);
          if (between || cut === 8) {
            expect(endError).toBeUndefined();
          } else {
            expect(endError).toBeInstanceOf(RooError);
            expect((endError as RooError).code).toBe(ErrorCode.FrameTruncated);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('names a transaction cut short, and holds it as pending until then', () => {
    const parser = new TxnConnectionParser();
    const { parsed, visit } = collector();
    const txn = Buffer.concat(encodeSinkTxn(4, Buffer.from('0123456789')));
    parser.push(Buffer.concat([encodeSinkTxnHello('w/s'), txn.subarray(0, txn.length - 3)]), visit);
    expect(parser.sink).toBe('w/s');
    expect(parser.state).toBe('body');
    expect(parser.pending).toEqual({ sink: 'w/s', epoch: 4, received: 7, bytes: 10 });
    const e = expectCode(() => parser.end(visit), ErrorCode.FrameTruncated);
    expect(e.message).toMatch(
      /transaction epoch 4 of sink "w\/s" \(7 of 10 bytes received; discarded\)/,
    );
    expect(e.details).toEqual({ sink: 'w/s', epoch: 4, received: 7, bytes: 10 });
    expect(parsed.txns).toEqual([]);
    expect(parser.state).toBe('failed');
  });

  // Regression (seen while adding roo receive to the port fuzz test): a
  // transaction header announcing up to 256 MiB reserved all of it at once,
  // so a stranger announcing big transactions and stalling made the receiver
  // reserve 256 MiB a connection for bytes never sent.
  it('sets aside what arrived of a body (at most twice, or 64 KiB), not what the header announces', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: DEFAULT_MAX_SINK_TXN_BYTES }),
        fc.uint8Array({ maxLength: 300_000 }),
        cuts,
        (announced, body, cs) => {
          const sent = Buffer.from(body.subarray(0, Math.max(0, announced - 1)));
          const parser = new TxnConnectionParser();
          const { parsed, visit } = collector();
          const stream = Buffer.concat([
            encodeSinkTxnHello('w/s'),
            encodeSinkTxnHeader(9, announced),
            sent,
          ]);
          for (const chunk of split(stream, cs)) parser.push(chunk, visit);
          expect(parsed.txns).toEqual([]);
          expect(parser.pending).toEqual({
            sink: 'w/s',
            epoch: 9,
            received: sent.length,
            bytes: announced,
          });
          expect(parser.reservedBytes).toBeLessThanOrEqual(
            Math.min(announced, Math.max(FIRST_BODY_BYTES, 2 * sent.length)),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('on garbage after the magic throws only RooError, and stays failed', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), cuts, (hello, garbage, cs) => {
        const prefix = hello ? encodeSinkTxnHello('s') : Buffer.from(SINK_TXN_MAGIC);
        const parser = new TxnConnectionParser(1000);
        const { visit } = collector();
        let failure: unknown;
        for (const chunk of split(Buffer.concat([prefix, garbage]), cs)) {
          try {
            parser.push(chunk, visit);
          } catch (e) {
            failure = e;
            break;
          }
        }
        if (failure === undefined) {
          try {
            parser.end(visit);
          } catch (e) {
            failure = e;
          }
        }
        if (failure === undefined) return;
        expect(failure).toBeInstanceOf(RooError);
        expect([
          ErrorCode.BadMessage,
          ErrorCode.BadVersion,
          ErrorCode.FrameTooLarge,
          ErrorCode.FrameTruncated,
        ]).toContain((failure as RooError).code);
        expect(parser.state).toBe('failed');
        expect(thrown(() => parser.push(Buffer.from('x'), visit))).toBe(failure);
        expect(thrown(() => parser.end(visit))).toBe(failure);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses protocol violations with clear errors', () => {
    const magic = Buffer.from(SINK_TXN_MAGIC);
    const frame = (m: unknown) => encodeFrame(pack(m));
    const hello = encodeSinkTxnHello('s');
    const cases: [Buffer, string, RegExp][] = [
      [
        Buffer.concat([magic, encodeSinkTxnHeader(1, 0)]),
        ErrorCode.BadMessage,
        /'txn'.*before the hello/,
      ],
      [Buffer.concat([hello, hello.subarray(8)]), ErrorCode.BadMessage, /second hello.*"s"/],
      [
        Buffer.concat([hello, encodeSinkTxnAck('s', 1)]),
        ErrorCode.BadMessage,
        /'ack' from the sink/,
      ],
      [
        Buffer.concat([magic, frame({ type: 'hello', version: 2, sink: 's' })]),
        ErrorCode.BadVersion,
        /version 2/,
      ],
      [
        Buffer.concat([hello, frame({ type: 'txn', version: 1, epoch: 1 })]),
        ErrorCode.BadMessage,
        /'bytes'/,
      ],
      [
        Buffer.concat([magic, encodeFrame(Buffer.alloc(MAX_SINK_TXN_MESSAGE_BYTES + 1))]),
        ErrorCode.FrameTooLarge,
        /1025 bytes exceeds the maximum of 1024/,
      ],
      [
        Buffer.concat([hello, encodeSinkTxnHeader(3, 101)]),
        ErrorCode.FrameTooLarge,
        /epoch 3 of 101 bytes exceeds the maximum of 100/,
      ],
      [
        Buffer.concat([magic, encodeFrame(Buffer.alloc(0))]),
        ErrorCode.BadMessage,
        /not valid msgpack/,
      ],
    ];
    for (const [stream, code, pattern] of cases) {
      const parser = new TxnConnectionParser(100);
      const e = expectCode(() => parser.push(stream, collector().visit), code);
      expect(e.message).toMatch(pattern);
    }
    // At the limit is fine.
    const { parsed } = parseAll(
      [Buffer.concat([hello, ...encodeSinkTxn(3, Buffer.alloc(100, 1))])],
      100,
    );
    expect(parsed.txns).toHaveLength(1);
  });

  it("reports epochs as sent: deduplication is the receiver's, not the parser's", () => {
    const stream = Buffer.concat([
      encodeSinkTxnHello('s'),
      ...encodeSinkTxn(5, Buffer.from('a')),
      ...encodeSinkTxn(5, Buffer.from('a')),
      ...encodeSinkTxn(2, Buffer.from('b')),
      ...encodeSinkTxn(Number.MAX_SAFE_INTEGER, Buffer.from('c')),
    ]);
    expect(parseAll([stream]).parsed.txns.map((t) => t.epoch)).toEqual([
      5,
      5,
      2,
      Number.MAX_SAFE_INTEGER,
    ]);
  });

  it('delivers a body that fits in one chunk as a view, and copies one that spans chunks', () => {
    const streamOfAbc = () =>
      Buffer.concat([encodeSinkTxnHello('s'), ...encodeSinkTxn(1, Buffer.from('abcdef'))]);
    const seen: Buffer[] = [];
    const visit = (e: TxnConnectionEvent) => {
      if (e.kind === 'txn') seen.push(e.bytes);
    };
    const whole = streamOfAbc();
    new TxnConnectionParser().push(whole, visit);
    whole.fill(0x2e);
    expect(seen[0]!.toString()).toBe('......');
    const spanning = streamOfAbc();
    const parser = new TxnConnectionParser();
    parser.push(spanning.subarray(0, spanning.length - 2), visit);
    parser.push(spanning.subarray(spanning.length - 2), visit);
    spanning.fill(0x2e);
    expect(seen[1]!.toString()).toBe('abcdef');
  });

  it('stays failed after its visit throws, and refuses a push from inside its visit', () => {
    const parser = new TxnConnectionParser();
    const boom = new Error('boom');
    expect(
      thrown(() =>
        parser.push(encodeSinkTxnHello('s'), () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expectCode(() => parser.push(Buffer.alloc(1), () => undefined), ErrorCode.Internal);

    const inner = new TxnConnectionParser();
    const e = thrown(() =>
      inner.push(Buffer.from('plain'), () => inner.push(Buffer.from('more'), () => undefined)),
    );
    expect((e as RooError).code).toBe(ErrorCode.Internal);
  });

  it('refuses a maximum that is not a non-negative safe integer', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectCode(() => new TxnConnectionParser(bad), ErrorCode.BadFlag);
    }
    expect(new TxnConnectionParser().state).toBe('detecting');
    expect(DEFAULT_MAX_SINK_TXN_BYTES).toBe(256 * 1024 * 1024);
  });

  it('moves only along its transition table', () => {
    expect(nextTxnConnectionState('detecting', 'plain')).toBe('plain');
    expect(nextTxnConnectionState('body', 'header')).toBe('header');
    expectCode(() => nextTxnConnectionState('plain', 'hello'), ErrorCode.Internal);
    expectCode(() => nextTxnConnectionState('header', 'hello'), ErrorCode.Internal);
    expectCode(() => nextTxnConnectionState('failed', 'plain'), ErrorCode.Internal);
  });
});

describe('SinkAckParser (the sink reading its receiver)', () => {
  const acks = fc.array(
    fc.option(fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()), { nil: null }),
    {
      maxLength: 10,
    },
  );

  it('reports every ack, however the bytes are split', () => {
    fc.assert(
      fc.property(sinkId, acks, cuts, (sink, applied, at) => {
        const bytes = Buffer.concat(applied.map((a) => encodeSinkTxnAck(sink, a)));
        const parser = new SinkAckParser(sink);
        const seen: (number | null)[] = [];
        for (const chunk of split(bytes, at)) parser.push(chunk, (ack) => seen.push(ack.applied));
        expect(seen).toEqual(applied);
      }),
      { numRuns: 300 },
    );
  });

  it('holds a truncated ack until the rest arrives, reporting nothing before', () => {
    const bytes = encodeSinkTxnAck('s', 5);
    for (let n = 0; n < bytes.length; n++) {
      const parser = new SinkAckParser('s');
      const seen: unknown[] = [];
      parser.push(bytes.subarray(0, n), (a) => seen.push(a));
      expect(seen).toEqual([]);
      parser.push(bytes.subarray(n), (a) => seen.push(a.applied));
      expect(seen).toEqual([5]);
    }
  });

  it('on garbage throws only RooError, then is fail-stop', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const parser = new SinkAckParser('s');
        let failure: unknown;
        try {
          parser.push(Buffer.from(bytes), () => undefined);
        } catch (e) {
          failure = e;
        }
        if (failure === undefined) return;
        expect(failure).toBeInstanceOf(RooError);
        expect(thrown(() => parser.push(encodeSinkTxnAck('s', 1), () => undefined))).toBe(failure);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses an ack of another sink, and the messages that go the other way', () => {
    const cases: [Buffer, RegExp][] = [
      [encodeSinkTxnAck('t', 1), /acknowledged sink "t" on the connection of sink "s"/],
      [encodeSinkTxnHeader(1, 0), /sent a 'txn'/],
      [encodeSinkTxnHello('s').subarray(SINK_TXN_MAGIC.length), /sent a 'hello'/],
      [encodeFrame(Buffer.alloc(MAX_SINK_TXN_MESSAGE_BYTES + 1)), /exceeds the maximum/],
    ];
    for (const [bytes, pattern] of cases) {
      const parser = new SinkAckParser('s');
      const e = thrown(() => parser.push(bytes, () => undefined));
      expect(e).toBeInstanceOf(RooError);
      expect((e as RooError).message).toMatch(pattern);
    }
  });
});
