/**
 * Barrier alignment on the data path (runtime/engine/epochs.ts), driven by
 * hand: each actor's receive/receiveRuntime is called in the order a thread
 * would deliver its mailbox, with fakes for the scheduler and the output.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import type { Scheduler, ThreadLoop } from '../../../actors/index.js';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  application,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  type StateCodec,
} from '../../../runtime/api/index.js';
import type { Output } from '../../../runtime/connectors/output.js';
import {
  cursor,
  EPOCH_BIT,
  RT_BARRIER,
  RT_COMMIT,
  type HoldPressure,
} from '../../../runtime/engine/epochs.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { SinkEncoder, SinkWriterActor, TAG_BYTES } from '../../../runtime/engine/sink-actors.js';
import {
  HOLD_HIGH,
  KeyGroupActor,
  ParallelActor,
  type StateStep,
} from '../../../runtime/engine/stage-actors.js';
import {
  CheckpointCollector,
  decodeEntities,
  encodeEntities,
  type ThreadCheckpoint,
} from '../../../runtime/engine/thread-checkpoint.js';
import { createLogger } from '../../../runtime/logging/logger.js';
import { buildPlan, type StateStage } from '../../../runtime/topology/plan.js';

const log = createLogger({ test: 'alignment' });
log.level = 'silent';

/** What an actor did, in order: an output (with the epoch bit it carried) or a forwarded barrier. */
type Event =
  | { readonly kind: 'emit'; readonly value: unknown; readonly bit: number }
  | { readonly kind: 'forward'; readonly id: number; readonly bit: number };

/** One input's message to a key group: its key and value. */
interface Msg {
  readonly key: string;
  readonly value: string;
}

/** The state each key keeps: every value applied to it, in order. */
type Seen = string[];

/**
 * A key-group actor of partition 'seen' whose one state stage appends each
 * value to its key's list and emits `key:value`; `inputs` upstream actors.
 */
function keyGroup(
  inputs: number,
  errors = new ErrorReporter(log),
  pressure: HoldPressure = () => undefined,
) {
  const seen = statePartition<Seen>('seen', { initial: () => [] });
  const record = stateComputation<string, Seen, string>('record', (value, state, key) => {
    state.push(value);
    return `${key}:${value}`;
  });
  const app = application('align');
  app
    .pipeline(generatorSource<string>({ generate: (i) => `v${i}` }))
    .keyBy((v) => v)
    .toStateful(record, seen)
    .toSink(nullSink());
  const plan = buildPlan(app.build());
  const stage = plan.stages.find((s): s is StateStage => s.kind === 'state')!;
  const events: Event[] = [];
  const steps: (StateStep | undefined)[] = [];
  steps[stage.id] = {
    computation: stage.computation,
    where: 'record',
    emit: (value) => events.push({ kind: 'emit', value, bit: cursor.bit }),
  };
  const checkpoints = new CheckpointCollector();
  checkpoints.expected = 1;
  const actor = new KeyGroupActor(plan.partitions[0]!, 0, 5, steps, errors, checkpoints, pressure);
  actor.barriers.expected = inputs;
  actor.forward = (id, bit) => events.push({ kind: 'forward', id, bit });
  /** A data message of this stage in epoch parity `bit`. */
  const send = (bit: number, key: string, value: string) =>
    actor.receive(stage.id + bit * EPOCH_BIT, key, value);
  const barrier = (id: number) => actor.receiveRuntime(RT_BARRIER, id);
  /** The entities recorded for checkpoint `id`, decoded. */
  const snapshot = async (id: number): Promise<Map<string, unknown>> => {
    const part: ThreadCheckpoint = await checkpoints.wait(id);
    expect(part.keyGroups).toHaveLength(1);
    const g = part.keyGroups[0]!;
    expect(g).toMatchObject({ partition: 0, keyGroup: 5 });
    const entities = decodeEntities(g.state, undefined, 'seen');
    expect(g.count).toBe(entities.size);
    return entities;
  };
  return { actor, events, send, barrier, snapshot, checkpoints };
}

/** Entities as a plain object, for readable comparisons. */
const plain = (m: ReadonlyMap<string, unknown>): Record<string, unknown> => Object.fromEntries(m);

