/**
 * `roo receive --output FILE --ledger FILE` as a real process, fed by fake
 * exactly-once sinks (protocols/sink-txn.ts): SIGKILLed and restarted with
 * the same command it tells a reconnecting sink what it has applied, drops
 * what the sink sends again and applies the rest once; a crash's leftovers
 * (a torn ledger record, output bytes never recorded) are cut off; a damaged
 * ledger stops it with exit 2 and what to do.
 */
import { once } from 'node:events';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  encodeLedgerRecord,
  encodeSinkTxn,
  encodeSinkTxnHello,
  SinkAckParser,
} from '../../protocols/index.js';
import { DurableReceiver } from './helpers/durable-receiver.js';
import { LOCAL, runRoo, stopAll } from './helpers/processes.js';

const dirs: string[] = [];
const sockets: Socket[] = [];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-receive-ledger-'));
  dirs.push(dir);
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await stopAll();
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An exactly-once sink's connection: newline records per transaction; the receiver's acks read back. */
class Sink {
  readonly acks: (number | null)[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socket: Socket,
    sink: string,
  ) {
    const parser = new SinkAckParser(sink);
    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk, (ack) => this.acks.push(ack.applied));
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static async open(address: string, sink: string): Promise<Sink> {
    const [host, port] = address.split(':');
    const socket = createConnection({ host: host!, port: Number(port) });
    sockets.push(socket);
    await once(socket, 'connect');
    socket.write(encodeSinkTxnHello(sink));
    return new Sink(socket, sink);
  }

  /** Sends transaction `epoch` of records `key:from`..`key:to`. */
  txn(epoch: number, key: string, from: number, to: number): void {
    const body = Array.from({ length: to - from + 1 }, (_, i) => `${key}:${from + i}\n`).join('');
    for (const part of encodeSinkTxn(epoch, Buffer.from(body))) this.socket.write(part);
  }

  /** Resolves once any ack has come (`epoch` null) or one covering `epoch`. */
  async acked(epoch: number | null): Promise<void> {
    const done = (): boolean =>
      epoch === null ? this.acks.length > 0 : this.acks.some((a) => a !== null && a >= epoch);
    while (!done()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

/** The records of `key` in the output file, in order. */
function recordsOf(file: string, key: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${key}:`));
}

const range = (key: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${key}:${from + i}`);

describe('roo receive --output FILE --ledger FILE', () => {
  it('restarted after SIGKILL: tells a reconnecting sink what it has, drops resent transactions, applies the rest once', async () => {
    const receiver = await DurableReceiver.create(dir);
    await receiver.start();
    const a = await Sink.open(receiver.address, 'w1/s');
    const b = await Sink.open(receiver.address, 'w2/s');
    await a.acked(null);
    expect(a.acks).toEqual([null]);
    a.txn(1, 'a', 1, 2);
    a.txn(2, 'a', 3, 3);
    a.txn(3, 'a', 4, 6);
    b.txn(7, 'b', 1, 1);
    await Promise.all([a.acked(3), b.acked(7)]);
    await receiver.kill();

    await receiver.start();
    // A sink restored from an older checkpoint resends 2 and 3, then goes on with 4.
    const a2 = await Sink.open(receiver.address, 'w1/s');
    await a2.acked(null);
    expect(a2.acks[0]).toBe(3);
    a2.txn(2, 'a', 3, 3);
    a2.txn(3, 'a', 4, 6);
    a2.txn(4, 'a', 7, 8);
    const b2 = await Sink.open(receiver.address, 'w2/s');
    await b2.acked(null);
    expect(b2.acks[0]).toBe(7);
    b2.txn(8, 'b', 2, 2);
    await Promise.all([a2.acked(4), b2.acked(8)]);
    expect(await receiver.proc.stop()).toEqual({ code: 0, signal: null });

    expect(recordsOf(receiver.output, 'a')).toEqual(range('a', 1, 8));
    expect(recordsOf(receiver.output, 'b')).toEqual(range('b', 1, 2));
    expect(receiver.proc.stderr).toMatch(/dropped transaction epoch 2 of sink "w1\/s"/);
    expect(receiver.proc.stderr).toMatch(
      /2 transactions applied, 2 duplicate transactions dropped/,
    );
  }, 60_000);

  it("a crash's leftovers, a torn ledger record and output bytes it never recorded, are cut off; the resent transaction is applied once", async () => {
    const receiver = await DurableReceiver.create(dir);
    await receiver.start();
    const a = await Sink.open(receiver.address, 's');
    a.txn(1, 'a', 1, 2);
    await a.acked(1);
    await receiver.kill();
    // What a kill between the output's fsync and the end of the record's write leaves.
    const length = statSync(receiver.output).size;
    appendFileSync(receiver.output, 'a:3\na:4\n');
    const record = encodeLedgerRecord({
      type: 'applied',
      version: 1,
      length: length + 8,
      sinks: [['s', 2]],
    });
    appendFileSync(receiver.ledger, record.subarray(0, record.length - 3));

    const again = await receiver.start();
    expect(again.stderr).toMatch(/cutting off \d+ bytes at offset \d+ \(a record cut short/);
    expect(again.stderr).toMatch(/cutting off the last 8 bytes/);
    const a2 = await Sink.open(receiver.address, 's');
    await a2.acked(null);
    expect(a2.acks[0]).toBe(1);
    a2.txn(2, 'a', 3, 4);
    await a2.acked(2);
    await receiver.proc.stop();
    expect(recordsOf(receiver.output, 'a')).toEqual(range('a', 1, 4));
  }, 60_000);

  it('a damaged ledger: exit 2 with ROO_ERR_LEDGER_CORRUPT and what to remove, never serving', async () => {
    const receiver = await DurableReceiver.create(dir);
    await receiver.start();
    const a = await Sink.open(receiver.address, 's');
    a.txn(1, 'a', 1, 1);
    a.txn(2, 'a', 2, 2);
    await a.acked(2);
    await receiver.proc.stop();
    // A byte flipped inside the first record: not what a crash leaves.
    const bytes = readFileSync(receiver.ledger);
    bytes[20] = bytes[20]! ^ 0xff;
    writeFileSync(receiver.ledger, bytes);
    const r = await runRoo(receiver.args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ROO_ERR_LEDGER_CORRUPT');
    expect(r.stderr).toContain(`rm ${receiver.ledger} ${receiver.output}`);
    expect(r.stderr).not.toMatch(/Listening on/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('an output file shorter than its ledger says: exit 2', async () => {
    const receiver = await DurableReceiver.create(dir);
    await receiver.start();
    const a = await Sink.open(receiver.address, 's');
    a.txn(1, 'a', 1, 3);
    await a.acked(1);
    await receiver.proc.stop();
    writeFileSync(receiver.output, 'a:1\n');
    const r = await runRoo(receiver.args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ROO_ERR_LEDGER_CORRUPT .*shorter than the 12 it recorded/);
  }, 60_000);

  it('--ledger without --output, or the same file for both: exit 2, saying why', async () => {
    const ledger = join(dir, 'l');
    const alone = await runRoo(['receive', '--listen', `${LOCAL}:0`, '--ledger', ledger]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--ledger needs --output FILE/);
    const same = await runRoo([
      'receive',
      '--listen',
      `${LOCAL}:0`,
      ...['--output', ledger, '--ledger', ledger],
    ]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/two different files/);
  });
});
