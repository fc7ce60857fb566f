import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  ErrorCode,
  RooError,
  validateControlMessage,
  type WorkerDirectory,
} from '../../../protocols/index.js';

/** Packs raw values the way a peer would, to build malformed messages. */
const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

const version = fc.constant(CONTROL_PROTOCOL_VERSION);
const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const workerName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/);
const address = fc.record({
  host: fc.oneof(fc.ipV4(), fc.domain(), fc.constantFrom('localhost', '::1', 'fe80::1%eth0')),
  port: fc.integer({ min: 1, max: 65535 }),
});
const threads = fc.integer({ min: 1, max: 64 });
const indexKey = fc.oneof(fc.nat({ max: 2000 }), fc.maxSafeNat()).map(String);
const directory: fc.Arbitrary<WorkerDirectory> = fc.record({
  keyGroups: fc.array(fc.dictionary(indexKey, count, { maxKeys: 6 }), { maxLength: 3 }),
  parallel: fc.dictionary(indexKey, fc.array(count, { maxLength: 4 }), { maxKeys: 3 }),
  sinkWriters: fc.dictionary(indexKey, count, { maxKeys: 3 }),
  sources: fc.dictionary(indexKey, count, { maxKeys: 3 }),
});
// `external` is optional: members and hellos come with and without it.
const member = fc.record(
  { name: workerName, threads, control: address, data: address, external: address },
  { requiredKeys: ['name', 'threads', 'control', 'data'] },
);

const hello = fc.record(
  {
    type: fc.constant('hello' as const),
    version,
    name: workerName,
    application: text,
    applicationHash: fc.stringMatching(/^[0-9a-f]{8,64}$/),
    threads,
    control: address,
    data: address,
    rejoin: fc.boolean(),
    joinRunning: fc.boolean(),
    joinCount: fc.nat(),
    restorable: fc.array(count, { maxLength: 3 }),
    external: address,
  },
  {
    requiredKeys: [
      'type',
      'version',
      'name',
      'application',
      'applicationHash',
      'threads',
      'control',
      'data',
      'rejoin',
      'joinRunning',
      'joinCount',
      'restorable',
    ],
  },
);
const refuse = fc.record({
  type: fc.constant('refuse' as const),
  version,
  code: fc.constantFrom(...Object.values(ErrorCode)),
  message: text,
});
const assign = fc
  .uniqueArray(member, { selector: (m) => m.name, minLength: 1, maxLength: 4 })
  .chain((members) => {
    const owner = fc.nat({ max: members.length - 1 });
    return fc.record({
      type: fc.constant('assign' as const),
      version,
      clusterId: text,
      workerIndex: owner,
      generation: fc.nat(),
      members: fc.constant(members),
      routing: fc.record({
        version: count,
        partitions: fc.uniqueArray(
          fc.record({ name: text, owners: fc.array(owner, { minLength: 1, maxLength: 16 }) }),
          { selector: (p) => p.name, maxLength: 3 },
        ),
      }),
    });
  });
const spawned = fc.record({
  type: fc.constant('spawned' as const),
  version,
  name: workerName,
  directory,
});
const wire = fc.record({
  type: fc.constant('wire' as const),
  version,
  directory: fc.array(directory, { minLength: 1, maxLength: 3 }),
});
const named = (type: 'wired' | 'ready') =>
  fc.record({ type: fc.constant(type), version, name: workerName });
const start = fc.record({ type: fc.constant('start' as const), version });
const shutdown = fc.record({ type: fc.constant('shutdown' as const), version, reason: text });
const probe = (type: 'ping' | 'pong') =>
  fc.record({ type: fc.constant(type), version, nonce: count });

