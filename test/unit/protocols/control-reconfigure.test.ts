/**
 * The control messages of growing and shrinking a running cluster
 * (protocols/control-message.ts): 'migrate', 'migrate-out', 'migrate-in',
 * 'migrate-spawned', 'reconfigure', 'reconfigured', 'resume', 'leave',
 * 'redirect', 'shrink-request', 'shrink-reply', 'shutdown-request',
 * 'shutdown-reply', 'rebalance-request' and 'rebalance-reply'. Each comes back equal
 * from its encoding (key groups' state bytes included), and every malformed
 * one is refused with ROO_ERR_BAD_MESSAGE, by the decoder and the encoder.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  chunkGroups,
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  ErrorCode,
  RooError,
  type WireGroupState,
  type WorkerDirectory,
} from '../../../protocols/index.js';

/** Packs raw values the way a peer would, to build malformed messages. */
const packr = new Packr({ useRecords: false, largeBigIntToFloat: true });
const pack = (value: unknown): Uint8Array => Uint8Array.prototype.slice.call(packr.pack(value));

// ---------------------------------------------------------------------------
// Arbitraries of valid messages

const version = fc.constant(CONTROL_PROTOCOL_VERSION);
const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const workerName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/);
const address = fc.record({
  host: fc.oneof(fc.ipV4(), fc.domain(), fc.constantFrom('localhost', '::1')),
  port: fc.integer({ min: 1, max: 65535 }),
});
const indexKey = fc.nat({ max: 2000 }).map(String);
const directory: fc.Arbitrary<WorkerDirectory> = fc.record({
  keyGroups: fc.array(fc.dictionary(indexKey, count, { maxKeys: 4 }), {
    maxLength: 3,
  }),
  parallel: fc.dictionary(indexKey, fc.array(count, { maxLength: 3 }), { maxKeys: 3 }),
  sinkWriters: fc.dictionary(indexKey, count, { maxKeys: 3 }),
  sources: fc.dictionary(indexKey, count, { maxKeys: 3 }),
});
const member = fc.record({
  name: workerName,
  threads: fc.integer({ min: 1, max: 64 }),
  control: address,
  data: address,
});
const groupState: fc.Arbitrary<WireGroupState> = fc.record({
  partition: text,
  keyGroup: count,
  entities: count,
  state: fc.uint8Array({ maxLength: 200 }),
});
const groups = fc.array(groupState, { maxLength: 5 });
/** Members and a routing table over them. */
const cluster = fc
  .uniqueArray(member, { selector: (m) => m.name, minLength: 1, maxLength: 4 })
  .chain((members) =>
    fc.record({
      members: fc.constant(members),
      workerIndex: fc.nat({ max: members.length - 1 }),
      routing: fc.record({
        version: count,
        partitions: fc.uniqueArray(
          fc.record({
            name: text,
            owners: fc.array(fc.nat({ max: members.length - 1 }), {
              minLength: 1,
              maxLength: 16,
            }),
          }),
          { selector: (p) => p.name, maxLength: 3 },
        ),
      }),
    }),
  );
const names = fc.array(workerName, { maxLength: 5 });

const message: fc.Arbitrary<ControlMessage> = fc.oneof(
  cluster.chain(({ members, routing }) =>
    fc.record({
      type: fc.constant('migrate' as const),
      version,
      id: count,
      moves: fc.array(
        fc.record({ worker: workerName, partition: text, keyGroup: count, thread: count }),
        { maxLength: 3 },
      ),
      members: fc.constant(members),
      routing: fc.constant(routing),
    }),
  ),
  fc.record({
    type: fc.constant('migrate-out' as const),
    version,
    name: workerName,
    id: count,
    groups,
    last: fc.boolean(),
    epoch: fc.constantFrom(0, 1),
  }),
  fc.record({
    type: fc.constant('migrate-in' as const),
    version,
    id: count,
    groups,
    last: fc.boolean(),
    epoch: fc.constantFrom(0, 1),
  }),
  fc.record({
    type: fc.constant('migrate-prepared' as const),
    version,
    name: workerName,
    id: count,
  }),
  fc.record({ type: fc.constant('migrate-barrier' as const), version, id: count }),
  fc.record({
    type: fc.constant('migrate-spawned' as const),
    version,
    name: workerName,
    id: count,
    directory,
  }),
  cluster.chain(({ members, routing, workerIndex }) =>
    fc.record({
      type: fc.constant('reconfigure' as const),
      version,
      id: count,
      assign: fc.record({
        type: fc.constant('assign' as const),
        version,
        clusterId: text,
        workerIndex: fc.constant(workerIndex),
        generation: fc.nat(),
        members: fc.constant(members),
        routing: fc.constant(routing),
      }),
      directory: fc.array(directory, { minLength: members.length, maxLength: members.length }),
    }),
  ),
  fc.record({ type: fc.constant('reconfigured' as const), version, name: workerName, id: count }),
  fc.record({ type: fc.constant('resume' as const), version, id: count }),
  fc.record({ type: fc.constant('leave' as const), version, reason: text }),
  fc.record({ type: fc.constant('redirect' as const), version, control: address }),
  fc.record({
    type: fc.constant('shrink-request' as const),
    version,
    nonce: count,
    workers: names,
    count,
    query: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('shrink-reply' as const),
    version,
    nonce: count,
    ok: fc.boolean(),
    message: fc.string({ maxLength: 60 }),
    leaving: names,
    eligible: names,
    members: names,
  }),
);

