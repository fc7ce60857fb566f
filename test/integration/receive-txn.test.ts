/**
 * `roo receive` and exactly-once sinks (protocols/sink-txn.ts): fake sinks
 * send transactions, crash mid-transaction, reconnect and resend; the
 * receiver prints every record exactly once, in order, through the same
 * output as plain connections, which keep working beside them. First in
 * process (the TypeScript sources), then as a real process (bin/roo, dist/)
 * writing to a file.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeFrame,
  encodeSinkTxn,
  encodeSinkTxnHeader,
  encodeSinkTxnHello,
  ErrorCode,
  RooError,
  SINK_TXN_MAGIC,
  SinkAckParser,
} from '../../protocols/index.js';
import {
  type ConnectionClosed,
  parseReceiveArgs,
  type Receiver,
  receiveSummary,
  startReceiver,
} from '../../runtime/cli/receive.js';
import { LOCAL, RooProcess, stopAll } from './helpers/processes.js';

/** A Writable that keeps what it is given and resolves waits on it as lines arrive. */
class Collector extends Writable {
  private chunks: Buffer[] = [];
  private newlines = 0;
  private waiters: { lines: number; resolve: () => void }[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.chunks.push(chunk);
    for (const byte of chunk) if (byte === 0x0a) this.newlines++;
    this.waiters = this.waiters.filter((w) => {
      if (this.newlines < w.lines) return true;
      w.resolve();
      return false;
    });
    done();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Resolves once `n` newlines have been written. */
  lines(n: number): Promise<void> {
    if (this.newlines >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ lines: n, resolve }));
  }
}

const receivers: Receiver[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** Starts a receiver on an OS-assigned port, writing into a collector. */
async function receiver(options: { framed: boolean; write?: boolean; maxTxnBytes?: number }) {
  const out = new Collector();
  const closed: ConnectionClosed[] = [];
  const closedWaiters: (() => void)[] = [];
  const logs: string[] = [];
  const r = await startReceiver({
    address: { host: LOCAL, port: 0 },
    framed: options.framed,
    write: options.write ?? true,
    out,
    log: (line) => logs.push(line),
    onConnectionClosed: (event) => {
      closed.push(event);
      closedWaiters.splice(0).forEach((w) => w());
    },
    ...(options.maxTxnBytes === undefined ? {} : { maxTxnBytes: options.maxTxnBytes }),
  });
  receivers.push(r);
  /** Resolves once `n` connections have closed. */
  const closedCount = async (n: number): Promise<ConnectionClosed[]> => {
    while (closed.length < n) await new Promise<void>((resolve) => closedWaiters.push(resolve));
    return closed;
  };
  return { r, out, logs, closedCount };
}

/** Opens a connection to `port`. */
async function connect(port: number): Promise<Socket> {
  const socket = createConnection({ host: LOCAL, port });
  sockets.push(socket);
  await once(socket, 'connect');
  return socket;
}

/** Writes `bytes` and resolves once they are handed to the kernel. */
function written(socket: Socket, bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(bytes, (err) => (err ? reject(err) : resolve())),
  );
}

/** Ends a connection and resolves once the receiver has closed its side too (it read everything). */
async function finished(socket: Socket): Promise<void> {
  const closed = once(socket, 'close');
  socket.end();
  await closed;
}

/**
 * A fake exactly-once sink connection: the hello at once, then transactions
 * whose bodies are records, framed (`--framed`) or newline-terminated.
 */
class FakeSink {
  /** The receiver's acks, in order (`applied`: null for none yet). */
  readonly acks: (number | null)[] = [];
  private ackWaiters: (() => void)[] = [];

  private constructor(
    readonly socket: Socket,
    sink: string,
    private readonly framed: boolean,
  ) {
    // The receiver's acks, read as a sink reads them (a socket never read would never see the end).
    const parser = new SinkAckParser(sink);
    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk, (ack) => this.acks.push(ack.applied));
      this.ackWaiters.splice(0).forEach((w) => w());
    });
  }

  static async open(port: number, sink: string, framed: boolean): Promise<FakeSink> {
    const socket = await connect(port);
    await written(socket, encodeSinkTxnHello(sink));
    return new FakeSink(socket, sink, framed);
  }

  /** Resolves once the receiver has acknowledged `epoch` (or null, its first ack: none applied). */
  async acked(epoch: number | null): Promise<void> {
    const done = (): boolean =>
      epoch === null ? this.acks.length > 0 : this.acks.some((a) => a !== null && a >= epoch);
    while (!done()) await new Promise<void>((resolve) => this.ackWaiters.push(resolve));
  }

  /** The body the at-least-once sink would have written for `records`. */
  body(records: readonly string[]): Buffer {
    return Buffer.concat(
      records.map((r) => (this.framed ? encodeFrame(Buffer.from(r)) : Buffer.from(`${r}\n`))),
    );
  }

  /** Sends a whole transaction. */
  async txn(epoch: number, records: readonly string[]): Promise<void> {
    for (const part of encodeSinkTxn(epoch, this.body(records))) await written(this.socket, part);
  }

  /** Sends a transaction's header and only `keep` bytes of its body. */
  async partial(epoch: number, records: readonly string[], keep: number): Promise<void> {
    const body = this.body(records);
    await written(this.socket, encodeSinkTxnHeader(epoch, body.length));
    await written(this.socket, body.subarray(0, keep));
  }
}

