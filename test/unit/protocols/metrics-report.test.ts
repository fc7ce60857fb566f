import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  decodeMetricsMessage,
  encodeFrame,
  encodeMetricsMessage,
  ErrorCode,
  FrameDecoder,
  histOf,
  METRICS_EVENT_KINDS,
  METRICS_LIMITS,
  METRICS_PROTOCOL_VERSION,
  METRICS_STEP_KINDS,
  RooError,
  validateMetricsMessage,
  type Hist,
  type MetricsHello,
  type MetricsMessage,
  type MetricsReport,
  type RoutingMetrics,
} from '../../../protocols/index.js';

const V = METRICS_PROTOCOL_VERSION;
const packr = new Packr({ useRecords: false });
/** Packs raw values the way a foreign or broken peer might. */
const pack = (value: unknown): Uint8Array => new Uint8Array(packr.pack(value));

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

const name = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
  .filter((s) => s !== '__proto__' && s.length <= METRICS_LIMITS.name);
const workerName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}$/);
const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const hist: fc.Arbitrary<Hist> = fc
  .array(fc.tuple(fc.nat({ max: 2 ** 36 }), fc.integer({ min: 1, max: 9 })), { maxLength: 12 })
  .map((pairs) => histOf(pairs));
const stepKind = fc.constantFrom(...METRICS_STEP_KINDS);

const hello: fc.Arbitrary<MetricsHello> = fc.record({
  type: fc.constant('hello' as const),
  version: fc.constant(V),
  app: name,
  worker: workerName,
  clusterId: fc.oneof(fc.constant(''), name),
  pid: count,
  startedAt: count,
  rooVersion: fc.constantFrom('0.1.0', '1.2.3-rc.1'),
  pipelines: fc.array(
    fc.record({ name, steps: fc.array(fc.record({ name, kind: stepKind }), { maxLength: 4 }) }),
    { maxLength: 3 },
  ),
  threads: fc.integer({ min: 1, max: 16 }),
  partitions: fc.array(fc.record({ name, keyGroups: fc.integer({ min: 1, max: 64 }) }), {
    maxLength: 3,
  }),
});

/** A routing table consistent with `worker`: one thread per group it owns. */
function routing(worker: string): fc.Arbitrary<RoutingMetrics> {
  return fc
    .uniqueArray(workerName, { maxLength: 4 })
    .chain((others) => {
      const members = [...new Set([worker, ...others])];
      return fc.record({
        version: count,
        members: fc.shuffledSubarray(members, { minLength: 1 }),
      });
    })
    .chain(({ version, members }) =>
      fc
        .array(
          fc.tuple(
            name,
            fc.array(fc.nat({ max: members.length - 1 }), { minLength: 1, maxLength: 24 }),
          ),
          { maxLength: 3 },
        )
        .chain((parts) =>
          fc.tuple(
            ...parts.map(([pname, owners]) => {
              const mine = owners.filter((o) => members[o] === worker).length;
              return fc.record({
                name: fc.constant(pname),
                owners: fc.constant(owners),
                threads: fc.array(fc.nat({ max: 7 }), { minLength: mine, maxLength: mine }),
                moving: fc
                  .uniqueArray(fc.nat({ max: owners.length - 1 }))
                  .map((m) => m.sort((a, b) => a - b)),
              });
            }),
          ),
        )
        .map((partitions) => ({ version, members, partitions })),
    );
}

const event = fc.record(
  {
    at: count,
    kind: fc.constantFrom(...METRICS_EVENT_KINDS),
    text: fc.string({ maxLength: 40 }).filter((s) => !/[\uD800-\uDFFF]/.test(s)),
    detail: fc.dictionary(
      fc.stringMatching(/^[a-z][a-zA-Z]{0,10}$/),
      fc.oneof(
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
        fc.string({ maxLength: 10, unit: 'grapheme' }),
      ),
      { maxKeys: 4 },
    ),
  },
  { requiredKeys: ['at', 'kind', 'text'] },
);

