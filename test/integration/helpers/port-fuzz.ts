/**
 * fast-check generators of bad input for every listening port of a running
 * cluster (test/integration/cluster-fuzz-ports.test.ts): per port, byte
 * streams that are random, or well framed with bad contents, cut at any
 * point, announcing huge lengths, and delivered at once, dripped a byte at a
 * time and then stalled, ended or reset. Each {@link Attack} says where it
 * goes and how; {@link playAttack} plays it against real addresses.
 *
 * Nothing generated here can be a valid instruction a worker should obey:
 * data batches are always corrupt somewhere (a batch that decoded would
 * deliver words), control messages that name a member come from a
 * connection that is none, acknowledging source streams have ids of their
 * own ("fuzz-..."), and external requests ask only what reads (status,
 * queries), never shutdown, shrink or rebalance, which anyone may ask.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { BATCH_VERSION } from '../../../protocols/batch-codec.js';
import {
  CONTROL_PROTOCOL_VERSION,
  DATA_PROTOCOL_VERSION,
  decodeControlMessage,
  DEFAULT_MAX_SINK_TXN_BYTES,
  encodeSinkTxnHeader,
  encodeSinkTxnHello,
  METRICS_PROTOCOL_VERSION,
  SINK_TXN_MAGIC,
  SINK_TXN_PROTOCOL_VERSION,
  encodeControlMessage,
  encodeDataMessage,
  EXTERNAL_PROTOCOL_VERSION,
  MAX_DATA_LANES,
  SOURCE_ACK_MAGIC,
  type ControlMessage,
} from '../../../protocols/index.js';
import { encodeSourceAckOpening } from '../../../protocols/source-ack.js';
import { frame, rawSession, WS_HANDSHAKE, wsFrame, wsSend, type RawPlan } from './raw-socket.js';

/**
 * The kinds of port a cluster listens on: a worker's, `roo receive`'s (the
 * exactly-once sinks' transactions and their acknowledgements) and `roo
 * metrics`' (workers' reports, and the UI's HTTP and live feed).
 */
export type PortKind =
  'source' | 'data' | 'control' | 'external' | 'receive' | 'metrics' | 'metrics-http';

/** One bad connection: where it goes, and either raw bytes or one WebSocket message. */
export interface Attack {
  readonly port: PortKind;
  /** Which worker's port (0: the initializer); the source and control ports are the initializer's. */
  readonly worker: number;
  /** What it is, for failure messages. */
  readonly label: string;
  /** Raw TCP: the bytes and how they are delivered. */
  readonly raw?: RawPlan;
  /** Or a message sent through a real WebSocket client. */
  readonly ws?: Uint8Array | string;
}

/** The addresses an attack may target. */
export interface Targets {
  readonly source: string;
  readonly control: string;
  readonly data: readonly string[];
  readonly external: readonly string[];
  readonly receive: string;
  readonly metrics: string;
  readonly metricsHttp: string;
}

/** What the cluster is called, so that spoofed messages can name its members. */
export interface ClusterFacts {
  readonly members: readonly string[];
}

/** Longest stall (ms): the worker may keep a quiet connection; we give up on it then. */
export const STALL_MS = 250;
/** Most bytes dripped one write at a time (the rest of a stream goes at once). */
const MAX_DRIP = 24;

const plain = new Packr({ useRecords: false });
const pack = (value: unknown): Uint8Array => new Uint8Array(plain.pack(value));

const smallBytes = fc.uint8Array({ maxLength: 300 });
const anyText = fc.string({ maxLength: 60, unit: 'binary' });
/** A frame length a 4-byte header can carry but no worker accepts (over 16 MiB). */
const hugeLength = fc.integer({ min: 16 * 1024 * 1024 + 1, max: 0xffffffff });
/** A frame length a worker accepts and then waits for (up to 16 MiB). */
const bigLegalLength = fc.integer({ min: 1024, max: 16 * 1024 * 1024 });

/** msgpack values of any shape, a few levels deep. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    anyText,
    smallBytes,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A map that looks like a message of some protocol: a type, a version and fields, any of them wrong. */