/** Resolves once `condition` holds, checked after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/** Records `from`..`to` of sink `name`, e.g. `a:3`. */
function records(name: string, from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `${name}:${from + i}`);
}

/** The output lines that start with `name:`. */
function linesOf(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}:`));
}

describe('in process', () => {
  for (const framed of [true, false]) {
    it(`${framed ? '--framed' : 'raw lines'}: a sink that crashes mid-transaction and resends prints every record once, in order`, async () => {
      const { r, out, logs, closedCount } = await receiver({ framed });
      const first = await FakeSink.open(r.address.port, 'worker1/word totals', framed);
      await first.txn(1, records('a', 1, 3));
      await first.txn(2, records('a', 4, 4));
      await first.txn(3, []);
      await out.lines(4);
      // Checkpoint 4's transaction is cut short by the crash: none of it may appear.
      await first.partial(4, records('a', 5, 7), framed ? 9 : 5);
      // A reset may discard what the receiver has not read yet: let it read everything first.
      await until(() => r.stats.bytes === first.socket.bytesWritten);
      first.socket.resetAndDestroy();
      const [cut] = await closedCount(1);
      expect(cut).toMatchObject({ sink: 'worker1/word totals', transactions: 3, duplicates: 0 });

      // The recovered sink resends what it cannot know was received, then goes on.
      const second = await FakeSink.open(r.address.port, 'worker1/word totals', framed);
      await second.txn(2, records('a', 4, 4));
      await second.txn(3, []);
      await second.txn(4, records('a', 5, 7));
      await second.txn(6, records('a', 8, 9));
      await second.acked(6);
      // Its first ack, on the hello, says what was applied before it connected.
      expect(second.acks[0]).toBe(3);
      // The first connection's, on its hello: none applied yet.
      expect(first.acks[0]).toBeNull();
      await finished(second.socket);
      const [, again] = await closedCount(2);
      expect(again).toMatchObject({ transactions: 2, duplicates: 2 });
      expect(again!.error).toBeUndefined();
      expect(again!.messages).toBe(framed ? 5 : 0);

      expect(out.text).toBe(records('a', 1, 9).join('\n') + '\n');
      expect(r.stats).toMatchObject({
        connections: 2,
        sinkConnections: 2,
        transactions: 5,
        duplicates: 2,
        discarded: 1,
        messages: framed ? 9 : 0,
      });
      const log = logs.join('\n');
      expect(log).toMatch(
        /exactly-once sink "worker1\/word totals" connected from 127\.0\.0\.1:\d+/,
      );
      expect(log).toMatch(
        /discarded transaction epoch 4 of sink "worker1\/word totals" from \S+: the connection closed after \d+ of its \d+ bytes/,
      );
      expect(log).toMatch(
        /dropped transaction epoch 2 of sink "worker1\/word totals" from \S+: epochs up to 3 already applied/,
      );
      // Rate-limited: the second duplicate, right after the first, has no line of its own.
      expect(log).not.toMatch(/dropped transaction epoch 3/);
      expect(receiveSummary(r.stats, framed)).toMatch(
        /on 2 connections; 5 transactions applied, 2 duplicate transactions dropped, 1 cut-short transaction discarded$/,
      );
    });
  }

  it('discards a transaction whose connection ends cleanly before its last byte', async () => {
    const { r, out, logs, closedCount } = await receiver({ framed: true });
    const sink = await FakeSink.open(r.address.port, 's', true);
    await sink.txn(10, ['x:1']);
    await sink.partial(11, ['x:2', 'x:3'], 12);
    sink.socket.end();
    const [closed] = await closedCount(1);
    expect((closed!.error as RooError).code).toBe(ErrorCode.FrameTruncated);
    expect(out.text).toBe('x:1\n');
    expect(r.stats).toMatchObject({ transactions: 1, discarded: 1, failed: 1 });
    // One line about it, not two.
    expect(logs.filter((l) => l.includes('epoch 11'))).toHaveLength(1);
  });

  it('deduplicates across connections of one sink open at once, and keeps sinks apart', async () => {
    const { r, out } = await receiver({ framed: false });
    const old = await FakeSink.open(r.address.port, 'w/s', false);
    const recovered = await FakeSink.open(r.address.port, 'w/s', false);
    const other = await FakeSink.open(r.address.port, 'w2/s', false);
    await recovered.txn(5, records('a', 1, 2));
    await out.lines(2);
    // The old, half-open connection delivers late: everything up to 5 is applied already.
    await old.txn(4, records('stale', 1, 1));
    await old.txn(5, records('stale', 2, 2));
    await other.txn(5, records('b', 1, 1));
    await out.lines(3);
    await recovered.txn(6, records('a', 3, 3));
    await out.lines(4);
    await Promise.all([finished(old.socket), finished(recovered.socket), finished(other.socket)]);
    expect(linesOf(out.text, 'a')).toEqual(['a:1', 'a:2', 'a:3']);
    expect(linesOf(out.text, 'b')).toEqual(['b:1']);
    expect(out.text).not.toContain('stale');
    expect(r.stats).toMatchObject({ transactions: 3, duplicates: 2 });
  });

  it('serves plain connections beside exactly-once ones, however short they are', async () => {
    const { r, out, closedCount } = await receiver({ framed: false });
    const sink = await FakeSink.open(r.address.port, 's', false);
    const plain = await connect(r.address.port);
    // A plain connection that starts like the magic, then is not it.
    await written(plain, 'ROOT');
    await sink.txn(1, records('t', 1, 2));
    await out.lines(2);
    await written(plain, 'S => 1\n');
    await finished(plain);
    await sink.txn(2, records('t', 3, 3));
    await finished(sink.socket);
    // One shorter than the magic and a prefix of it: delivered when it ends.
    const tiny = await connect(r.address.port);
    await written(tiny, 'ROO');
    await finished(tiny);
    await closedCount(3);
    expect(out.text.split('\n').sort()).toEqual(['ROO', 'ROOTS => 1', 't:1', 't:2', 't:3']);
    expect(out.text.endsWith('\nROO')).toBe(true);
    expect(r.stats).toMatchObject({ connections: 3, sinkConnections: 1, failed: 0 });
  });

  it('--framed: a plain framed connection beside a sink, each frame a line', async () => {
    const { r, out, closedCount } = await receiver({ framed: true });
    const sink = await FakeSink.open(r.address.port, 's', true);
    const plain = await connect(r.address.port);
    await written(
      plain,
      Buffer.concat([encodeFrame(Buffer.from('p:1')), encodeFrame(Buffer.from('p:2'))]),
    );
    await sink.txn(7, records('t', 1, 2));
    await finished(plain);
    await finished(sink.socket);
    await closedCount(2);
    expect(linesOf(out.text, 'p')).toEqual(['p:1', 'p:2']);
    expect(linesOf(out.text, 't')).toEqual(['t:1', 't:2']);
    expect(r.stats.messages).toBe(4);
  });

  it('--framed refuses a transaction that is not whole frames, writing none of it', async () => {
    const { r, out, logs, closedCount } = await receiver({ framed: true });
    const sink = await FakeSink.open(r.address.port, 's', true);
    await sink.txn(1, ['ok:1']);
    const bad = Buffer.concat([encodeFrame(Buffer.from('bad:1')), Buffer.from([0, 0, 0, 9, 1])]);
    for (const part of encodeSinkTxn(2, bad)) await written(sink.socket, part);
    const [closed] = await closedCount(1);
    expect((closed!.error as RooError).code).toBe(ErrorCode.FrameTruncated);
    expect(logs.join('\n')).toContain(ErrorCode.FrameTruncated);
    // Epoch 2 was not applied: the sink may send it again, whole.
    const again = await FakeSink.open(r.address.port, 's', true);
    await again.txn(2, ['ok:2']);
    await finished(again.socket);
    expect(out.text).toBe('ok:1\nok:2\n');
  });

  it('closes a connection that sends garbage or too large a transaction, and serves the rest', async () => {
    const { r, out, logs, closedCount } = await receiver({ framed: false, maxTxnBytes: 64 });
    const garbage = await connect(r.address.port);
    await written(
      garbage,
      Buffer.concat([SINK_TXN_MAGIC, encodeFrame(Buffer.from('not msgpack?'))]),
    );
    const big = await FakeSink.open(r.address.port, 'big', false);
    await written(big.socket, encodeSinkTxnHeader(1, 65));
    const noHello = await connect(r.address.port);
    await written(noHello, Buffer.concat([SINK_TXN_MAGIC, encodeSinkTxnHeader(1, 0)]));
    const closed = await closedCount(3);
    const codes = closed.map((c) => (c.error as RooError).code).sort();
    expect(codes).toEqual([ErrorCode.BadMessage, ErrorCode.BadMessage, ErrorCode.FrameTooLarge]);
    const log = logs.join('\n');
    expect(log).toMatch(
      /ROO_ERR_FRAME_TOO_LARGE transaction epoch 1 of 65 bytes exceeds the maximum of 64/,
    );
    expect(log).toMatch(
      /ROO_ERR_BAD_MESSAGE a 'txn' sink transaction message came before the hello/,
    );

    const good = await FakeSink.open(r.address.port, 'good', false);
    await good.txn(1, ['fine']);
    await finished(good.socket);
    expect(out.text).toBe('fine\n');
    expect(r.stats).toMatchObject({ failed: 3, transactions: 1 });
  });

  it('--no-write counts transactions and frames without printing them', async () => {
    const { r, out } = await receiver({ framed: true, write: false });
    const sink = await FakeSink.open(r.address.port, 's', true);
    await sink.txn(1, records('a', 1, 3));
    await sink.txn(1, records('a', 1, 3));
    await finished(sink.socket);
    expect(out.text).toBe('');
    expect(r.stats).toMatchObject({ messages: 3, transactions: 1, duplicates: 1 });
  });

  it('parses --max-txn-bytes', () => {
    expect(parseReceiveArgs(['--listen', `${LOCAL}:0`, '--max-txn-bytes', '1_000'])).toMatchObject({
      maxTxnBytes: 1000,
    });
    expect(parseReceiveArgs(['--listen', `${LOCAL}:0`])).toMatchObject({
      maxTxnBytes: 256 * 1024 * 1024,
    });
    expect(() => parseReceiveArgs(['--listen', `${LOCAL}:0`, '--max-txn-bytes', '0'])).toThrow(
      /--max-txn-bytes/,
    );
  });
});

// ---------------------------------------------------------------------------
// A real process.

describe('bin/roo receive', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roo-receive-txn-'));
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every record of crashing, resending sinks to its output file exactly once, plain connections too', async () => {
    const file = join(dir, 'out.txt');
    // Output to a file, as users run it; `exec` so that signals reach node.
    const proc = RooProcess.spawn('receive', ['receive', '--listen', `${LOCAL}:0`, '--framed'], {
      prefix: ['sh', '-c', `exec "$@" > '${file}'`, 'sh'],
    });
    const [, port] = await proc.waitForStderr(/^Listening on 127\.0\.0\.1:(\d+)$/m);
    const at = Number(port);

    const plain = await connect(at);
    await written(plain, encodeFrame(Buffer.from('p:1')));

    // Sink a: three transactions, then a crash inside the fourth.
    const a1 = await FakeSink.open(at, 'worker1/word totals', true);
    await a1.txn(1, records('a', 1, 2));
    await a1.txn(2, records('a', 3, 3));
    await a1.txn(3, records('a', 4, 5));
    await a1.partial(4, records('a', 6, 8), 11);
    // Killed: the kernel closes the sink's socket (a FIN) in the middle of the transaction.
    a1.socket.end();
    await proc.waitForStderr(/discarded transaction epoch 4 of sink "worker1\/word totals"/);

    // Sink b runs alongside.
    const b = await FakeSink.open(at, 'worker2/word totals', true);
    await b.txn(1, records('b', 1, 2));

    // Sink a recovers from checkpoint 2: resends 3 (applied) and 4 (cut short), then new ones.
    const a2 = await FakeSink.open(at, 'worker1/word totals', true);
    await a2.txn(3, records('a', 4, 5));
    await a2.txn(4, records('a', 6, 8));
    await a2.txn(5, records('a', 9, 9));
    await written(plain, encodeFrame(Buffer.from('p:2')));
    await b.txn(2, records('b', 3, 3));

    await Promise.all([finished(a2.socket), finished(b.socket), finished(plain)]);
    const exit = await proc.stop();
    expect(exit.code).toBe(0);

    const text = await readFile(file, 'utf8');
    expect(linesOf(text, 'a')).toEqual(records('a', 1, 9));
    expect(linesOf(text, 'b')).toEqual(records('b', 1, 3));
    expect(linesOf(text, 'p')).toEqual(['p:1', 'p:2']);
    expect(text.split('\n')).toHaveLength(9 + 3 + 2 + 1);
    expect(proc.stderr).toMatch(/dropped transaction epoch 3 of sink "worker1\/word totals"/);
    expect(proc.stderr).toMatch(
      /roo receive: received 14 messages \(\d+ bytes\) on 4 connections; 7 transactions applied, 1 duplicate transaction dropped, 1 cut-short transaction discarded/,
    );
  });
});
