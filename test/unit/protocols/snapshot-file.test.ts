import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ErrorCode, RooError } from '../../../protocols/errors.js';
import {
  checkSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_MAGIC,
  SNAPSHOT_READ_VERSIONS,
  type Snapshot,
} from '../../../protocols/snapshot-file.js';

/** Packs raw values the way a damaged or foreign writer might, to build malformed files. */
const packr = new Packr({ useRecords: false });
const pack = (value: unknown): Uint8Array => new Uint8Array(packr.pack(value));

/**
 * Lays out a file around arbitrary header and body bytes with a valid
 * checksum, so the content checks are reached (the checksum cannot catch a
 * writer that wrote the wrong thing).
 */
function file(header: Uint8Array, body: Uint8Array, version = SNAPSHOT_FORMAT_VERSION): Uint8Array {
  const size = 8 + 2 + 4 + header.length + 4 + body.length;
  const out = new Uint8Array(size + 32);
  const view = new DataView(out.buffer);
  out.set(SNAPSHOT_MAGIC, 0);
  view.setUint16(8, version);
  view.setUint32(10, header.length);
  out.set(header, 14);
  view.setUint32(14 + header.length, body.length);
  out.set(body, 18 + header.length);
  out.set(createHash('sha256').update(out.subarray(0, size)).digest(), size);
  return out;
}

const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const id = name.filter((s) => s !== '__proto__');
const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const position = fc.oneof(
  fc.nat(),
  fc.string(),
  fc.record({ file: fc.string(), offset: fc.maxSafeNat() }),
);
const state = fc.uint8Array({ maxLength: 200 });

/**
 * Snapshots with up to `maxItems` of each thing; with `placed`, a thread
 * count and each key group's thread below it (format 2's placement), else
 * neither (as a format 1 file holds).
 */
function snapshotOf(
  maxItems: number,
  stateBytes: fc.Arbitrary<Uint8Array>,
  placed: boolean,
): fc.Arbitrary<Snapshot> {
  const threads = placed ? fc.integer({ min: 1, max: 64 }) : fc.constant(undefined);
  return threads.chain((n) => {
    const keyGroup =
      n === undefined
        ? fc.record({ keyGroup: count, entities: count, state: stateBytes })
        : fc.record({
            keyGroup: count,
            entities: count,
            state: stateBytes,
            thread: fc.nat({ max: n - 1 }),
          });
    const partition = fc.record({
      name,
      keyGroups: fc.uniqueArray(keyGroup, { selector: (g) => g.keyGroup, maxLength: maxItems }),
    });
    return fc
      .record({
        application: name,
        applicationHash: fc.stringMatching(/^[0-9a-f]{1,64}$/),
        worker: name,
        checkpointId: count,
        createdAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        sources: fc.dictionary(id, position, { maxKeys: maxItems }),
        partitions: fc.uniqueArray(partition, { selector: (p) => p.name, maxLength: maxItems }),
        sinks: fc.dictionary(id, position, { maxKeys: maxItems }),
      })
      .map((s): Snapshot => (n === undefined ? s : { ...s, threads: n }));
  });
}

const unplacedSnapshot = snapshotOf(4, state, false);
const snapshot = fc.oneof(snapshotOf(4, state, true), unplacedSnapshot);
/** Small snapshots: every prefix and every byte of them is tried. */
const smallSnapshot = fc.oneof(
  snapshotOf(2, fc.uint8Array({ maxLength: 6 }), true),
  snapshotOf(2, fc.uint8Array({ maxLength: 6 }), false),
);

const sample: Snapshot = {
  application: 'word-count',
  applicationHash: 'abc123',
  worker: 'worker-2',
  checkpointId: 7,
  createdAt: '2024-05-01T12:00:00.000Z',
  sources: { 'source-0': { file: 'words.txt', offset: 1234 } },
  partitions: [
    {
      name: 'word-totals',
      keyGroups: [{ keyGroup: 3, entities: 1, state: Uint8Array.of(1, 2) }],
    },
  ],
  sinks: { 'sink-0': { written: 99 } },
};
/** The sample with its placement: two threads, its one group on thread 1. */
const placedSample: Snapshot = {
  ...sample,
  threads: 2,
  partitions: [
    {
      name: 'word-totals',
      keyGroups: [{ keyGroup: 3, entities: 1, state: Uint8Array.of(1, 2), thread: 1 }],
    },
  ],
};
const sampleHeader = {
  application: sample.application,
  applicationHash: sample.applicationHash,
  worker: sample.worker,
  checkpointId: sample.checkpointId,
  createdAt: sample.createdAt,
};
const sampleBody = { sources: sample.sources, partitions: sample.partitions, sinks: sample.sinks };