const message: fc.Arbitrary<ControlMessage> = fc.oneof(
  hello,
  refuse,
  assign,
  spawned,
  wire,
  named('wired'),
  start,
  named('ready'),
  shutdown,
  probe('ping'),
  probe('pong'),
  fc.record({
    type: fc.constant('heartbeat' as const),
    version,
    interval: fc.oneof(
      fc.integer({ min: 1, max: 60_000 }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    ),
  }),
  fc.record({ type: fc.constant('dropped' as const), version, silentMs: count, timeoutMs: count }),
  fc.record({
    type: fc.constant('rollback' as const),
    version,
    checkpoint: count,
    generation: count,
  }),
  fc.record({ type: fc.constant('checkpoint' as const), version, id: count }),
  fc.record({ type: fc.constant('commit' as const), version, id: count }),
  fc.record({
    type: fc.constant('checkpoint-done' as const),
    version,
    name: workerName,
    id: count,
    error: fc.string({ maxLength: 40 }),
  }),
);
const KINDS = [
  'hello',
  'refuse',
  'assign',
  'spawned',
  'wire',
  'wired',
  'start',
  'ready',
  'shutdown',
  'ping',
  'pong',
  'heartbeat',
  'dropped',
  'rollback',
  'checkpoint',
  'checkpoint-done',
  'commit',
];

const addr = { host: '127.0.0.1', port: 7000 };
const dir: WorkerDirectory = {
  keyGroups: [{ '0': 5, '2': 7 }, {}],
  parallel: { '1': [1048576, 2097152] },
  sinkWriters: { '0': 3 },
  sources: { '0': 1 },
};

/** One valid message of each kind, as templates for malformed ones. */
const samples = {
  hello: {
    type: 'hello',
    version: 1,
    name: 'worker-1',
    application: 'word count',
    applicationHash: 'abc123',
    threads: 2,
    control: addr,
    data: { host: 'localhost', port: 7001 },
    rejoin: false,
    joinRunning: false,
    joinCount: 1,
    restorable: [3, 4],
  },
  refuse: { type: 'refuse', version: 1, code: 'ROO_ERR_DUPLICATE_WORKER', message: 'taken' },
  assign: {
    type: 'assign',
    version: 1,
    clusterId: 'c-1',
    workerIndex: 1,
    generation: 3,
    members: [
      { name: 'initializer', threads: 2, control: addr, data: addr },
      { name: 'worker-1', threads: 1, control: addr, data: addr },
    ],
    routing: {
      version: 1,
      partitions: [
        { name: 'counts', owners: [0, 1, 0, 1] },
        { name: 'letters', owners: [1] },
      ],
    },
  },
  spawned: { type: 'spawned', version: 1, name: 'worker-1', directory: dir },
  wire: { type: 'wire', version: 1, directory: [dir, dir] },
  wired: { type: 'wired', version: 1, name: 'worker-1' },
  start: { type: 'start', version: 1 },
  ready: { type: 'ready', version: 1, name: 'worker-1' },
  shutdown: { type: 'shutdown', version: 1, reason: 'roo shutdown' },
  ping: { type: 'ping', version: 1, nonce: 9 },
  pong: { type: 'pong', version: 1, nonce: 9 },
  heartbeat: { type: 'heartbeat', version: 1, interval: 1000 },
  dropped: { type: 'dropped', version: 1, silentMs: 5120, timeoutMs: 5000 },
  rollback: { type: 'rollback', version: 1, checkpoint: 4, generation: 77 },
  checkpoint: { type: 'checkpoint', version: 1, id: 5 },
  'checkpoint-done': { type: 'checkpoint-done', version: 1, name: 'worker-1', id: 5, error: '' },
  commit: { type: 'commit', version: 1, id: 5 },
} satisfies Record<string, ControlMessage>;
const sampleList: readonly ControlMessage[] = Object.values(samples);

/** A deep copy of `m` with the field at `path` (dot-separated) set to `value`. */
function withField(m: object, path: string, value: unknown): unknown {
  const copy = structuredClone(m) as Record<string, unknown>;
  const keys = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys[keys.length - 1]!] = value;
  return copy;
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

function expectCode(f: () => unknown, code: string): RooError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(RooError);
  expect((e as RooError).code).toBe(code);
  return e as RooError;
}

/**
 * Decoding arbitrary bytes may only throw a RooError, or return a message that
 * is valid and survives its own round trip (never a half-checked value).
 */
function decodeOrRooError(bytes: Uint8Array): void {
  let decoded: ControlMessage;
  try {
    decoded = decodeControlMessage(bytes);
  } catch (e) {
    if (!(e instanceof RooError)) expect.fail(`threw ${String(e)}`);
    expect([ErrorCode.BadMessage, ErrorCode.BadVersion]).toContain(e.code);
    return;
  }
  expect(validateControlMessage(decoded)).toEqual(decoded);
  expect(decodeControlMessage(encodeControlMessage(decoded))).toEqual(decoded);
}