function messageLike(types: readonly string[], version: number): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      type: fc.oneof(fc.constantFrom(...types), anyText, anyValue),
      version: fc.oneof(fc.constant(version), fc.constantFrom(0, version + 1, 99, -1), anyValue),
      extra: fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 5 }),
    })
    .map(({ type, version: v, extra }) => pack({ ...extra, type, version: v }));
}

/** Cuts `bytes` at a point fast-check picks (possibly keeping all of it). */
function cut(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(bytes, fc.nat(), fc.boolean())
    .map(([b, at, whole]) => (whole ? b : b.subarray(0, at % (b.length + 1))));
}

/** A header announcing `length`, then a few bytes of the body at most. */
const announcing = (length: fc.Arbitrary<number>) =>
  fc.tuple(length, fc.uint8Array({ maxLength: 40 })).map(([n, body]) => frame(body, n));

/** Frames of arbitrary payloads, concatenated. */
const framesOf = (payload: fc.Arbitrary<Uint8Array>) =>
  fc
    .array(payload, { minLength: 1, maxLength: 4 })
    .map((ps) => Buffer.concat(ps.map((p) => frame(p))));

/** Bytes of a batch that never decodes whole: another version, or a message of a kind that does not exist. */
const corruptBatch: fc.Arbitrary<Uint8Array> = fc.oneof(
  smallBytes.map((b) => Buffer.concat([Buffer.from([BATCH_VERSION + 1]), b])),
  fc
    .tuple(
      fc.integer({ min: 1, max: 1000 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      smallBytes,
    )
    .map(([count, head8, rest]) => {
      const head = Buffer.alloc(9);
      head[0] = BATCH_VERSION;
      head.writeUInt32LE(count, 1);
      // The first message: any destination and tag, then a value kind that does not exist.
      return Buffer.concat([head, head8, Buffer.from([0xee]), rest]);
    }),
  // Good messages to low actor ids and both stage tags, then a value kind that does not exist.
  fc.integer({ min: 1, max: 20 }).map((n) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const m = Buffer.alloc(4 + 4 + 1 + 4 + 3 + 1);
      m.writeUInt32LE(i % 4, 0);
      m.writeInt32LE(1 + (i % 2), 4);
      m[8] = 6; // ASCII
      m.writeUInt32LE(3, 9);
      m.write('the', 13, 'latin1');
      m[16] = 1; // NULL
      parts.push(m);
    }
    const bad = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0xee]);
    const head = Buffer.alloc(9);
    head[0] = BATCH_VERSION;
    head.writeUInt32LE(n + 1, 1);
    return Buffer.concat([head, ...parts, bad]);
  }),
);

/** Data-port payloads: not data messages, data messages of the wrong shape, or corrupt batches. */
function dataPayload(facts: ClusterFacts): fc.Arbitrary<Uint8Array> {
  const sender = fc.oneof(
    fc.constantFrom(...facts.members),
    fc.string({ minLength: 1, maxLength: 12 }),
  );
  return fc.oneof(
    smallBytes,
    messageLike(['batch'], DATA_PROTOCOL_VERSION),
    fc
      .record({
        epoch: fc.oneof(fc.constant(0), fc.nat()),
        sender,
        lane: fc.oneof(fc.nat({ max: 1 }), fc.nat({ max: MAX_DATA_LANES - 1 })),
        bytes: corruptBatch,
      })
      .map((m) => encodeDataMessage({ type: 'batch', version: DATA_PROTOCOL_VERSION, ...m })),
  );
}