/** Applies messages in order to an empty state, as the 'record' stage does. */
function fold(msgs: readonly Msg[]): Record<string, Seen> {
  const out: Record<string, Seen> = {};
  for (const m of msgs) (out[m.key] ??= []).push(m.value);
  return out;
}

describe('KeyGroupActor alignment', () => {
  it('holds the next epoch of an input that passed the barrier, snapshots the current one, forwards once, then applies what it held in order', async () => {
    const { actor, events, send, barrier, snapshot } = keyGroup(2);
    send(0, 'x', 'A1');
    send(0, 'y', 'B1');
    barrier(1); // from input A
    send(1, 'x', 'A2'); // A is past the barrier: held
    send(1, 'y', 'A3');
    expect(plain(actor.entities)).toEqual({ x: ['A1'], y: ['B1'] });
    send(0, 'x', 'B2'); // B is not: applied at once
    send(0, 'z', 'B3');
    expect(plain(actor.entities)).toEqual({ x: ['A1', 'B2'], y: ['B1'], z: ['B3'] });
    expect(events.filter((e) => e.kind === 'forward')).toEqual([]);
    barrier(1); // from input B: aligned
    expect(plain(await snapshot(1))).toEqual({ x: ['A1', 'B2'], y: ['B1'], z: ['B3'] });
    send(1, 'x', 'B4');
    expect(plain(actor.entities)).toEqual({
      x: ['A1', 'B2', 'A2', 'B4'],
      y: ['B1', 'A3'],
      z: ['B3'],
    });
    expect(events).toEqual([
      { kind: 'emit', value: 'x:A1', bit: 0 },
      { kind: 'emit', value: 'y:B1', bit: 0 },
      { kind: 'emit', value: 'x:B2', bit: 0 },
      { kind: 'emit', value: 'z:B3', bit: 0 },
      { kind: 'forward', id: 1, bit: 0 },
      { kind: 'emit', value: 'x:A2', bit: 1 },
      { kind: 'emit', value: 'y:A3', bit: 1 },
      { kind: 'emit', value: 'x:B4', bit: 1 },
    ]);
  });

  it('the next checkpoint aligns on the other parity, and the snapshot does not alias live state', async () => {
    const { actor, events, send, barrier, snapshot } = keyGroup(2);
    send(0, 'x', 'a');
    barrier(1);
    barrier(1);
    const first = await snapshot(1);
    send(1, 'x', 'b');
    // Epoch 2 is odd: now an even-parity message is the next epoch, held until aligned.
    barrier(2);
    send(0, 'x', 'c');
    send(1, 'y', 'd');
    expect(plain(actor.entities)).toEqual({ x: ['a', 'b'], y: ['d'] });
    barrier(2);
    expect(plain(await snapshot(2))).toEqual({ x: ['a', 'b'], y: ['d'] });
    expect(plain(first)).toEqual({ x: ['a'] });
    expect(plain(actor.entities)).toEqual({ x: ['a', 'b', 'c'], y: ['d'] });
    expect(events.filter((e) => e.kind === 'forward')).toEqual([
      { kind: 'forward', id: 1, bit: 0 },
      { kind: 'forward', id: 2, bit: 1 },
    ]);
    expect(events.at(-1)).toEqual({ kind: 'emit', value: 'x:c', bit: 0 });
  });

  it('with one input, snapshots and forwards on its barrier at once', async () => {
    const { events, send, barrier, snapshot } = keyGroup(1);
    send(0, 'k', 'v');
    barrier(7);
    expect(plain(await snapshot(7))).toEqual({ k: ['v'] });
    expect(events.at(-1)).toEqual({ kind: 'forward', id: 7, bit: 0 });
  });

  it('the snapshot holds exactly the pre-barrier messages of every input, in any interleaving (property)', async () => {
    const msg = fc.record({ key: fc.constantFrom('x', 'y', 'z') });
    const input = fc
      .tuple(fc.array(msg, { maxLength: 12 }), fc.nat())
      .map(([ms, at]) => ({ ms, cut: at % (ms.length + 1) }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(input, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 120 }),
        async (inputs, choices) => {
          // Each input's sequence: messages before its barrier, the barrier, messages after.
          type Item = { readonly input: number; readonly msg?: Msg; readonly post: boolean };
          const queues: Item[][] = inputs.map(({ ms, cut }, i) => [
            ...ms.slice(0, cut).map((m, j) => ({
              input: i,
              msg: { key: m.key, value: `${i}.${j}` },
              post: false,
            })),
            { input: i, post: false },
            ...ms.slice(cut).map((m, j) => ({
              input: i,
              msg: { key: m.key, value: `${i}.${cut + j}` },
              post: true,
            })),
          ]);
          // A random merge that keeps each input's order (its channel is FIFO).
          const arrival: Item[] = [];
          let c = 0;
          for (;;) {
            const open = queues.filter((q) => q.length > 0);
            if (open.length === 0) break;
            const q = open[(choices[c++] ?? 0) % open.length]!;
            arrival.push(q.shift()!);
          }
          const h = keyGroup(inputs.length);
          for (const item of arrival) {
            if (item.msg === undefined) h.barrier(1);
            else h.send(item.post ? 1 : 0, item.msg.key, item.msg.value);
          }
          const pre = arrival.filter((a) => a.msg !== undefined && !a.post).map((a) => a.msg!);
          const post = arrival.filter((a) => a.msg !== undefined && a.post).map((a) => a.msg!);
          expect(plain(await h.snapshot(1))).toEqual(fold(pre));
          // Pre-barrier messages in arrival order, then the held and later ones in arrival order.
          expect(plain(h.actor.entities)).toEqual(fold([...pre, ...post]));
          expect(h.events).toEqual([
            ...pre.map((m) => ({ kind: 'emit', value: `${m.key}:${m.value}`, bit: 0 })),
            { kind: 'forward', id: 1, bit: 0 },
            ...post.map((m) => ({ kind: 'emit', value: `${m.key}:${m.value}`, bit: 1 })),
          ]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('past its mark of held messages counts as a holder of their bit until it aligns', () => {
    const calls: [number, number][] = [];
    const { send, barrier } = keyGroup(2, undefined, (d, bit) => calls.push([d, bit]));
    barrier(1);
    for (let i = 0; i <= HOLD_HIGH; i++) send(1, `k${i % 7}`, `v${i}`);
    expect(calls).toEqual([[1, 1]]);
    barrier(1);
    expect(calls).toEqual([
      [1, 1],
      [-1, 1],
    ]);
    // The next checkpoint holds bit 0 (the epoch after it is even again).
    barrier(2);
    for (let i = 0; i <= HOLD_HIGH; i++) send(0, 'k', `w${i}`);
    barrier(2);
    expect(calls.slice(2)).toEqual([
      [1, 0],
      [-1, 0],
    ]);
  });

  it('a state that cannot be encoded fails the checkpoint with a coded error, but the barrier still goes on', async () => {
    const errors = new ErrorReporter(log);
    const { actor, events, send, barrier, checkpoints } = keyGroup(2, errors);
    send(0, 'x', 'a');
    (actor.entities.get('x') as unknown[]).push(Symbol('not encodable'));
    barrier(1);
    send(1, 'x', 'held');
    barrier(1);
    const part = await checkpoints.wait(1);
    expect(part.errors).toHaveLength(1);
    expect(part.errors[0]).toMatch(/partition 'seen'.*cannot be encoded/);
    expect(part.keyGroups).toEqual([
      { partition: 0, keyGroup: 5, count: 0, state: new Uint8Array() },
    ]);
    expect(Object.keys(errors.counts())).toEqual([
      // Counted per partition, not per checkpoint: its rate limit holds across checkpoints.
      `${ErrorCode.SnapshotEncodeFailed} at checkpoint of partition 'seen'`,
    ]);
    expect(events.filter((e) => e.kind === 'forward')).toEqual([
      { kind: 'forward', id: 1, bit: 0 },
    ]);
    expect(events.at(-1)).toEqual({ kind: 'emit', value: 'x:held', bit: 1 });
  });
});

describe('KeyGroupActor restored later (a moved group)', () => {
  it('hands in the same bytes until a message arrives, then decodes them and applies on top', async () => {
    const moved = new Map<string, unknown>([
      ['a', ['v1', 'v2']],
      ['b', ['v3']],
    ]);
    const bytes = encodeEntities(moved, undefined, 'seen');
    const { actor, send, barrier, snapshot, checkpoints } = keyGroup(1);
    actor.restoreLater(bytes, moved.size);
    expect(actor.size).toBe(2);
    expect(actor.entities.size).toBe(0); // not decoded yet
    barrier(1);
    const first = await checkpoints.wait(1);
    expect(first.keyGroups[0]!.state).toBe(bytes); // the same bytes, not encoded again
    expect(first.keyGroups[0]!.count).toBe(2);
    // The first message decodes the group, then applies on top of it.
    send(1, 'a', 'v4');
    expect(plain(actor.live())).toEqual({ a: ['v1', 'v2', 'v4'], b: ['v3'] });
    barrier(2);
    expect(plain(await snapshot(2))).toEqual({ a: ['v1', 'v2', 'v4'], b: ['v3'] });
  });

  it('a query decodes it; forget drops it all', () => {
    const bytes = encodeEntities(new Map([['k', ['x']]]), undefined, 'seen');
    const { actor } = keyGroup(1);
    actor.restoreLater(bytes, 1);
    expect([...actor.live().keys()]).toEqual(['k']);
    actor.forget();
    expect(actor.size).toBe(0);
    expect(actor.live().size).toBe(0);
  });
});

describe('ParallelActor', () => {
  it('passes each message on with its own epoch bit and forwards a barrier once every input sent it', () => {
    const actor = new ParallelActor();
    actor.barriers.expected = 3;
    const events: Event[] = [];
    actor.emit = (value) => events.push({ kind: 'emit', value, bit: cursor.bit });
    actor.forward = (id, bit) => events.push({ kind: 'forward', id, bit });
    const stage = 2;
    // Each barrier carries the bit of the epoch it closes, and the replica passes it on.
    actor.receive(stage, 'a');
    actor.receiveRuntime(RT_BARRIER, 1, 0);
    actor.receive(stage + EPOCH_BIT, 'b'); // from the input that passed: next epoch
    actor.receive(stage, 'c'); // from one that has not: stateless, nothing held
    actor.receiveRuntime(RT_BARRIER, 1, 0);
    expect(events.filter((e) => e.kind === 'forward')).toEqual([]);
    actor.receiveRuntime(RT_BARRIER, 1, 0);
    actor.receive(stage + EPOCH_BIT, 'd');
    // The next checkpoint counts afresh.
    actor.receiveRuntime(RT_BARRIER, 2, 1);
    actor.receiveRuntime(RT_BARRIER, 2, 1);
    actor.receive(stage, 'e');
    actor.receiveRuntime(RT_BARRIER, 2, 1);
    expect(events).toEqual([
      { kind: 'emit', value: 'a', bit: 0 },
      { kind: 'emit', value: 'b', bit: 1 },
      { kind: 'emit', value: 'c', bit: 0 },
      { kind: 'forward', id: 1, bit: 0 },
      { kind: 'emit', value: 'd', bit: 1 },
      { kind: 'emit', value: 'e', bit: 0 },
      { kind: 'forward', id: 2, bit: 1 },
    ]);
    expect(actor.counters.received).toBe(5);
  });

  it('ignores runtime messages other than barriers', () => {
    const actor = new ParallelActor();
    actor.barriers.expected = 1;
    const forwarded: number[] = [];
    actor.forward = (id) => forwarded.push(id);
    actor.receiveRuntime(RT_COMMIT, 1, undefined);
    actor.receiveRuntime(RT_BARRIER, 2, 0);
    expect(forwarded).toEqual([2]);
  });
});

/** The parts of a Scheduler a sink encoder and writer use, recording what is sent. */
class FakeScheduler {
  readonly sent: { ref: number; tag: number; a: unknown; b: unknown }[] = [];
  readonly resumed: number[] = [];
  private readonly hooks: (() => void)[] = [];
  send(ref: number, tag: number, a: unknown, b: unknown): void {
    this.sent.push({ ref, tag, a, b });
  }
  onFlush(hook: () => void): void {
    this.hooks.push(hook);
  }
  resume(ref: number): void {
    this.resumed.push(ref);
  }
  /** The end of a slice: flush hooks run. */
  flush(): void {
    for (const h of this.hooks) h();
  }
  /** What was sent, readable: chunks as text with their bit, barriers by id. */
  readable(): string[] {
    return this.sent.map(({ tag, a, b }) =>
      tag === RT_BARRIER
        ? `barrier ${a as number}`
        : `${tag >= EPOCH_BIT ? 1 : 0}:${Buffer.from(a as Uint8Array).toString()}(${b as number})`,
    );
  }
}

const WRITER = 9;

function encoder(upstream: number) {
  const scheduler = new FakeScheduler();
  const e = new SinkEncoder(
    scheduler as unknown as Scheduler,
    (o: unknown) => `${o as string};`,
    new ErrorReporter(log),
    'sink test',
  );
  e.writer = WRITER;
  e.barriers.expected = upstream;
  /** One output made in epoch parity `bit`. */
  const out = (bit: number, value: string) => {
    cursor.bit = bit;
    e.encode(value);
  };
  return { e, scheduler, out };
}

describe('SinkEncoder', () => {
  it('keeps the two epochs apart: ships what precedes barrier k, then the barrier, then the next epoch', () => {
    const { e, scheduler, out } = encoder(2);
    out(0, 'a');
    out(1, 'n1'); // an upstream actor past barrier 1
    e.barrier(1);
    expect(scheduler.sent).toEqual([]);
    out(0, 'b');
    e.barrier(1); // the other upstream actor: every one has passed
    expect(scheduler.readable()).toEqual(['0:a;b;(2)', 'barrier 1']);
    expect(scheduler.sent.every((s) => s.ref === WRITER)).toBe(true);
    scheduler.flush();
    expect(scheduler.readable().slice(2)).toEqual(['1:n1;(1)']);
    // Checkpoint 2: epoch parity 1 is current, parity 0 the next.
    out(1, 'c');
    out(0, 'm');
    e.barrier(2);
    e.barrier(2);
    scheduler.flush();
    expect(scheduler.readable().slice(3)).toEqual(['1:c;(1)', 'barrier 2', '0:m;(1)']);
    expect(e.counters).toEqual({ received: 5, shipped: 5 });
  });

  it('at a flush ships the current epoch before the next', () => {
    const { scheduler, out } = encoder(2);
    out(1, 'next');
    out(0, 'current');
    scheduler.flush();
    expect(scheduler.readable()).toEqual(['0:current;(1)', '1:next;(1)']);
  });

  it('when the next epoch fills a chunk, the current epoch ships first', () => {
    const { scheduler, out } = encoder(2);
    out(0, 'old');
    const big = 'x'.repeat(20_000);
    out(1, big);
    expect(scheduler.readable()).toEqual(['0:old;(1)', `1:${big};(1)`]);
  });

  it('a null sink (no writer) only counts', () => {
    const { e, scheduler, out } = encoder(1);
    e.writer = undefined;
    out(0, 'a');
    e.barrier(1);
    scheduler.flush();
    expect(scheduler.sent).toEqual([]);
    expect(e.counters.received).toBe(1);
  });
});

/** An output that records what is written and can be made congested. */
class FakeOutput implements Output {
  onWritable: () => void = () => undefined;
  writable = true;
  readonly writes: string[] = [];
  write(bytes: Uint8Array): boolean {
    this.writes.push(Buffer.from(bytes).toString());
    return true;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function writer(threads: number) {
  const scheduler = new FakeScheduler();
  const output = new FakeOutput();
  const checkpoints = new CheckpointCollector();
  checkpoints.expected = 1;
  const loop = { kick: () => undefined } as unknown as ThreadLoop;
  const w = new SinkWriterActor(scheduler as unknown as Scheduler, loop, output, 0, checkpoints);
  w.self = WRITER;
  w.barriers.expected = threads;
  /** A chunk from an encoder, in epoch parity `bit`, holding `count` outputs. */
  const chunk = (bit: number, text: string, count = 1) =>
    w.receive(TAG_BYTES + bit * EPOCH_BIT, Buffer.from(text), count);
  const barrier = (id: number) => w.receiveRuntime(RT_BARRIER, id);
  const commit = (id: number) => w.receiveRuntime(RT_COMMIT, id);
  /** The sink part recorded for checkpoint `id`, bodies as text. */
  const recorded = async (id: number) => {
    const part = await checkpoints.wait(id);
    return part.sinks.map((s) => ({
      sink: s.sink,
      pending: s.pending.map(([k, body]) => [k, Buffer.from(body).toString()]),
    }));
  };
  return { w, output, chunk, barrier, commit, recorded };
}

describe('SinkWriterActor, at least once', () => {
  it('writes chunks as they come, whatever their epoch, and records nothing held', async () => {
    const { output, chunk, barrier, commit, recorded } = writer(2);
    chunk(0, 'a');
    chunk(1, 'b');
    barrier(1);
    barrier(1);
    expect(output.writes).toEqual(['a', 'b']);
    expect(await recorded(1)).toEqual([{ sink: 0, pending: [] }]);
    commit(1);
    expect(output.writes).toEqual(['a', 'b']);
  });
});

/** A state type msgpackr cannot carry as itself: a class with behaviour. */
class Tally {
  constructor(
    public n: number,
    public readonly since: Date,
  ) {}
  add(k: number): void {
    this.n += k;
  }
}

const tallyCodec: StateCodec<unknown> = {
  serialize: (s) => {
    const t = s as Tally;
    // A view into a larger buffer, as msgpackr's own pack returns: only the view is kept.
    const text = Buffer.from(`--${JSON.stringify({ n: t.n, since: t.since.toISOString() })}`);
    return new Uint8Array(text.buffer, text.byteOffset + 2, text.length - 2);
  },
  deserialize: (bytes) => {
    const o = JSON.parse(Buffer.from(bytes).toString()) as { n: number; since: string };
    return new Tally(o.n, new Date(o.since));
  },
};

function thrown(f: () => unknown): RooError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    return e as RooError;
  }
  return expect.fail('expected a throw');
}

describe('encodeEntities / decodeEntities', () => {
  it('round-trips Maps, Sets, Dates, binary, big integers and nested objects', () => {
    const entities = new Map<string, unknown>([
      [
        'map',
        new Map<unknown, unknown>([
          ['a', 1],
          [2, new Set(['x', 'y'])],
        ]),
      ],
      ['set', new Set([1, 'two', new Date(86_400_000)])],
      ['date', new Date('2024-05-01T12:00:00.123Z')],
      ['nested', { a: { b: [1, { c: new Map([['d', [true, null]]]) }] }, e: 'é€😀' }],
      ['bytes', Uint8Array.of(0, 1, 255)],
      ['big', 2n ** 70n],
      ['empty', {}],
      ['', 'an empty key'],
      ['__proto__', 'a key like any other: keys are not object fields'],
    ]);
    const back = decodeEntities(encodeEntities(entities, undefined, 'p'), undefined, 'p');
    expect(back).toEqual(entities);
    expect([...back.keys()]).toEqual([...entities.keys()]);
    const map = back.get('map') as Map<unknown, unknown>;
    expect(map).toBeInstanceOf(Map);
    expect(map.get(2)).toBeInstanceOf(Set);
    expect(back.get('date')).toBeInstanceOf(Date);
    expect(back.get('bytes')).toBeInstanceOf(Uint8Array);
  });

  it('round-trips arbitrary JSON-like states (property)', () => {
    // Through JSON: -0 becomes 0 (msgpackr writes it as 0), and '__proto__' fields go
    // (msgpackr renames them on decode, against prototype pollution).
    const value = fc
      .jsonValue()
      .map(
        (v) =>
          JSON.parse(JSON.stringify(v), (k, x: unknown) =>
            k === '__proto__' ? undefined : x,
          ) as unknown,
      );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value, { maxKeys: 20 }), (record) => {
        const entities = new Map(Object.entries(record));
        expect(decodeEntities(encodeEntities(entities, undefined, 'p'), undefined, 'p')).toEqual(
          entities,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('each encoding decodes on its own, in any order (no structures shared between them)', () => {
    const a = encodeEntities(new Map([['k', { n: 1, w: 'a' }]]), undefined, 'p');
    const b = encodeEntities(new Map([['k', { n: 2, w: 'b' }]]), undefined, 'p');
    const copyB = Uint8Array.from(b);
    expect(decodeEntities(copyB, undefined, 'p').get('k')).toEqual({ n: 2, w: 'b' });
    expect(decodeEntities(a, undefined, 'p').get('k')).toEqual({ n: 1, w: 'a' });
    // A fresh decoder (another process) reads them too.
    expect(new Unpackr({ moreTypes: true }).unpack(copyB)).toEqual(['k', { n: 2, w: 'b' }]);
  });

  it("uses the partition's codec for every state", () => {
    const since = new Date('2020-01-01T00:00:00.000Z');
    const entities = new Map<string, unknown>([
      ['a', new Tally(3, since)],
      ['b', new Tally(0, since)],
    ]);
    const back = decodeEntities(
      encodeEntities(entities, tallyCodec, 'tallies'),
      tallyCodec,
      'tallies',
    );
    expect(back).toEqual(entities);
    const a = back.get('a') as Tally;
    expect(a).toBeInstanceOf(Tally);
    a.add(2);
    expect(a.n).toBe(5);
    expect(a.since).toEqual(since);
  });

  it('a state that cannot be encoded raises ROO_ERR_SNAPSHOT_ENCODE_FAILED naming the partition', () => {
    const symbol = thrown(() =>
      encodeEntities(new Map([['k', { s: Symbol('x') }]]), undefined, 'word totals'),
    );
    expect(symbol.code).toBe(ErrorCode.SnapshotEncodeFailed);
    expect(symbol.message).toMatch(/partition 'word totals'/);
    expect(symbol.message).toMatch(/codec/);
    const loop: Record<string, unknown> = {};
    loop['self'] = loop;
    const circular = thrown(() => encodeEntities(new Map([['k', loop]]), undefined, 'loops'));
    expect(circular.code).toBe(ErrorCode.SnapshotEncodeFailed);
    expect(circular.message).toMatch(/partition 'loops'/);
    // A codec that throws: the key is named too.
    const failing: StateCodec<unknown> = {
      serialize: () => {
        throw new Error('no way');
      },
      deserialize: () => undefined,
    };
    const codec = thrown(() => encodeEntities(new Map([['bad key', 1]]), failing, 'coded'));
    expect(codec.code).toBe(ErrorCode.SnapshotEncodeFailed);
    expect(codec.message).toMatch(/partition 'coded' \(key 'bad key'\).*no way/);
  });

  it('refuses bytes that are not an encoding with ROO_ERR_SNAPSHOT_CORRUPT naming the partition', () => {
    const good = encodeEntities(new Map([['k', 1]]), undefined, 'p');
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, good.length - 1), /state of partition 'p' does not decode/],
      [Uint8Array.of(0xc1), /state of partition 'p' is malformed/],
      [new Uint8Array(), /state of partition 'p' does not decode/],
    ];
    for (const [bytes, message] of cases) {
      const e = thrown(() => decodeEntities(bytes, undefined, 'p'));
      expect(e.code).toBe(ErrorCode.SnapshotCorrupt);
      expect(e.message).toMatch(message);
    }
    // Valid msgpack of the wrong shape: an odd-length list, a key that is not text.
    const odd = thrown(() => decodeEntities(Uint8Array.of(0x91, 0xa1, 0x6b), undefined, 'p'));
    expect(odd.message).toMatch(/malformed/);
    const notText = thrown(() => decodeEntities(Uint8Array.of(0x92, 0x01, 0x02), undefined, 'p'));
    expect(notText.message).toMatch(/a key of partition 'p' is not text/);
    const badCodec: StateCodec<unknown> = {
      serialize: (s) => Buffer.from(String(s)),
      deserialize: () => {
        throw new Error('unreadable');
      },
    };
    const codec = thrown(() =>
      decodeEntities(encodeEntities(new Map([['k', 1]]), badCodec, 'p'), badCodec, 'p'),
    );
    expect(codec.code).toBe(ErrorCode.SnapshotCorrupt);
    expect(codec.message).toMatch(/key 'k' of partition 'p' does not deserialize: unreadable/);
  });
});

describe('KeyGroupActor snapshot reuse', () => {
  it('encodes a group again only when a message reached it since the last checkpoint', async () => {
    const { actor, send, barrier, checkpoints } = keyGroup(1);
    const stateOf = async (id: number) => (await checkpoints.wait(id)).keyGroups[0]!.state;
    send(0, 'x', 'A1');
    barrier(1);
    const first = await stateOf(1);
    barrier(2); // nothing arrived: the same bytes
    expect(await stateOf(2)).toBe(first);
    send(0, 'x', 'A2'); // epoch bit 0 again after two barriers
    barrier(3);
    const third = await stateOf(3);
    expect(third).not.toBe(first);
    expect(plain(decodeEntities(third, undefined, 'seen'))).toEqual({ x: ['A1', 'A2'] });
    // Restored bytes are reused as they are until a message changes the group.
    actor.restore(first);
    expect(plain(actor.entities)).toEqual({ x: ['A1'] });
    barrier(4);
    expect(await stateOf(4)).toBe(first);
  });
});