describe('control message codec', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeControlMessage(encodeControlMessage(m))).toEqual(m);
      }),
      { numRuns: 300 },
    );
    for (const m of sampleList) expect(decodeControlMessage(encodeControlMessage(m))).toEqual(m);
  });

  it('returns an encoding of exact size that the next encode does not overwrite', () => {
    fc.assert(
      fc.property(message, message, (a, b) => {
        const first = encodeControlMessage(a);
        const copy = Uint8Array.from(first);
        encodeControlMessage(b);
        expect(first).toEqual(copy);
        expect(first.byteOffset).toBe(0);
        expect(first.buffer.byteLength).toBe(first.length);
      }),
      { numRuns: 100 },
    );
  });

  it('decodes from a view into a larger buffer', () => {
    fc.assert(
      fc.property(message, fc.uint8Array(), fc.uint8Array(), (m, before, after) => {
        const encoded = encodeControlMessage(m);
        const whole = new Uint8Array(before.length + encoded.length + after.length);
        whole.set(before);
        whole.set(encoded, before.length);
        whole.set(after, before.length + encoded.length);
        const view = whole.subarray(before.length, before.length + encoded.length);
        expect(decodeControlMessage(view)).toEqual(m);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses every truncated encoding with a RooError', () => {
    fc.assert(
      fc.property(message, (m) => {
        const encoded = encodeControlMessage(m);
        for (let n = 0; n < encoded.length; n++) {
          let outcome: unknown = 'returned';
          try {
            decodeControlMessage(encoded.subarray(0, n));
          } catch (e) {
            outcome = e;
          }
          // Checked by hand first: thousands of prefixes, and expect() is slow.
          if (!(outcome instanceof RooError && outcome.code === ErrorCode.BadMessage)) {
            expect.fail(`prefix of ${n}/${encoded.length} bytes gave ${String(outcome)}`);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an encoding followed by extra bytes', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 20 }), (m, extra) => {
        const encoded = encodeControlMessage(m);
        const padded = new Uint8Array(encoded.length + extra.length);
        padded.set(encoded);
        padded.set(extra, encoded.length);
        expectCode(() => decodeControlMessage(padded), ErrorCode.BadMessage);
      }),
      { numRuns: 100 },
    );
  });

  it('on garbage bytes throws only RooError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodeOrRooError), {
      numRuns: 1000,
    });
  });

  it('on a corrupted encoding throws only RooError', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, flip) => {
        const encoded = encodeControlMessage(m);
        const i = at % encoded.length;
        encoded[i] = encoded[i]! ^ flip;
        decodeOrRooError(encoded);
      }),
      { numRuns: 600 },
    );
  });

  it('on any other msgpack value throws only RooError', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withTypedArray: true, withDate: true }), (x) => {
        decodeOrRooError(pack(x));
      }),
      { numRuns: 300 },
    );
    // Shaped like a message, with anything in one field.
    fc.assert(
      fc.property(
        fc.constantFrom(...sampleList),
        fc.string(),
        fc.anything({ withBigInt: true }),
        (m, key, x) => {
          decodeOrRooError(pack({ ...m, [key]: x }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses another version with ROO_ERR_BAD_VERSION, saying who sent it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...sampleList),
        fc
          .oneof(fc.nat({ max: 10 }), fc.maxSafeNat())
          .filter((v) => v !== CONTROL_PROTOCOL_VERSION),
        (m, v) => {
          const e = expectCode(
            () => decodeControlMessage(pack({ ...m, version: v })),
            ErrorCode.BadVersion,
          );
          expect(e.message).toContain(String(v));
          expect(e.details).toMatchObject({ version: v, supported: 1, type: m.type });
        },
      ),
    );
    const e = expectCode(
      () => decodeControlMessage(pack({ ...samples.hello, version: 2, threads: 'many' })),
      ErrorCode.BadVersion,
    );
    expect(e.details).toMatchObject({ name: 'worker-1', type: 'hello' });
    // A future version may bring kinds this one does not know: still a version error.
    expectCode(
      () => decodeControlMessage(pack({ type: 'grow', version: 2 })),
      ErrorCode.BadVersion,
    );
  });

  it('refuses a version that is not a count with ROO_ERR_BAD_MESSAGE', () => {
    for (const v of [undefined, null, '1', 1.5, -1, true, [1], Number.NaN]) {
      expectCode(
        () => decodeControlMessage(pack({ ...samples.start, version: v })),
        ErrorCode.BadMessage,
      );
    }
  });

  it('refuses an unknown type with ROO_ERR_BAD_MESSAGE', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string().filter((t) => !KINDS.includes(t)),
          fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', 'batch'),
        ),
        (t) => {
          const e = expectCode(
            () => decodeControlMessage(pack({ type: t, version: 1 })),
            ErrorCode.BadMessage,
          );
          expect(e.message).toContain('unknown control message type');
        },
      ),
    );
    expectCode(() => decodeControlMessage(pack({ version: 1 })), ErrorCode.BadMessage);
    expectCode(() => decodeControlMessage(pack({ type: 3, version: 1 })), ErrorCode.BadMessage);
  });

  it('refuses a top-level value that is not a map', () => {
    for (const v of [null, 1, 'start', [samples.start], true, Uint8Array.of(1), new Date(0)]) {
      expectCode(() => decodeControlMessage(pack(v)), ErrorCode.BadMessage);
    }
  });
});