/** Control messages a stranger sends, well formed, several naming a member of the cluster. */
function spoofedControl(facts: ClusterFacts): fc.Arbitrary<Uint8Array> {
  const member = fc.constantFrom(...facts.members);
  const id = fc.nat({ max: 1000 });
  const nonce = fc.nat();
  const v = CONTROL_PROTOCOL_VERSION;
  const messages: fc.Arbitrary<ControlMessage> = fc.oneof(
    member.map((name) => ({ type: 'wired', version: v, name }) as const),
    member.map((name) => ({ type: 'ready', version: v, name }) as const),
    fc
      .record({ name: member, id, error: fc.constantFrom('', 'disk full') })
      .map((m) => ({ type: 'checkpoint-done', version: v, ...m }) as const),
    fc
      .record({ name: member, id })
      .map((m) => ({ type: 'migrate-prepared', version: v, ...m }) as const),
    fc
      .record({ name: member, id })
      .map((m) => ({ type: 'reconfigured', version: v, ...m }) as const),
    fc
      .record({ nonce, name: member })
      .map((m) => ({ type: 'rebalance-request', version: v, ...m, moves: [] }) as const),
    fc
      .record({
        nonce,
        workers: fc.subarray([...facts.members]),
        count: fc.nat({ max: 3 }),
        query: fc.boolean(),
      })
      .map((m) => ({ type: 'shrink-request', version: v, ...m }) as const),
    fc.constant({ type: 'shutdown', version: v, reason: 'a stranger asks' } as const),
    nonce.map((n) => ({ type: 'ping', version: v, nonce: n }) as const),
    nonce.map((n) => ({ type: 'pong', version: v, nonce: n }) as const),
  );
  return messages.map((m) => encodeControlMessage(m));
}

/** External requests that only read (or name no command at all), and shapes that are none. */
const externalPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  smallBytes,
  messageLike(['request', 'response'], EXTERNAL_PROTOCOL_VERSION),
  fc
    .record({
      id: fc.oneof(fc.nat(), anyValue),
      command: fc.oneof(fc.constantFrom('status', 'partition-query', 'entity-counts'), anyText),
      args: fc.oneof(
        fc.constant(undefined),
        fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 3 }),
      ),
    })
    .map((r) => pack({ type: 'request', version: EXTERNAL_PROTOCOL_VERSION, ...r })),
);

/** WebSocket frames by hand: any opcode, reserved bits, unmasked, fragments, a huge announced length. */
const wsFrames = (payload: fc.Arbitrary<Uint8Array>) =>
  fc.oneof(
    fc
      .record({
        opcode: fc.oneof(fc.constant(2), fc.nat({ max: 15 })),
        payload,
        fin: fc.boolean(),
        rsv: fc.oneof(fc.constant(0), fc.nat({ max: 7 })),
        masked: fc.oneof(fc.constant(true), fc.boolean()),
      })
      .map(({ opcode, payload: p, ...o }) => wsFrame(opcode, p, o)),
    fc.tuple(fc.bigInt({ min: 1n << 24n, max: (1n << 63n) - 1n }), smallBytes).map(([n, rest]) => {
      const head = Buffer.alloc(14);
      head[0] = 0x82;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(n, 2);
      return Buffer.concat([head, rest]);
    }),
  );

/** How the bytes go: at once, or with the last few dripped; then end, reset, or a stall. */
function delivery(bytes: Uint8Array): fc.Arbitrary<Omit<RawPlan, 'bytes' | 'handshake'>> {
  const ending = fc.constantFrom<RawPlan['then']>('end', 'reset', 'stall');
  return fc.oneof(
    ending.map((then) => ({ then, stallMs: STALL_MS })),
    fc
      .record({
        drip: fc.integer({ min: 1, max: MAX_DRIP }),
        dripBytes: fc.integer({ min: 1, max: 3 }),
        dripMs: fc.integer({ min: 1, max: 4 }),
        then: ending,
      })
      .map(({ drip, ...d }) => ({
        ...d,
        burst: Math.max(0, bytes.length - drip),
        stallMs: STALL_MS,
      })),
  );
}

/** A raw attack of `bytes` on a port, with a delivery fast-check picks. */
function rawAttack(
  port: PortKind,
  worker: fc.Arbitrary<number>,
  label: string,
  bytes: fc.Arbitrary<Uint8Array>,
  handshake = false,
): fc.Arbitrary<Attack> {
  return fc.tuple(worker, bytes).chain(([w, b]) =>
    delivery(b).map((d): Attack => ({
      port,
      worker: w,
      label: `${label} (${b.length} bytes, ${d.then}${d.burst === undefined ? '' : `, drip from ${d.burst}`})`,
      raw: { ...d, bytes: b, ...(handshake ? { handshake: true } : {}) },
    })),
  );
}