const report: fc.Arbitrary<MetricsReport> = workerName.chain((worker) =>
  fc.record({
    type: fc.constant('report' as const),
    version: fc.constant(V),
    app: name,
    worker: fc.constant(worker),
    clusterId: fc.oneof(fc.constant(''), name),
    seq: count,
    at: count,
    periodMs: fc.integer({ min: 1, max: 60_000 }),
    steps: fc.array(
      fc.record({ pipeline: name, step: name, kind: stepKind, messages: count, latency: hist }),
      { maxLength: 4 },
    ),
    pipelines: fc.array(fc.record({ pipeline: name, messages: count, latency: hist }), {
      maxLength: 3,
    }),
    ingressEgress: fc.record({ messages: count, latency: hist }),
    threads: fc.array(
      fc.record({
        thread: fc.nat({ max: 15 }),
        utilization: fc
          .double({ min: 0, max: 1, noNaN: true })
          .map((d) => (Object.is(d, -0) ? 0 : d)),
        queued: count,
        deepestMailbox: count,
        deepestActor: fc.oneof(fc.constant(''), name),
        gcMs: fc.double({ min: 0, max: 1e6, noNaN: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
        entities: count,
      }),
      { maxLength: 4 },
    ),
    sources: fc.array(fc.record({ name, received: count, bytes: count, muted: fc.boolean() }), {
      maxLength: 3,
    }),
    channels: fc.array(
      fc.record({
        peer: workerName,
        messagesOut: count,
        messagesIn: count,
        bytesOut: count,
        bytesIn: count,
      }),
      { maxLength: 3 },
    ),
    routing: routing(worker),
    checkpoints: fc.array(
      fc.record({
        id: count,
        startedAt: count,
        durationMs: fc
          .double({ min: 0, max: 1e7, noNaN: true })
          .map((d) => (Object.is(d, -0) ? 0 : d)),
        bytes: count,
        outcome: fc.constantFrom('committed' as const, 'aborted' as const),
      }),
      { maxLength: 3 },
    ),
    checkpointsDropped: count,
    events: fc.array(event, { maxLength: 3 }),
    eventsDropped: count,
  }),
);
const message: fc.Arbitrary<MetricsMessage> = fc.oneof(hello, report);

/** A small valid report to bend in the refusal cases. */
const base: MetricsReport = {
  type: 'report',
  version: V,
  app: 'word-count',
  worker: 'w1',
  clusterId: 'c-1',
  seq: 0,
  at: 1_700_000_000_000,
  periodMs: 2000,
  steps: [
    {
      pipeline: 'p',
      step: 'split',
      kind: 'computation',
      messages: 2,
      latency: histOf([[1500, 2]]),
    },
  ],
  pipelines: [{ pipeline: 'p', messages: 2, latency: histOf([[90_000, 2]]) }],
  ingressEgress: { messages: 2, latency: histOf([[90_000, 2]]) },
  threads: [
    {
      thread: 0,
      utilization: 0.5,
      queued: 0,
      deepestMailbox: 0,
      deepestActor: '',
      gcMs: 1.5,
      entities: 3,
    },
  ],
  sources: [{ name: 'words', received: 2, bytes: 20, muted: false }],
  channels: [{ peer: 'w2', messagesOut: 1, messagesIn: 1, bytesOut: 10, bytesIn: 10 }],
  routing: {
    version: 1,
    members: ['w1', 'w2'],
    partitions: [{ name: 'counts', owners: [0, 1, 0, 1], threads: [0, 1], moving: [] }],
  },
  checkpoints: [
    { id: 3, startedAt: 1_700_000_000_000, durationMs: 12.5, bytes: 400, outcome: 'committed' },
  ],
  checkpointsDropped: 0,
  events: [{ at: 1_700_000_000_000, kind: 'join', text: 'w2 joined', detail: { worker: 'w2' } }],
  eventsDropped: 0,
};

describe('metrics messages', () => {
  it('round-trips every message kind, through a frame too', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMetricsMessage(m);
        expect(decodeMetricsMessage(bytes)).toEqual(m);
        const frames: Buffer[] = [];
        new FrameDecoder().push(encodeFrame(bytes), (p) => frames.push(Buffer.from(p)));
        expect(frames.map((f) => decodeMetricsMessage(f))).toEqual([m]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every truncation and a padding of an encoding', () => {
    fc.assert(
      fc.property(message, fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), (m, cuts) => {
        const bytes = encodeMetricsMessage(m);
        for (const cut of [0, 1, bytes.length - 1, ...cuts.map((c) => c % bytes.length)]) {
          expectRooError(
            thrown(() => decodeMetricsMessage(bytes.subarray(0, cut))),
            ErrorCode.BadMessage,
          );
        }
        const padded = new Uint8Array(bytes.length + 1);
        padded.set(bytes);
        expectRooError(
          thrown(() => decodeMetricsMessage(padded)),
          ErrorCode.BadMessage,
        );
      }),
      { numRuns: 100 },
    );
  });

  it('never throws anything but a RooError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        try {
          decodeMetricsMessage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          validateMetricsMessage(value);
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 1000 },
    );
    // Garbage shaped like a report: every field replaced by anything.
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(base)), fc.anything(), (key, v) => {
        try {
          validateMetricsMessage({ ...base, [key]: v });
        } catch (e) {
          expect(e).toBeInstanceOf(RooError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses malformed messages with messages that say what is wrong', () => {
    const r = (patch: Record<string, unknown>): unknown => ({ ...base, ...patch });
    const h = base.steps[0]!.latency;
    const cases: [unknown, string, RegExp][] = [
      [[], ErrorCode.BadMessage, /must be a map/],
      [{ ...base, version: 2 }, ErrorCode.BadVersion, /version 2 is not supported/],
      [{ ...base, type: 'nope' }, ErrorCode.BadMessage, /unknown metrics message type/],
      [r({ extra: 1 }), ErrorCode.BadMessage, /unexpected field "extra"/],
      [r({ app: '' }), ErrorCode.BadMessage, /'app'.*1 to 256/],
      [r({ app: 'x'.repeat(257) }), ErrorCode.BadMessage, /'app'/],
      [r({ app: 'a\uD800' }), ErrorCode.BadMessage, /UTF-16/],
      [r({ worker: '-w' }), ErrorCode.BadMessage, /'worker'/],
      [r({ periodMs: 0 }), ErrorCode.BadMessage, /'periodMs'/],
      [r({ seq: -1 }), ErrorCode.BadMessage, /'seq'/],
      [r({ steps: [{ ...base.steps[0], kind: 'x' }] }), ErrorCode.BadMessage, /steps\[0\]\.kind/],
      [
        r({ steps: Array.from({ length: 1025 }, () => base.steps[0]) }),
        ErrorCode.BadMessage,
        /1025 items, more than 1024/,
      ],
      [
        r({ ingressEgress: { messages: 1, latency: { ...h, count: 3 } } }),
        ErrorCode.BadMessage,
        /counts 3 values but its buckets 2/,
      ],
      [
        r({
          ingressEgress: {
            messages: 1,
            latency: {
              ...h,
              buckets: [
                [5, 1],
                [5, 1],
              ],
            },
          },
        }),
        ErrorCode.BadMessage,
        /indices ascend/,
      ],
      [
        r({ ingressEgress: { messages: 1, latency: { ...h, buckets: [[1216, 2]] } } }),
        ErrorCode.BadMessage,
        /bucket index 1216/,
      ],
      [
        r({ ingressEgress: { messages: 1, latency: { ...h, min: 1 } } }),
        ErrorCode.BadMessage,
        /outside its first or last bucket/,
      ],
      [
        r({
          ingressEgress: {
            messages: 1,
            latency: { count: 0, min: 0, max: 0, sum: 5, buckets: [] },
          },
        }),
        ErrorCode.BadMessage,
        /is empty/,
      ],
      [
        r({
          ingressEgress: {
            messages: 1,
            latency: { ...h, buckets: [[5, 0], ...h.buckets], count: 2 },
          },
        }),
        ErrorCode.BadMessage,
        /counts nothing/,
      ],
      [
        r({ threads: [{ ...base.threads[0], utilization: 1.5 }] }),
        ErrorCode.BadMessage,
        /utilization/,
      ],
      [r({ threads: [{ ...base.threads[0], gcMs: Number.NaN }] }), ErrorCode.BadMessage, /gcMs/],
      [
        r({ sources: [{ ...base.sources[0], muted: 'no' }] }),
        ErrorCode.BadMessage,
        /muted.*boolean/,
      ],
      [
        r({ routing: { ...base.routing, members: ['w1', 'w1'] } }),
        ErrorCode.BadMessage,
        /repeats a name/,
      ],
      [
        r({
          routing: {
            ...base.routing,
            partitions: [{ name: 'c', owners: [0, 2], threads: [0], moving: [] }],
          },
        }),
        ErrorCode.BadMessage,
        /only 2 workers/,
      ],
      [
        r({
          routing: {
            ...base.routing,
            partitions: [{ name: 'c', owners: [0, 0], threads: [0], moving: [] }],
          },
        }),
        ErrorCode.BadMessage,
        /1 threads for the 2 key groups w1 owns/,
      ],
      [
        r({
          routing: {
            ...base.routing,
            partitions: [{ name: 'c', owners: [0, 1], threads: [0], moving: [1, 0] }],
          },
        }),
        ErrorCode.BadMessage,
        /ascending key groups/,
      ],
      [
        r({
          routing: {
            ...base.routing,
            partitions: [{ name: 'c', owners: [0, 1], threads: [0], moving: [2] }],
          },
        }),
        ErrorCode.BadMessage,
        /below 2/,
      ],
      [
        r({
          routing: {
            ...base.routing,
            partitions: [{ name: 'c', owners: new Array(65537).fill(1), threads: [], moving: [] }],
          },
        }),
        ErrorCode.BadMessage,
        /more than 65536/,
      ],
      [
        r({ checkpoints: [{ ...base.checkpoints[0], outcome: 'maybe' }] }),
        ErrorCode.BadMessage,
        /outcome/,
      ],
      [
        r({ events: [{ ...base.events[0], kind: 'party' }] }),
        ErrorCode.BadMessage,
        /events\[0\]\.kind/,
      ],
      [
        r({ events: [{ ...base.events[0], detail: { x: {} } }] }),
        ErrorCode.BadMessage,
        /finite number or a boolean/,
      ],
      [
        r({ events: Array.from({ length: 65 }, () => base.events[0]) }),
        ErrorCode.BadMessage,
        /more than 64/,
      ],
      [
        {
          type: 'hello',
          version: V,
          app: 'a',
          worker: 'w',
          clusterId: '',
          pid: 1,
          startedAt: 1,
          rooVersion: '1',
          pipelines: [],
          threads: 0,
          partitions: [],
        },
        ErrorCode.BadMessage,
        /'threads'/,
      ],
      [
        {
          type: 'hello',
          version: V,
          app: 'a',
          worker: 'w',
          clusterId: '',
          pid: 1,
          startedAt: 1,
          rooVersion: '1',
          pipelines: [],
          threads: 1,
          partitions: [{ name: 'p', keyGroups: 70000 }],
        },
        ErrorCode.BadMessage,
        /more than 65536/,
      ],
    ];
    for (const [value, code, re] of cases) {
      expectRooError(
        thrown(() => validateMetricsMessage(value)),
        code,
        re,
      );
      if (re.source !== 'UTF-16' && !re.source.includes('gcMs')) {
        expectRooError(
          thrown(() => decodeMetricsMessage(pack(value))),
          code,
          re,
        );
      }
    }
    // Encoders validate too: a bad message fails at its sender.
    expectRooError(
      thrown(() => encodeMetricsMessage({ ...base, seq: -1 })),
      ErrorCode.BadMessage,
      /'seq'/,
    );
    expectRooError(
      thrown(() => decodeMetricsMessage(new Uint8Array(16 * 1024 * 1024 + 1))),
      ErrorCode.BadMessage,
      /exceeds/,
    );
  });

  it('keeps the base report valid (so the cases above fail for their one change)', () => {
    expect(decodeMetricsMessage(encodeMetricsMessage(base))).toEqual(base);
  });

  it('takes "__proto__" as a name or text, and refuses it only as a detail key', () => {
    const named = {
      ...base,
      app: '__proto__',
      events: [{ at: 1, kind: 'join' as const, text: '__proto__', detail: { x: '__proto__' } }],
    };
    expect(decodeMetricsMessage(encodeMetricsMessage(named))).toEqual(named);
    const detail: Record<string, string> = {};
    Object.defineProperty(detail, '__proto__', { value: 'x', enumerable: true });
    expectRooError(
      thrown(() => validateMetricsMessage({ ...base, events: [{ ...base.events[0], detail }] })),
      ErrorCode.BadMessage,
      /may not have the key "__proto__"/,
    );
  });
});