describe('control message deep validation', () => {
  const badCounts: unknown[] = [
    -1,
    1.5,
    Number.NaN,
    Infinity,
    2 ** 53,
    '3',
    null,
    2n ** 60n,
    undefined,
    [1],
    {},
  ];
  const badNames: unknown[] = [
    '',
    7,
    null,
    undefined,
    ['a'],
    'a\uD800',
    '../etc',
    '-x',
    'a b',
    'x'.repeat(65),
  ];
  const badTexts: unknown[] = ['', 7, null, undefined, {}, 'a\uDC00b', true];
  const badAddresses: unknown[] = [
    null,
    '127.0.0.1:7000',
    [addr],
    { host: '127.0.0.1' },
    { port: 7000 },
    { ...addr, name: 'w' },
    { host: '', port: 7000 },
    { host: 'a b', port: 7000 },
    { host: 'h\u00e9', port: 7000 },
    { host: 'h'.repeat(254), port: 7000 },
    { host: 7, port: 7000 },
    { ...addr, port: 0 },
    { ...addr, port: 65536 },
    { ...addr, port: -1 },
    { ...addr, port: 70.5 },
    { ...addr, port: '7000' },
  ];
  const badDirectories: unknown[] = [
    null,
    [],
    { ...dir, extra: 1 },
    { keyGroups: dir.keyGroups, parallel: dir.parallel },
    { ...dir, keyGroups: {} },
    { ...dir, keyGroups: [[5]] },
    { ...dir, keyGroups: [{ '01': 5 }] },
    { ...dir, keyGroups: [{ '-1': 5 }] },
    { ...dir, keyGroups: [{ '1.5': 5 }] },
    { ...dir, keyGroups: [{ x: 5 }] },
    { ...dir, keyGroups: [{ '9007199254740992': 5 }] },
    { ...dir, keyGroups: [{ '0': -5 }] },
    { ...dir, keyGroups: [{ '0': Number.NaN }] },
    { ...dir, keyGroups: [{ '0': '5' }] },
    { ...dir, keyGroups: [null] },
    { ...dir, parallel: { '0': 5 } },
    { ...dir, parallel: { '0': [1, -1] } },
    { ...dir, parallel: { '0': [1.5] } },
    { ...dir, parallel: { a: [1] } },
    { ...dir, parallel: [] },
    { ...dir, sinkWriters: { '0': [1] } },
    { ...dir, sinkWriters: { '0': -1 } },
    { ...dir, sinkWriters: null },
  ];

  /** [template, dot path of the field, bad values, text the error must contain] */
  const cases: [ControlMessage, string, readonly unknown[], string][] = [
    [samples.hello, 'name', badNames, "'name'"],
    [samples.hello, 'application', badTexts, "'application'"],
    [samples.hello, 'applicationHash', badTexts, "'applicationHash'"],
    [samples.hello, 'threads', [...badCounts, 0], "'threads'"],
    [samples.hello, 'control', badAddresses, "'control"],
    [samples.hello, 'data', badAddresses, "'data"],
    [samples.hello, 'rejoin', [0, 1, 'true', null, undefined], "'rejoin'"],
    [samples.hello, 'joinRunning', [0, 'false', null, undefined], "'joinRunning'"],
    [samples.refuse, 'code', ['ROO_ERR_NOPE', 'BAD_MESSAGE', '', 3, null], "'code'"],
    [samples.refuse, 'message', badTexts, "'message'"],
    [samples.assign, 'clusterId', badTexts, "'clusterId'"],
    [samples.assign, 'workerIndex', [...badCounts, 2, 3], "'workerIndex'"],
    [samples.assign, 'members', [null, [], {}, [null], 'x'], "'members"],
    [samples.assign, 'members.1.name', [...badNames, 'initializer'], "'members[1].name'"],
    [samples.assign, 'members.1.threads', [...badCounts, 0], "'members[1].threads'"],
    [samples.assign, 'members.1.control', badAddresses, "'members[1].control"],
    [samples.assign, 'members.0.data', badAddresses, "'members[0].data"],
    [samples.assign, 'members.0.extra', [1], 'extra'],
    [samples.assign, 'routing', [null, [], 'x', { version: 1 }], "'routing"],
    [samples.assign, 'routing.version', badCounts, "'routing.version'"],
    [samples.assign, 'routing.extra', [1], 'extra'],
    [samples.assign, 'routing.partitions', [null, {}, [null], [[0, 1]]], "'routing.partitions"],
    [
      samples.assign,
      'routing.partitions.1.name',
      [...badTexts, 'counts'],
      "'routing.partitions[1].name'",
    ],
    [
      samples.assign,
      'routing.partitions.0.owners',
      [null, [], {}, [0, 2], [0, -1], [0, 0.5], ['0']],
      "'routing.partitions[0].owners",
    ],
    [samples.assign, 'routing.partitions.0.extra', [1], 'extra'],
    [samples.spawned, 'name', badNames, "'name'"],
    [samples.spawned, 'directory', badDirectories, "'directory"],
    [samples.wire, 'directory', [null, [], {}, 'x', [null], [dir, 5]], "'directory"],
    [samples.wire, 'directory.1', badDirectories, "'directory[1]"],
    [samples.wired, 'name', badNames, "'name'"],
    [samples.ready, 'name', badNames, "'name'"],
    [samples.shutdown, 'reason', badTexts, "'reason'"],
    [samples.ping, 'nonce', badCounts, "'nonce'"],
    [samples.pong, 'nonce', badCounts, "'nonce'"],
    [samples.heartbeat, 'interval', [...badCounts, 0], "'interval'"],
    [samples.dropped, 'silentMs', badCounts, "'silentMs'"],
    [samples.dropped, 'timeoutMs', badCounts, "'timeoutMs'"],
  ];

  it('refuses a bad value anywhere, with a message naming the field', () => {
    for (const [m, path, values, mention] of cases) {
      for (const v of values) {
        // msgpack cannot carry a lone surrogate (it arrives as U+FFFD): only the encoder sees one.
        if (typeof v !== 'string' || v.isWellFormed()) {
          let e: unknown = 'nothing thrown';
          try {
            decodeControlMessage(pack(withField(m, path, v)));
          } catch (err) {
            e = err;
          }
          if (!(e instanceof RooError) || e.code !== ErrorCode.BadMessage) {
            expect.fail(`${m.type} ${path} = ${String(v)} gave ${String(e)}`);
          }
          expect(e.message).toContain(mention);
        }
        // The encoder applies the same checks (a structured clone keeps what pack dropped).
        expectCode(
          () => encodeControlMessage(withField(m, path, v) as ControlMessage),
          ErrorCode.BadMessage,
        );
      }
    }
  });

  it('refuses a field that does not belong to the kind, at any level', () => {
    for (const m of sampleList) {
      const e = expectCode(
        () => decodeControlMessage(pack({ ...m, extra: 1 })),
        ErrorCode.BadMessage,
      );
      expect(e.message).toContain('extra');
    }
    expectCode(
      () => decodeControlMessage(pack({ ...samples.start, name: 'w' })),
      ErrorCode.BadMessage,
    );
    expectCode(
      () => decodeControlMessage(pack({ ...samples.ping, reason: 'x' })),
      ErrorCode.BadMessage,
    );
    expectCode(
      () => decodeControlMessage(pack(withField(samples.hello, 'control.extra', 1))),
      ErrorCode.BadMessage,
    );
    expectCode(
      () => decodeControlMessage(pack(withField(samples.spawned, 'directory.extra', {}))),
      ErrorCode.BadMessage,
    );
  });

  it('refuses a missing field of every kind', () => {
    for (const m of sampleList) {
      for (const key of Object.keys(m)) {
        const copy: Record<string, unknown> = { ...m };
        delete copy[key];
        expectCode(() => decodeControlMessage(pack(copy)), ErrorCode.BadMessage);
      }
    }
  });
});