// ---------------------------------------------------------------------------
// One valid message of each kind, as templates for malformed ones

const addr = { host: '127.0.0.1', port: 7000 };
const dir: WorkerDirectory = {
  keyGroups: [{ '0': 5, '2': 7 }, {}],
  parallel: { '1': [1048576, 2097152] },
  sinkWriters: { '0': 3 },
  sources: {},
};
const members = [
  { name: 'initializer', threads: 2, control: addr, data: addr },
  { name: 'w2', threads: 1, control: { host: 'localhost', port: 7002 }, data: addr },
];
const routing = {
  version: 2,
  partitions: [
    { name: 'counts', owners: [0, 1, 0, 1] },
    { name: 'letters', owners: [1] },
  ],
};
/** Bytes msgpack would misread if they were not carried as binary: a map header, nil, 0xff. */
const stateBytes = Uint8Array.of(0x83, 0xc0, 0xff, 0x00, 0x01, 0x92);
const shippedGroups = [
  { partition: 'counts', keyGroup: 3, entities: 2, state: stateBytes },
  { partition: 'letters', keyGroup: 0, entities: 0, state: new Uint8Array(0) },
];

const samples = {
  migrate: {
    type: 'migrate',
    version: 1,
    id: 7,
    members,
    routing,
    moves: [{ worker: 'w2', partition: 'counts', keyGroup: 3, thread: 1 }],
  },
  'rebalance-request': {
    type: 'rebalance-request',
    version: 1,
    nonce: 4,
    name: 'w2',
    moves: [{ worker: 'w2', partition: 'counts', keyGroup: 3, thread: 0 }],
  },
  'rebalance-reply': {
    type: 'rebalance-reply',
    version: 1,
    nonce: 4,
    ok: true,
    message: 'moved 1',
  },
  'shutdown-request': {
    type: 'shutdown-request',
    version: 1,
    nonce: 5,
    reason: 'external shutdown request',
  },
  'shutdown-reply': {
    type: 'shutdown-reply',
    version: 1,
    nonce: 5,
    ok: false,
    message: 'a cluster shuts down only while it runs',
  },
  'migrate-out': {
    type: 'migrate-out',
    version: 1,
    name: 'w2',
    id: 7,
    groups: shippedGroups,
    last: true,
    epoch: 1,
  },
  'migrate-in': {
    type: 'migrate-in',
    version: 1,
    id: 7,
    groups: shippedGroups,
    last: false,
    epoch: 0,
  },
  'migrate-prepared': { type: 'migrate-prepared', version: 1, name: 'w2', id: 7 },
  'migrate-barrier': { type: 'migrate-barrier', version: 1, id: 7 },
  'migrate-spawned': { type: 'migrate-spawned', version: 1, name: 'w3', id: 7, directory: dir },
  reconfigure: {
    type: 'reconfigure',
    version: 1,
    id: 7,
    assign: {
      type: 'assign',
      version: 1,
      clusterId: 'c-1',
      workerIndex: 1,
      generation: 0,
      members,
      routing,
    },
    directory: [dir, { ...dir, sinkWriters: {} }],
  },
  reconfigured: { type: 'reconfigured', version: 1, name: 'w2', id: 7 },
  resume: { type: 'resume', version: 1, id: 7 },
  leave: { type: 'leave', version: 1, reason: 'shrunk out of the cluster (reconfiguration 7)' },
  redirect: { type: 'redirect', version: 1, control: { host: '10.0.0.2', port: 6000 } },
  'shrink-request': {
    type: 'shrink-request',
    version: 1,
    nonce: 4,
    workers: ['w2', 'w3'],
    count: 0,
    query: false,
  },
  'shrink-reply': {
    type: 'shrink-reply',
    version: 1,
    nonce: 4,
    ok: true,
    message: 'w2 will leave',
    leaving: ['w2'],
    eligible: ['w2', 'w3'],
    members: ['initializer', 'w2', 'w3'],
  },
} satisfies Record<string, ControlMessage>;
const sampleList: readonly ControlMessage[] = Object.values(samples);