/**
 * What a stranger says to `roo receive` as an exactly-once sink: always the
 * whole magic first (bytes before it would be plain output, copied through),
 * then garbage, messages of the wrong shape, or a hello of a sink of its own
 * ("fuzz-...") and a transaction whose body never arrives whole (a whole
 * one would be applied: output like any sink's).
 */
const receivePayload: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    smallBytes,
    framesOf(messageLike(['hello', 'txn', 'ack'], SINK_TXN_PROTOCOL_VERSION)),
    fc
      .record({
        id: fc.string({ minLength: 1, maxLength: 20 }),
        epoch: fc.nat(),
        announced: fc.integer({ min: 1, max: DEFAULT_MAX_SINK_TXN_BYTES }),
        body: smallBytes,
        header: fc.boolean(),
      })
      .map(({ id, epoch, announced, body, header }) => {
        const hello = encodeSinkTxnHello(`fuzz-${id}`).subarray(SINK_TXN_MAGIC.length);
        if (!header) return Buffer.concat([hello, body]);
        const part = body.subarray(0, Math.max(0, announced - 1));
        return Buffer.concat([hello, encodeSinkTxnHeader(epoch, announced), part]);
      }),
    fc.tuple(hugeLength, smallBytes).map(([n, b]) => frame(b, n)),
  )
  .chain((rest) => cut(fc.constant(rest)))
  .map((rest) => Buffer.concat([SINK_TXN_MAGIC, rest]));

/** What a stranger says to `roo metrics`' report port: frames, of garbage or of the wrong shape. */
const metricsPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  smallBytes,
  cut(framesOf(fc.oneof(smallBytes, messageLike(['hello', 'report'], METRICS_PROTOCOL_VERSION)))),
  announcing(hugeLength),
  announcing(bigLegalLength),
);

/** What a stranger says to `roo metrics`' UI: bytes, requests of any path, a live feed by hand. */
const metricsHttpPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  smallBytes,
  fc
    .tuple(fc.constantFrom('GET', 'POST', 'HEAD', 'BREW'), anyText, smallBytes)
    .map(([method, path, rest]) =>
      Buffer.concat([Buffer.from(`${method} /${encodeURI(path)} HTTP/1.1\r\nHost: x\r\n`), rest]),
    ),
  fc
    .array(wsFrames(smallBytes), { minLength: 1, maxLength: 3 })
    .map((frames) =>
      Buffer.concat([Buffer.from(WS_HANDSHAKE.replace('GET / ', 'GET /live ')), ...frames]),
    ),
);