/** Runs `f` and returns what it threw (fails the test if it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  expect.fail('expected a throw');
}

function expectCode(f: () => unknown, code: string, message?: RegExp): RooError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  if (message !== undefined) expect((e as RooError).message).toMatch(message);
  return e as RooError;
}

const corrupt = (bytes: Uint8Array, message?: RegExp): RooError =>
  expectCode(() => decodeSnapshot(bytes), ErrorCode.SnapshotCorrupt, message);

describe('snapshot file', () => {
  it('starts with the magic and the format version', () => {
    const bytes = encodeSnapshot(sample);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('ROOSNAP\0');
    expect(new DataView(bytes.buffer).getUint16(8)).toBe(2);
    expect(SNAPSHOT_FORMAT_VERSION).toBe(2);
  });

  it("carries the placement: the thread count and each key group's thread", () => {
    const decoded = decodeSnapshot(encodeSnapshot(placedSample));
    expect(decoded.threads).toBe(2);
    expect(decoded.partitions[0]!.keyGroups[0]!.thread).toBe(1);
    expect(decoded).toEqual(placedSample);
    // Without a placement, neither field is there after a round trip.
    const plain = decodeSnapshot(encodeSnapshot(sample));
    expect('threads' in plain).toBe(false);
    expect('thread' in plain.partitions[0]!.keyGroups[0]!).toBe(false);
  });

  it('reads a format 1 file (no placement), as written before version 2', () => {
    expect(SNAPSHOT_READ_VERSIONS).toEqual([1, 2]);
    expect(decodeSnapshot(file(pack(sampleHeader), pack(sampleBody), 1))).toEqual(sample);
    fc.assert(
      fc.property(unplacedSnapshot, (s) => {
        const header = {
          application: s.application,
          applicationHash: s.applicationHash,
          worker: s.worker,
          checkpointId: s.checkpointId,
          createdAt: s.createdAt,
        };
        const body = { sources: s.sources, partitions: s.partitions, sinks: s.sinks };
        expect(decodeSnapshot(file(pack(header), pack(body), 1))).toEqual(s);
      }),
      { numRuns: 100 },
    );
  });

  it("refuses a format 1 file with format 2's fields: they are not its own", () => {
    const group = placedSample.partitions[0]!.keyGroups[0]!;
    corrupt(
      file(pack(sampleHeader), pack({ ...sampleBody, threads: 2 }), 1),
      /unexpected field "threads" in body/,
    );
    corrupt(
      file(
        pack(sampleHeader),
        pack({ ...sampleBody, partitions: [{ name: 'p', keyGroups: [group] }] }),
        1,
      ),
      /unexpected field "thread" in partitions\[0\]\.keyGroups\[0\]/,
    );
  });

  it('round-trips arbitrary snapshots', () => {
    fc.assert(
      fc.property(snapshot, (s) => {
        const decoded = decodeSnapshot(encodeSnapshot(s));
        expect(decoded).toEqual(s);
        for (const p of decoded.partitions) {
          for (const g of p.keyGroups) {
            expect(Object.getPrototypeOf(g.state)).toBe(Uint8Array.prototype);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('carries a key group state of any size byte for byte (bin8, bin16 and bin32)', () => {
    for (const size of [0, 255, 256, 65_535, 65_536, 300_000]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff);
      const s: Snapshot = {
        ...sample,
        partitions: [{ name: 'p', keyGroups: [{ keyGroup: 0, entities: size, state: bytes }] }],
      };
      expect(decodeSnapshot(encodeSnapshot(s)).partitions[0]!.keyGroups[0]!.state).toEqual(bytes);
    }
  });

  it('decodes from a view into a larger buffer, and state does not alias it', () => {
    const bytes = encodeSnapshot(sample);
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 10);
    const decoded = decodeSnapshot(big.subarray(10, 10 + bytes.length));
    expect(decoded).toEqual(sample);
    big.fill(0);
    expect(decoded.partitions[0]!.keyGroups[0]!.state).toEqual(Uint8Array.of(1, 2));
  });

  it('refuses every truncation with ROO_ERR_SNAPSHOT_CORRUPT', () => {
    fc.assert(
      fc.property(smallSnapshot, (s) => {
        const bytes = encodeSnapshot(s);
        for (let n = 0; n < bytes.length; n++) corrupt(bytes.subarray(0, n));
      }),
      { numRuns: 30 },
    );
    corrupt(encodeSnapshot(sample).subarray(0, 60), /truncated/);
  });

  it('refuses padding after the checksum', () => {
    const bytes = encodeSnapshot(sample);
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes);
    corrupt(padded, /1 more/);
  });

  it('refuses any single flipped byte', () => {
    fc.assert(
      fc.property(smallSnapshot, fc.nat(), fc.integer({ min: 1, max: 255 }), (s, at, mask) => {
        const bytes = encodeSnapshot(s);
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ mask;
        // The version field is read before anything it governs: a flip there is another
        // version, refused as such unless it is one read, whose checksum then fails.
        const version = (bytes[8]! << 8) | bytes[9]!;
        const code =
          (i === 8 || i === 9) && !SNAPSHOT_READ_VERSIONS.includes(version)
            ? ErrorCode.BadVersion
            : ErrorCode.SnapshotCorrupt;
        expectCode(() => decodeSnapshot(bytes), code);
      }),
      { numRuns: 500 },
    );
  });

  it('checkSnapshot: passes every whole file with its header, refuses what decodeSnapshot refuses in its framing', () => {
    fc.assert(
      fc.property(smallSnapshot, fc.nat(), fc.integer({ min: 1, max: 255 }), (s, at, mask) => {
        const bytes = encodeSnapshot(s);
        expect(checkSnapshot(bytes)).toEqual({
          application: s.application,
          applicationHash: s.applicationHash,
          worker: s.worker,
          checkpointId: s.checkpointId,
          createdAt: s.createdAt,
        });
        // Cut short, or one byte flipped anywhere (the body too: the checksum covers it).
        expect(thrown(() => checkSnapshot(bytes.subarray(0, at % bytes.length)))).toBeInstanceOf(
          RooError,
        );
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ mask;
        const err = thrown(() => checkSnapshot(bytes)) as RooError;
        expect(err).toBeInstanceOf(RooError);
        expect([ErrorCode.SnapshotCorrupt, ErrorCode.BadVersion]).toContain(err.code);
      }),
      { numRuns: 300 },
    );
  });

  it('names a checksum mismatch as such', () => {
    const bytes = encodeSnapshot(sample);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 1;
    corrupt(bytes, /checksum mismatch/);
    const sum = encodeSnapshot(sample);
    sum[sum.length - 1] = sum[sum.length - 1]! ^ 0x80;
    corrupt(sum, /checksum mismatch/);
  });

  it('refuses a file that is not a snapshot', () => {
    corrupt(
      new TextEncoder().encode('hello world, this is not a snapshot file at all'),
      /not a snapshot file/,
    );
    corrupt(new Uint8Array(0), /not a snapshot file/);
  });

  it('on garbage throws only ROO_ERR_SNAPSHOT_CORRUPT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        corrupt(bytes);
      }),
      { numRuns: 300 },
    );
    // Garbage after a valid magic and version reaches the length and checksum checks.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        const bytes = new Uint8Array(10 + tail.length);
        bytes.set(SNAPSHOT_MAGIC);
        bytes[9] = SNAPSHOT_FORMAT_VERSION;
        bytes.set(tail, 10);
        corrupt(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses another format version with ROO_ERR_BAD_VERSION', () => {
    for (const version of [0, 3, 0xffff]) {
      const e = expectCode(
        () => decodeSnapshot(file(pack(sampleHeader), pack(sampleBody), version)),
        ErrorCode.BadVersion,
        new RegExp(`version ${version} is not supported \\(this worker reads versions 1 and 2\\)`),
      );
      expect(e.details).toEqual({ version, supported: [1, 2] });
    }
  });

  it('refuses impossible lengths', () => {
    const bytes = encodeSnapshot(sample);
    new DataView(bytes.buffer).setUint32(10, 0xffff_ffff);
    corrupt(bytes, /header length 4294967295 is more than/);
  });

  it('refuses a checksummed file whose header or body is malformed', () => {
    const withHeader = (h: unknown) => file(pack(h), pack(sampleBody));
    const withBody = (b: unknown) => file(pack(sampleHeader), pack(b));
    const group = sample.partitions[0]!.keyGroups[0]!;
    const withKeyGroup = (g: unknown) =>
      withBody({ ...sampleBody, partitions: [{ name: 'p', keyGroups: [g] }] });
    const cases: [Uint8Array, RegExp][] = [
      [file(Uint8Array.of(0x92, 0x01), pack(sampleBody)), /header is not valid msgpack/],
      [file(Uint8Array.of(0x01, 0x02), pack(sampleBody)), /header is not valid msgpack/],
      [file(Uint8Array.of(0xc1), pack(sampleBody)), /header must be a map/],
      [file(pack(sampleHeader), Uint8Array.of()), /body is not valid msgpack/],
      [withHeader([1, 2]), /header must be a map/],
      [withHeader({ ...sampleHeader, extra: 1 }), /unexpected field "extra" in header/],
      [withHeader({ ...sampleHeader, checkpointId: -1 }), /'checkpointId'/],
      [withHeader({ ...sampleHeader, checkpointId: 1.5 }), /'checkpointId'/],
      [withHeader({ ...sampleHeader, worker: '' }), /'worker' must be a non-empty string/],
      [withHeader({ ...sampleHeader, createdAt: 'yesterday' }), /'createdAt' must be an ISO time/],
      [withHeader({ ...sampleHeader, application: undefined }), /'application'/],
      [withBody({ ...sampleBody, extra: 1 }), /unexpected field "extra" in body/],
      [withBody({ ...sampleBody, threads: 0 }), /'threads' must be at least 1/],
      [withBody({ ...sampleBody, threads: -1 }), /'threads' must be a non-negative/],
      [withBody({ ...sampleBody, threads: 1.5 }), /'threads' must be a non-negative/],
      [withBody({ ...sampleBody, threads: '2' }), /'threads' must be a non-negative/],
      [
        withBody({ ...sampleBody, threads: 2 }),
        /'partitions\[0\]\.keyGroups\[0\]\.thread' is missing/,
      ],
      [
        withKeyGroup({ ...group, thread: 0 }),
        /thread' is given, but the snapshot has no 'threads'/,
      ],
      [
        withBody({
          ...sampleBody,
          threads: 2,
          partitions: [{ name: 'p', keyGroups: [{ ...group, thread: 2 }] }],
        }),
        /keyGroups\[0\]\.thread' is 2, but the snapshot has 2 threads/,
      ],
      [
        withBody({
          ...sampleBody,
          threads: 2,
          partitions: [{ name: 'p', keyGroups: [{ ...group, thread: -1 }] }],
        }),
        /keyGroups\[0\]\.thread' must be a non-negative/,
      ],
      [withBody({ ...sampleBody, sources: [] }), /'sources' must be a map/],
      [withBody({ ...sampleBody, partitions: {} }), /'partitions' must be an array/],
      [
        withBody({ ...sampleBody, partitions: [sample.partitions[0], sample.partitions[0]] }),
        /partition "word-totals" appears twice/,
      ],
      [
        withBody({ ...sampleBody, partitions: [{ name: 'p', keyGroups: [group, group] }] }),
        /key group 3 of partition "p" appears twice/,
      ],
      [withKeyGroup({ ...group, state: 'text' }), /keyGroups\[0\]\.state' must be binary/],
      [withKeyGroup({ ...group, state: [1, 2] }), /keyGroups\[0\]\.state' must be binary/],
      [withKeyGroup({ ...group, state: undefined }), /keyGroups\[0\]\.state' must be binary/],
      [
        withKeyGroup({ ...group, entities: -1 }),
        /keyGroups\[0\]\.entities' must be a non-negative/,
      ],
      [
        withKeyGroup({ ...group, entities: 2.5 }),
        /keyGroups\[0\]\.entities' must be a non-negative/,
      ],
      [
        withKeyGroup({ ...group, entities: '3' }),
        /keyGroups\[0\]\.entities' must be a non-negative/,
      ],
      [
        withKeyGroup({ ...group, keyGroup: -1 }),
        /keyGroups\[0\]\.keyGroup' must be a non-negative/,
      ],
      [
        withKeyGroup({ keyGroup: 3, entities: 1, state: group.state, entries: [] }),
        /unexpected field "entries" in partitions\[0\]\.keyGroups\[0\]/,
      ],
      [
        // The format before key groups were encoded in one piece: refused, not misread.
        withKeyGroup({ keyGroup: 3, entries: [['hello', Uint8Array.of(1, 2)]] }),
        /unexpected field "entries"/,
      ],
      [withKeyGroup([3, 1, group.state]), /keyGroups\[0\] must be a map/],
      [
        withBody({ ...sampleBody, partitions: [{ name: 'p', keyGroups: {} }] }),
        /keyGroups' must be an array/,
      ],
      [
        withBody({ ...sampleBody, partitions: [{ name: '', keyGroups: [] }] }),
        /'partitions\[0\]\.name' must be a non-empty string/,
      ],
      [
        withBody({ ...sampleBody, partitions: [{ name: 'p', keyGroups: [], extra: 1 }] }),
        /unexpected field "extra" in partitions\[0\]/,
      ],
    ];
    for (const [bytes, message] of cases) corrupt(bytes, message);
  });

  it('refuses to encode an invalid snapshot with ROO_ERR_SNAPSHOT_ENCODE_FAILED', () => {
    const withGroup = (g: Snapshot['partitions'][number]['keyGroups'][number]): Snapshot => ({
      ...sample,
      partitions: [{ name: 'p', keyGroups: [g] }],
    });
    const bad: [Snapshot, RegExp][] = [
      [{ ...sample, checkpointId: -1 }, /'checkpointId'/],
      [{ ...sample, createdAt: '2024-05-01' }, /'createdAt'/],
      [{ ...sample, application: '' }, /'application'/],
      [{ ...sample, worker: '\uD800' }, /well-formed/],
      [
        { ...sample, sources: JSON.parse('{"__proto__": 1}') as Record<string, unknown> },
        /__proto__/,
      ],
      [{ ...sample, partitions: [sample.partitions[0]!, sample.partitions[0]!] }, /appears twice/],
      [withGroup({ keyGroup: 3, entities: -1, state: new Uint8Array() }), /'.*entities'/],
      [withGroup({ keyGroup: 3, entities: 1, state: [1] as unknown as Uint8Array }), /binary/],
      [withGroup({ keyGroup: 3, entities: 1, state: new Uint8Array(), thread: 0 }), /no 'threads'/],
      [{ ...placedSample, threads: 1 }, /thread' is 1, but the snapshot has 1 threads/],
      [{ ...sample, threads: 1 }, /thread' is missing/],
      [{ ...placedSample, threads: 0 }, /'threads' must be at least 1/],
      [
        {
          ...sample,
          partitions: [
            {
              name: 'p',
              keyGroups: [
                { keyGroup: 1, entities: 0, state: new Uint8Array() },
                { keyGroup: 1, entities: 0, state: new Uint8Array() },
              ],
            },
          ],
        },
        /key group 1 of partition "p" appears twice/,
      ],
    ];
    for (const [s, message] of bad) {
      expectCode(() => encodeSnapshot(s), ErrorCode.SnapshotEncodeFailed, message);
    }
  });

  it('returns a buffer of its own, exactly the file size', () => {
    const a = encodeSnapshot(sample);
    const b = encodeSnapshot({ ...sample, checkpointId: 8 });
    expect(a.byteLength).toBe(a.buffer.byteLength);
    expect(decodeSnapshot(a).checkpointId).toBe(7);
    expect(decodeSnapshot(b).checkpointId).toBe(8);
  });
});