/** A deep copy of `m` with the field at `path` (dot-separated; array indices too) set to `value`. */
function withField(m: object, path: string, value: unknown): unknown {
  const copy = structuredClone(m) as Record<string, unknown>;
  const keys = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys[keys.length - 1]!] = value;
  return copy;
}

/** A deep copy of `m` without the field at `path`. */
function withoutField(m: object, path: string): unknown {
  const copy = structuredClone(m) as Record<string, unknown>;
  const keys = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  delete at[keys[keys.length - 1]!];
  return copy;
}

/** The error `f` throws, which must be a RooError ROO_ERR_BAD_MESSAGE. */
function badMessage(f: () => unknown, what: string): RooError {
  let e: unknown = 'nothing thrown';
  try {
    f();
  } catch (err) {
    e = err;
  }
  if (!(e instanceof RooError) || e.code !== ErrorCode.BadMessage)
    expect.fail(`${what} gave ${String(e)}`);
  return e;
}

/** Refused both ways: as bytes from a peer, and by the encoder at the sender. */
function refused(value: unknown, what: string): RooError {
  const e = badMessage(() => decodeControlMessage(pack(value)), `decoding ${what}`);
  badMessage(() => encodeControlMessage(value as ControlMessage), `encoding ${what}`);
  return e;
}

// ---------------------------------------------------------------------------

describe('reconfiguration control messages: round trip', () => {
  it('decodes each sample equal to what was encoded', () => {
    for (const m of sampleList) {
      expect(decodeControlMessage(encodeControlMessage(m))).toStrictEqual(m);
    }
  });

  it('decodes any valid message of these kinds equal to what was encoded', () => {
    fc.assert(
      fc.property(message, (m) => {
        // toEqual: fast-check may build null-prototype maps, which decode as plain ones.
        expect(decodeControlMessage(encodeControlMessage(m))).toEqual(m);
      }),
      { numRuns: 400 },
    );
  });

  it("preserves key groups' state bytes exactly, as a Uint8Array of its own", () => {
    for (const kind of ['migrate-out', 'migrate-in'] as const) {
      const encoded = encodeControlMessage(samples[kind]);
      const decoded = decodeControlMessage(encoded);
      if (decoded.type !== kind) expect.fail(`decoded a ${decoded.type}`);
      expect(decoded.groups).toHaveLength(2);
      const [first, empty] = decoded.groups;
      expect(first!.state).toBeInstanceOf(Uint8Array);
      expect(Array.from(first!.state)).toEqual([0x83, 0xc0, 0xff, 0x00, 0x01, 0x92]);
      expect(empty!.state).toBeInstanceOf(Uint8Array);
      expect(empty!.state.byteLength).toBe(0);
      // Overwriting the received frame does not change the decoded state.
      encoded.fill(0);
      expect(Array.from(first!.state)).toEqual([0x83, 0xc0, 0xff, 0x00, 0x01, 0x92]);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const m = { ...samples['migrate-in'], groups: [{ ...shippedGroups[0]!, state: bytes }] };
        const d = decodeControlMessage(encodeControlMessage(m));
        if (d.type !== 'migrate-in') expect.fail(`decoded a ${d.type}`);
        expect(d.groups[0]!.state).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(d.groups[0]!.state).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts a state handed over as a view into a larger buffer (a Buffer slice)', () => {
    const whole = Buffer.from([9, 9, 1, 2, 3, 9]);
    const m = {
      ...samples['migrate-out'],
      groups: [{ ...shippedGroups[0]!, state: whole.subarray(2, 5) }],
    };
    const d = decodeControlMessage(encodeControlMessage(m));
    if (d.type !== 'migrate-out') expect.fail(`decoded a ${d.type}`);
    expect(Array.from(d.groups[0]!.state)).toEqual([1, 2, 3]);
  });

  it('refuses every truncated encoding, and only throws RooError on a corrupted one', () => {
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
          if (!(outcome instanceof RooError && outcome.code === ErrorCode.BadMessage))
            expect.fail(`prefix of ${n}/${encoded.length} bytes gave ${String(outcome)}`);
        }
      }),
      { numRuns: 40 },
    );
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, flip) => {
        const encoded = encodeControlMessage(m);
        const i = at % encoded.length;
        encoded[i] = encoded[i]! ^ flip;
        let decoded: ControlMessage;
        try {
          decoded = decodeControlMessage(encoded);
        } catch (e) {
          if (!(e instanceof RooError)) expect.fail(`threw ${String(e)}`);
          expect([ErrorCode.BadMessage, ErrorCode.BadVersion]).toContain(e.code);
          return;
        }
        // Whatever still decodes is a valid message that survives its own round trip.
        expect(decodeControlMessage(encodeControlMessage(decoded))).toStrictEqual(decoded);
      }),
      { numRuns: 400 },
    );
  });
});