describe('validateControlMessage', () => {
  it('returns a fresh deep copy of a valid message', () => {
    fc.assert(
      fc.property(message, (m) => {
        const v = validateControlMessage(m);
        expect(v).toEqual(m);
        expect(v).not.toBe(m);
        if (v.type === 'spawned' && m.type === 'spawned') {
          expect(v.directory).not.toBe(m.directory);
          expect(v.directory.keyGroups).not.toBe(m.directory.keyGroups);
        }
      }),
      { numRuns: 100 },
    );
    const v = validateControlMessage(samples.assign) as typeof samples.assign;
    expect(v.members).not.toBe(samples.assign.members);
    expect(v.members[0]!.control).not.toBe(samples.assign.members[0]!.control);
    expect(v.routing.partitions[0]!.owners).not.toBe(samples.assign.routing.partitions[0]!.owners);
  });

  it('ignores fields inherited through the prototype', () => {
    const inherited = Object.create({ version: 1, type: 'start' }) as unknown;
    expectCode(() => validateControlMessage(inherited), ErrorCode.BadMessage);
    const address = Object.create({ host: 'h', port: 1 }) as unknown;
    expectCode(
      () => validateControlMessage({ ...samples.hello, control: address }),
      ErrorCode.BadMessage,
    );
  });

  it('refuses a hole in an array, and class instances where maps belong', () => {
    const owners = [0, 1];
    owners.length = 3;
    const holed = withField(samples.assign, 'routing.partitions.0.owners', owners);
    expectCode(() => validateControlMessage(holed), ErrorCode.BadMessage);
    class Addr {
      host = 'h';
      port = 1;
    }
    expectCode(
      () => validateControlMessage({ ...samples.hello, control: new Addr() }),
      ErrorCode.BadMessage,
    );
  });

  it('is applied by the encoder, so a bad message fails at the sender', () => {
    const bad = { type: 'ping', version: 1, nonce: -1 } as unknown as ControlMessage;
    expectCode(() => encodeControlMessage(bad), ErrorCode.BadMessage);
    // A string UTF-8 cannot carry would arrive altered, so it is refused.
    const lone = { ...samples.shutdown, reason: 'a\uD800b' } as ControlMessage;
    expectCode(() => encodeControlMessage(lone), ErrorCode.BadMessage);
    const paired = { ...samples.shutdown, reason: 'a\uD83D\uDE00b' } as ControlMessage;
    expect(decodeControlMessage(encodeControlMessage(paired))).toEqual(paired);
  });
});

describe('the optional external address', () => {
  it('travels in a hello and in assign members, and is absent when not given', () => {
    const external = { host: '127.0.0.1', port: 7100 };
    const hello = decodeControlMessage(encodeControlMessage({ ...samples.hello, external }));
    expect(hello).toEqual({ ...samples.hello, external });
    const assign = decodeControlMessage(
      encodeControlMessage({
        ...samples.assign,
        members: [{ ...samples.assign.members[0]!, external }, samples.assign.members[1]!],
      }),
    );
    expect(assign.type === 'assign' && assign.members.map((m) => m.external)).toEqual([
      external,
      undefined,
    ]);
    expect('external' in decodeControlMessage(encodeControlMessage(samples.hello))).toBe(false);
  });

  it('is refused when it is not an address', () => {
    for (const bad of [null, 'localhost:1', { host: 'h', port: 0 }]) {
      expect(() => validateControlMessage({ ...samples.hello, external: bad })).toThrow(/external/);
      expect(() =>
        validateControlMessage({
          ...samples.assign,
          members: [{ ...samples.assign.members[0]!, external: bad }, samples.assign.members[1]!],
        }),
      ).toThrow(/members\[0\]\.external/);
    }
  });
});