/** Every kind of bad connection, on every port of a cluster of `facts.members`. */
export function attackArb(facts: ClusterFacts): fc.Arbitrary<Attack> {
  const anyWorker = fc.nat({ max: facts.members.length - 1 });
  const first = fc.constant(0);
  const sourceText = framesOf(fc.string({ maxLength: 80 }).map((s) => Buffer.from(s)));
  const ackOpening = fc
    .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(sourceText, smallBytes))
    .map(([id, rest]) => Buffer.concat([encodeSourceAckOpening(`fuzz-${id}`), rest]));
  const ackGarbage = fc
    .oneof(smallBytes, framesOf(messageLike(['hello', 'resume', 'ack'], 1)))
    .map((rest) => Buffer.concat([SOURCE_ACK_MAGIC, rest]));
  return fc.oneof(
    // The TCP source (application input: frames of text, and the acknowledging protocol).
    rawAttack('source', first, 'source: random bytes', smallBytes),
    rawAttack('source', first, 'source: text frames, cut', cut(sourceText)),
    rawAttack('source', first, 'source: huge length', announcing(hugeLength)),
    rawAttack('source', first, 'source: big length, then quiet', announcing(bigLegalLength)),
    rawAttack('source', first, 'source: acking stream, cut', cut(ackOpening)),
    rawAttack('source', first, 'source: bad acking hello', cut(ackGarbage)),
    // Data ports (length-prefixed data messages between workers).
    rawAttack('data', anyWorker, 'data: random bytes', smallBytes),
    rawAttack('data', anyWorker, 'data: bad frames, cut', cut(framesOf(dataPayload(facts)))),
    rawAttack('data', anyWorker, 'data: huge length', announcing(hugeLength)),
    rawAttack('data', anyWorker, 'data: big length, then quiet', announcing(bigLegalLength)),
    // The control port (WebSocket): before and after the handshake, and real messages.
    rawAttack('control', first, 'control: random bytes', smallBytes),
    rawAttack(
      'control',
      first,
      'control: handshake, cut',
      cut(fc.constant(Buffer.from(WS_HANDSHAKE))),
    ),
    rawAttack(
      'control',
      first,
      'control: frames by hand, cut',
      cut(
        fc
          .array(wsFrames(fc.oneof(smallBytes, spoofedControl(facts))), {
            minLength: 1,
            maxLength: 3,
          })
          .map((f) => Buffer.concat(f)),
      ),
      true,
    ),
    {
      // Real WebSocket messages reach the control layer itself: the most to say, so more of them.
      weight: 4,
      arbitrary: fc
        .oneof(
          smallBytes.map((m) => ({ what: 'random', m: m as Uint8Array | string })),
          messageLike(
            ['hello', 'wired', 'ready', 'checkpoint-done', 'shutdown'],
            CONTROL_PROTOCOL_VERSION,
          ).map((m) => ({ what: 'bad fields', m: m as Uint8Array | string })),
          {
            weight: 4,
            arbitrary: spoofedControl(facts).map((m) => ({
              what: `spoofed '${decodeControlMessage(m).type}'`,
              m: m as Uint8Array | string,
            })),
          },
          anyText.map((m) => ({ what: 'text', m: m as Uint8Array | string })),
        )
        .map(({ what, m }): Attack => ({
          port: 'control',
          worker: 0,
          label: `control: ws message, ${what}`,
          ws: m,
        })),
    },
    // External ports (WebSocket).
    rawAttack('external', anyWorker, 'external: random bytes', smallBytes),
    rawAttack(
      'external',
      anyWorker,
      'external: frames by hand, cut',
      cut(
        fc
          .array(wsFrames(externalPayload), { minLength: 1, maxLength: 3 })
          .map((f) => Buffer.concat(f)),
      ),
      true,
    ),
    fc.tuple(anyWorker, externalPayload).map(([w, m]): Attack => ({
      port: 'external',
      worker: w,
      label: 'external: ws message',
      ws: m,
    })),
    // roo receive: the exactly-once sinks' port.
    rawAttack('receive', first, 'receive: a stranger sink', receivePayload),
    // roo metrics: where workers report, and the UI.
    rawAttack('metrics', first, 'metrics: bad reports', metricsPayload),
    rawAttack('metrics-http', first, 'metrics UI: bad requests, cut', cut(metricsHttpPayload)),
  );
}

/** The address an attack goes to. */
export function targetOf(attack: Attack, targets: Targets): string {
  switch (attack.port) {
    case 'source':
      return targets.source;
    case 'control':
      return targets.control;
    case 'data':
      return targets.data[attack.worker] as string;
    case 'external':
      return targets.external[attack.worker] as string;
    case 'receive':
      return targets.receive;
    case 'metrics':
      return targets.metrics;
    case 'metrics-http':
      return targets.metricsHttp;
  }
}

/** Plays one attack; resolves once it is over (the worker closed it, or we gave up on it). */
export async function playAttack(attack: Attack, targets: Targets): Promise<void> {
  const address = targetOf(attack, targets);
  if (attack.ws !== undefined) await wsSend(address, attack.ws, STALL_MS);
  else if (attack.raw !== undefined) await rawSession(address, attack.raw);
}

/** The bytes an attack sends, if raw (for bounds on what a source could have decoded). */
export function bytesOf(attack: Attack): Uint8Array | undefined {
  return attack.raw?.bytes;
}