describe('reconfiguration control messages: refusals', () => {
  const badCounts: unknown[] = [
    -1,
    1.5,
    Number.NaN,
    Infinity,
    2 ** 53,
    '3',
    null,
    2n ** 60n,
    [1],
    {},
  ];
  const badNames: unknown[] = [
    '',
    7,
    null,
    ['a'],
    'a\uD800',
    '../etc',
    '-x',
    '.hidden',
    'a b',
    'x'.repeat(65),
  ];
  const badTexts: unknown[] = ['', 7, null, {}, 'a\uDC00b', true];
  const badAddresses: unknown[] = [
    null,
    '127.0.0.1:7000',
    { host: '127.0.0.1' },
    { port: 7000 },
    { host: '', port: 7000 },
    { host: 'a b', port: 7000 },
    { ...addr, port: 0 },
    { ...addr, port: 65536 },
    { ...addr, port: '7000' },
  ];
  const badBooleans: unknown[] = [0, 1, 'true', null, [true]];
  /** Anything but bytes where a group's state belongs. */
  const notBytes: unknown[] = ['abc', [1, 2, 3], 7, null, {}, true, { 0: 1, 1: 2, length: 2 }];
  /**
   * Other binary views: msgpackr would pack them as bytes of its own choosing
   * (they arrive as a Buffer), so only the encoder can tell and refuse them.
   */
  const otherViews: unknown[] = [
    Uint16Array.of(1, 2),
    new Float64Array(2),
    new DataView(new ArrayBuffer(2)),
    new ArrayBuffer(3),
  ];
  const badGroups: unknown[] = [null, {}, 'x', [null], [5], [[]]];
  const badDirectories: unknown[] = [
    null,
    [],
    { keyGroups: dir.keyGroups, parallel: dir.parallel },
    { ...dir, keyGroups: [{ x: 5 }] },
    { ...dir, keyGroups: [{ '0': -5 }] },
    { ...dir, parallel: { '0': 5 } },
    { ...dir, sinkWriters: null },
    { ...dir, sources: { '0': '1' } },
  ];
  /** Groups paths of a kind that ships them. */
  const groupCases = (
    m: ControlMessage,
  ): [ControlMessage, string, readonly unknown[], string][] => [
    [m, 'groups', badGroups, "'groups"],
    [m, 'groups.0.partition', badTexts, "'groups[0].partition'"],
    [m, 'groups.1.keyGroup', badCounts, "'groups[1].keyGroup'"],
    [m, 'groups.0.entities', badCounts, "'groups[0].entities'"],
    [m, 'groups.0.state', notBytes, "'groups[0].state' of a"],
  ];

  /** [template, dot path of the field, bad values, text the error must contain] */
  const cases: [ControlMessage, string, readonly unknown[], string][] = [
    [samples.migrate, 'id', badCounts, "'id'"],
    [samples.migrate, 'members', [null, [], {}, [null], 'x'], "'members"],
    [samples.migrate, 'members.1.name', [...badNames, 'initializer'], "'members[1].name'"],
    [samples.migrate, 'members.1.threads', [...badCounts, 0], "'members[1].threads'"],
    [samples.migrate, 'members.0.control', badAddresses, "'members[0].control"],
    [samples.migrate, 'members.1.data', badAddresses, "'members[1].data"],
    [samples.migrate, 'routing', [null, [], 'x', { version: 1 }], "'routing"],
    [samples.migrate, 'routing.version', badCounts, "'routing.version'"],
    [samples.migrate, 'routing.partitions', [null, {}, [null], [[0, 1]]], "'routing.partitions"],
    [samples.migrate, 'routing.partitions.1.name', [...badTexts, 'counts'], 'partitions[1].name'],
    [
      samples.migrate,
      'routing.partitions.0.owners',
      [null, [], {}, [0, -1], [0, 0.5], ['0'], [0, 1, null]],
      "'routing.partitions[0].owners",
    ],
    ...groupCases(samples['migrate-out']),
    [samples['migrate-out'], 'name', badNames, "'name'"],
    [samples['migrate-out'], 'id', badCounts, "'id'"],
    ...groupCases(samples['migrate-in']),
    [samples['migrate-in'], 'id', badCounts, "'id'"],
    [samples['migrate-spawned'], 'name', badNames, "'name'"],
    [samples['migrate-spawned'], 'id', badCounts, "'id'"],
    [samples['migrate-spawned'], 'directory', badDirectories, "'directory"],
    [samples.reconfigure, 'id', badCounts, "'id'"],
    [samples.reconfigure, 'assign', [null, [], 'x', 5, true], "'assign'"],
    [samples.reconfigure, 'assign.clusterId', badTexts, "clusterId'"],
    [samples.reconfigure, 'assign.workerIndex', [...badCounts, 2, 3], "workerIndex'"],
    [samples.reconfigure, 'assign.members', [null, [], {}, [null]], 'members'],
    [
      samples.reconfigure,
      'assign.members.1.name',
      [...badNames, 'initializer'],
      "members[1].name'",
    ],
    [samples.reconfigure, 'assign.members.0.threads', [...badCounts, 0], "members[0].threads'"],
    [samples.reconfigure, 'assign.routing', [null, [], { version: 1 }], 'routing'],
    [samples.reconfigure, 'assign.routing.version', badCounts, "routing.version'"],
    [samples.reconfigure, 'directory', [null, {}, 'x', [null], [dir, 5]], "'directory"],
    [samples.reconfigure, 'directory.1', badDirectories, "'directory"],
    [samples.reconfigured, 'name', badNames, "'name'"],
    [samples.reconfigured, 'id', badCounts, "'id'"],
    [samples.resume, 'id', badCounts, "'id'"],
    [samples.leave, 'reason', badTexts, "'reason'"],
    [samples.redirect, 'control', badAddresses, "'control"],
    [samples['shrink-request'], 'nonce', badCounts, "'nonce'"],
    [samples['shrink-request'], 'workers', [null, 'w2', {}, 5], "'workers'"],
    [samples['shrink-request'], 'workers.1', badNames, "'workers[1]'"],
    [samples['shrink-request'], 'count', badCounts, "'count'"],
    [samples['shrink-request'], 'query', badBooleans, "'query'"],
    [samples['shrink-reply'], 'nonce', badCounts, "'nonce'"],
    [samples['shrink-reply'], 'ok', badBooleans, "'ok'"],
    [samples['shrink-reply'], 'message', [7, null, {}, ['x'], 'x'.repeat(4097)], "'message'"],
    [samples['shrink-reply'], 'leaving', [null, 'w2', {}], "'leaving'"],
    [samples['shrink-reply'], 'leaving.0', badNames, "'leaving[0]'"],
    [samples['shrink-reply'], 'eligible.1', badNames, "'eligible[1]'"],
    [samples['shrink-reply'], 'members.2', badNames, "'members[2]'"],
  ];

  it('refuses a wrong type or value anywhere, with a message naming the field', () => {
    for (const [m, path, values, mention] of cases) {
      for (const v of values) {
        const what = `${m.type} ${path} = ${String(v)}`;
        // msgpack cannot carry a lone surrogate (it arrives as U+FFFD): only the encoder sees one.
        if (typeof v === 'string' && !v.isWellFormed()) {
          badMessage(
            () => encodeControlMessage(withField(m, path, v) as ControlMessage),
            `encoding ${what}`,
          );
          continue;
        }
        const e = refused(withField(m, path, v), what);
        if (!e.message.includes(mention)) expect.fail(`${what}: '${e.message}' lacks ${mention}`);
      }
    }
  });

  it('refuses a group state that is not bytes, saying so', () => {
    for (const kind of ['migrate-out', 'migrate-in'] as const) {
      for (const v of notBytes) {
        const e = refused(
          withField(samples[kind], 'groups.0.state', v),
          `${kind} state ${String(v)}`,
        );
        expect(e.message).toContain("'groups[0].state'");
        expect(e.message).toContain('must be bytes');
      }
      const e = refused(withoutField(samples[kind], 'groups.1.state'), `${kind} without state`);
      expect(e.message).toContain("'groups[1].state'");
      for (const v of otherViews) {
        const m = withField(samples[kind], 'groups.0.state', v) as ControlMessage;
        const e = badMessage(() => encodeControlMessage(m), `encoding ${kind} state ${String(v)}`);
        expect(e.message).toContain('must be bytes');
      }
    }
  });

  it('refuses a reconfigure whose directories do not match its members one to one', () => {
    for (const directories of [[], [dir], [dir, dir, dir]]) {
      const e = refused(
        { ...samples.reconfigure, directory: directories },
        `${directories.length} directories`,
      );
      expect(e.message).toContain("'directory'");
      expect(e.message).toContain('one directory per member');
    }
    // One member more: the same two directories no longer match either.
    const three = withField(samples.reconfigure, 'assign.members', [
      ...members,
      { name: 'w3', threads: 1, control: addr, data: addr },
    ]);
    expect(refused(three, 'three members, two directories').message).toContain(
      'one directory per member',
    );
  });

  it('refuses an owner index out of range, in a migrate and in a reconfigure', () => {
    for (const [m, path] of [
      [samples.migrate, 'routing.partitions.0.owners'],
      [samples.reconfigure, 'assign.routing.partitions.0.owners'],
      [samples.migrate, 'routing.partitions.1.owners'],
    ] as const) {
      for (const owners of [[0, 2], [2], [0, 1, 0, 9007199254740991]]) {
        const e = refused(withField(m, path, owners), `${m.type} ${path} = [${owners.join()}]`);
        expect(e.message).toMatch(/owners\[\d\]' .*is \d+, but there are only 2 workers/);
      }
    }
    // And a reconfigure's workerIndex beyond its members.
    const e = refused(withField(samples.reconfigure, 'assign.workerIndex', 2), 'workerIndex 2');
    expect(e.message).toContain('only 2 workers');
  });

  it('refuses bad worker names wherever a worker is named', () => {
    const places: [ControlMessage, string][] = [
      [samples['migrate-out'], 'name'],
      [samples['migrate-spawned'], 'name'],
      [samples.reconfigured, 'name'],
      [samples.migrate, 'members.0.name'],
      [samples.reconfigure, 'assign.members.1.name'],
      [samples['shrink-request'], 'workers.0'],
      [samples['shrink-reply'], 'leaving.0'],
      [samples['shrink-reply'], 'eligible.0'],
      [samples['shrink-reply'], 'members.0'],
    ];
    for (const [m, path] of places) {
      for (const name of ['', '-x', '.x', 'a/b', 'a b', 'ä', 'x'.repeat(65), 5, null]) {
        const e = refused(withField(m, path, name), `${m.type} ${path} = ${String(name)}`);
        expect(e.message).toMatch(/must be (1 to 64 letters|a non-empty string)/);
      }
      // The longest and the oddest valid names pass.
      for (const name of ['x'.repeat(64), '_', '0.a-b_C']) {
        const ok = withField(m, path, name) as ControlMessage;
        expect(decodeControlMessage(encodeControlMessage(ok))).toStrictEqual(ok);
      }
    }
  });

  it('refuses a field that does not belong to the kind, at any level', () => {
    for (const m of sampleList) {
      const e = refused({ ...m, extra: 1 }, `${m.type} with extra`);
      expect(e.message).toContain('"extra"');
    }
    const nested: [ControlMessage, string][] = [
      [samples['migrate-out'], 'groups.0.extra'],
      [samples['migrate-in'], 'groups.1.extra'],
      [samples.migrate, 'members.0.extra'],
      [samples.migrate, 'members.1.control.extra'],
      [samples.migrate, 'routing.extra'],
      [samples.migrate, 'routing.partitions.0.extra'],
      [samples['migrate-spawned'], 'directory.extra'],
      [samples.reconfigure, 'assign.members.0.extra'],
      [samples.reconfigure, 'assign.routing.extra'],
      [samples.reconfigure, 'assign.routing.partitions.1.extra'],
      [samples.reconfigure, 'directory.0.extra'],
      [samples.redirect, 'control.extra'],
    ];
    for (const [m, path] of nested) {
      const e = refused(withField(m, path, 1), `${m.type} ${path}`);
      expect(e.message).toContain('"extra"');
    }
    // A migrate carries members and routing only, not an assign's other fields.
    refused({ ...samples.migrate, clusterId: 'c' }, 'migrate with clusterId');
    refused({ ...samples.migrate, workerIndex: 0 }, 'migrate with workerIndex');
    // Another kind's fields.
    refused({ ...samples.resume, name: 'w2' }, 'resume with name');
    refused({ ...samples['migrate-in'], name: 'w2' }, 'migrate-in with name');
  });

  // Unknown fields are refused at every level, the nested assign's too.
  it("refuses an unknown field in a reconfigure's assign", () => {
    refused(withField(samples.reconfigure, 'assign.extra', 1), 'reconfigure assign.extra');
  });

  // The nested assign is an assign of this version.
  it('refuses a reconfigure whose assign is of another type or version', () => {
    refused(withField(samples.reconfigure, 'assign.type', 'shutdown'), 'assign.type shutdown');
    refused(withField(samples.reconfigure, 'assign.version', 99), 'assign.version 99');
  });

  it('refuses a missing field of every kind, at any level', () => {
    for (const m of sampleList) {
      for (const key of Object.keys(m)) {
        refused(withoutField(m, key), `${m.type} without ${key}`);
      }
    }
    const nested: [ControlMessage, string[]][] = [
      [
        samples['migrate-out'],
        ['partition', 'keyGroup', 'entities', 'state'].map((k) => `groups.0.${k}`),
      ],
      [
        samples['migrate-in'],
        ['partition', 'keyGroup', 'entities', 'state'].map((k) => `groups.1.${k}`),
      ],
      [
        samples.migrate,
        ['members.0.name', 'members.1.threads', 'routing.version', 'routing.partitions'],
      ],
      [
        samples.reconfigure,
        [
          'assign.clusterId',
          'assign.workerIndex',
          'assign.members',
          'assign.routing',
          'assign.members.0.data',
          'assign.routing.partitions.0.owners',
          'directory.1.sources',
        ],
      ],
      [samples['migrate-spawned'], ['directory.keyGroups', 'directory.parallel']],
      [samples.redirect, ['control.host', 'control.port']],
    ];
    for (const [m, paths] of nested) {
      for (const path of paths) refused(withoutField(m, path), `${m.type} without ${path}`);
    }
  });

  it('still accepts what the checks allow: empty groups and name lists, an empty reply message, count 0', () => {
    const ok: ControlMessage[] = [
      { ...samples['migrate-in'], groups: [] },
      { ...samples['migrate-out'], groups: [] },
      { ...samples['shrink-request'], workers: [], count: 3 },
      { ...samples['shrink-request'], workers: [], count: 0, query: true },
      { ...samples['shrink-reply'], ok: false, message: '', leaving: [], eligible: [] },
      { ...samples['shrink-reply'], message: 'm'.repeat(4096) },
    ];
    for (const m of ok) expect(decodeControlMessage(encodeControlMessage(m))).toStrictEqual(m);
  });
});

describe('chunkGroups', () => {
  const g = (k: number, bytes: number) => ({
    partition: 'p',
    keyGroup: k,
    entities: 1,
    state: new Uint8Array(bytes),
  });
  it('keeps order, stays under the limit but for a group larger than it, and never returns no chunk', () => {
    expect(chunkGroups([])).toEqual([[]]);
    const chunks = chunkGroups([g(0, 4), g(1, 4), g(2, 4), g(3, 20), g(4, 1)], 10);
    expect(chunks.map((c) => c.map((x) => x.keyGroup))).toEqual([[0, 1], [2], [3], [4]]);
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 50 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 60 }),
        (sizes, max) => {
          const groups = sizes.map((b, k) => g(k, b));
          const out = chunkGroups(groups, max);
          expect(out.flat().map((x) => x.keyGroup)).toEqual(groups.map((x) => x.keyGroup));
          for (const c of out)
            if (c.length > 1)
              expect(c.reduce((a, x) => a + x.state.byteLength, 0)).toBeLessThanOrEqual(max);
        },
      ),
    );
  });
});
