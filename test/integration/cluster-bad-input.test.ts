/**
 * Garbage on a running cluster's ports (bad input never crashes a worker): two real
 * word-count workers on loopback, each with an external channel. In turn:
 *  - the initializer's control port (WebSocket): bytes that are no HTTP at
 *    all; a proper handshake followed by a frame header announcing 4 GiB;
 *    then, over real WebSocket clients, a binary message that is no control
 *    message, a msgpack map of an unknown version, a text message, a message
 *    over the 16 MiB limit, and well-formed `wired`/`ready` messages that
 *    name a member, from a connection that is none;
 *  - both workers' data ports (length-prefixed msgpackr frames): plain text,
 *    a header announcing more than 16 MiB, a frame that is no msgpack, a data
 *    message of another version, a `batch` whose bytes are no batch, and a
 *    connection that ends inside a frame;
 *  - a member's external port: bytes that are no HTTP, and a binary message
 *    that is no external message.
 * Each bad connection is closed by the worker (or just ends), nothing else
 * is: every worker keeps running, still answers `roo status`, and text sent
 * afterwards (crossing between the workers) is counted exactly.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BATCH_VERSION } from '../../protocols/batch-codec.js';
import {
  CONTROL_PROTOCOL_VERSION,
  DATA_PROTOCOL_VERSION,
  encodeControlMessage,
  encodeDataMessage,
  encodeFrame,
} from '../../protocols/index.js';
import { type Cluster, LineReceiver, startCluster, stopClusters } from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { ROOT, rooSend, runRoo } from './helpers/processes.js';
import { frame, raw, wsHeader, wsSend } from './helpers/raw-socket.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));
const words = total(reference);
/** The control channel's largest message (runtime/cluster/control-transport.ts). */
const MAX_CONTROL_BYTES = 16 * 1024 * 1024;
const plainPackr = new Packr({ useRecords: false });

let out: LineReceiver;
let cluster: Cluster;

beforeAll(async () => {
  out = await LineReceiver.start();
  cluster = await startCluster({
    module: 'examples/word_count/app.ts',
    workers: 2,
    out: out.address,
  });
});
afterAll(async () => {
  await stopClusters();
  await out.close();
});

function expectAllRunning(): void {
  for (const w of cluster.workers) {
    expect(w.proc.exitStatus, w.proc.failure('exited').message).toBeUndefined();
  }
}

describe('garbage on a running cluster', () => {
  it('on the control port: each bad connection is closed, the rest carries on', async () => {
    const control = cluster.control!;
    const init = cluster.initializer.proc;

    const notHttp = await raw(control, Buffer.from('GARBAGE \x00\xff\xfe not a handshake\r\n\r\n'));
    expect(notHttp.closed).toBe(true);
    expect(notHttp.answer).toMatch(/^(HTTP\/1\.1 400|$)/);

    const huge = await raw(control, wsHeader(2 ** 32), { handshake: true });
    expect(huge.closed).toBe(true);

    // Real WebSocket clients: the control layer's own checks.
    expect(await wsSend(control, Buffer.from('not a control message \x00\xff'))).toBe(1008);
    await init.waitForStderr(/bad control message on connection #\d+: .*; closing it/);
    const future = Buffer.from(plainPackr.pack({ type: 'hello', version: 99, name: 'x' }));
    expect(await wsSend(control, future)).toBe(1008);
    expect(await wsSend(control, 'a text message')).toBe(1003);
    await init.waitForStderr(/sent text; closing it/);
    expect(await wsSend(control, Buffer.alloc(MAX_CONTROL_BYTES + 1))).toBe(1009);

    // Well-formed messages that name a member, from a connection that is none:
    // ignored (the phase they belong to is over), the connection may stay.
    const spoof = new WebSocket(`ws://${control}`);
    spoof.on('error', () => undefined);
    await once(spoof, 'open');
    spoof.send(
      encodeControlMessage({ type: 'wired', version: CONTROL_PROTOCOL_VERSION, name: 'worker2' }),
    );
    spoof.send(
      encodeControlMessage({ type: 'ready', version: CONTROL_PROTOCOL_VERSION, name: 'worker2' }),
    );
    spoof.terminate();

    expectAllRunning();
    expect(init.stderr).not.toMatch(/disconnected from the control channel/);
    expect(cluster.workers[1]!.proc.stderr).not.toMatch(
      /control connection to the initializer closed/,
    );
  });

  it('on the data ports: each bad connection is closed, the rest carries on', async () => {
    for (const w of cluster.workers) {
      const data = w.data!;
      const text = await raw(data, Buffer.from('GARBAGE that is no frame at all\n'));
      expect(text.closed, `${w.name}: plain text`).toBe(true);

      const oversized = await raw(data, frame(Buffer.from('xyz'), 32 * 1024 * 1024 + 1));
      expect(oversized.closed, `${w.name}: 32 MiB header`).toBe(true);

      const notMsgpack = await raw(data, frame(Buffer.from([0xc1, 0xc1, 0xc1, 0xff, 0x00])));
      expect(notMsgpack.closed, `${w.name}: not msgpack`).toBe(true);

      const future = frame(
        Buffer.from(
          plainPackr.pack({
            type: 'batch',
            version: 99,
            epoch: 0,
            sender: 'x',
            bytes: Buffer.alloc(9),
          }),
        ),
      );
      expect((await raw(data, future)).closed, `${w.name}: version 99`).toBe(true);

      const badBatch = frame(
        Buffer.from(
          encodeDataMessage({
            type: 'batch',
            version: DATA_PROTOCOL_VERSION,
            epoch: 0,
            sender: 'initializer',
            lane: 0,
            bytes: Buffer.from('this is no batch of actor messages'),
          }),
        ),
      );
      expect((await raw(data, badBatch)).closed, `${w.name}: bad batch`).toBe(true);

      // A connection that ends inside a frame: nothing to deliver, nothing to crash.
      const good = encodeFrame(
        encodeDataMessage({
          type: 'batch',
          version: DATA_PROTOCOL_VERSION,
          epoch: 0,
          sender: 'initializer',
          lane: 0,
          bytes: Buffer.alloc(9),
        }),
      );
      expect((await raw(data, good.subarray(0, good.length - 3), { end: true })).closed).toBe(true);
      await w.proc.waitForStderr(/ROO_ERR_\w+.*data channel|data channel.*ROO_ERR_/);
    }
    expectAllRunning();
  });

  it('on an external port: each bad connection is closed, the worker still answers', async () => {
    const member = cluster.workers[1]!;
    const external = member.external!;
    const notHttp = await raw(external, Buffer.from('\x00\x01\x02 GARBAGE\r\n\r\n'));
    expect(notHttp.closed).toBe(true);
    expect(await wsSend(external, Buffer.from('no external message \xff'))).not.toBe(0);
    const status = await runRoo(['status', external, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ worker: 'worker2' });
    expectAllRunning();
  });

  it('afterwards the cluster counts exactly', async () => {
    await rooSend(cluster.initializer.source, GPL);
    await out.waitForLines(words, 30_000);
    const exits = await cluster.stop();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(out.lines.length).toBe(words);
    expect(out.partial).toEqual([]);
    expect(wordCountProblems(parseKeyOutputs(out.text), reference)).toEqual([]);
    // The data channels between the workers carried words both ways.
    for (const w of cluster.workers) {
      expect(w.proc.stderr).not.toMatch(/FATAL|uncaught|unhandled/i);
    }
  });
});

/** A little-endian u32 / i32. */
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

describe('a corrupt batch on a data port', () => {
  // Regression test: this was a bug, fixed (see git log).
  it('delivers none of its messages: the cluster still counts exactly', async () => {
    const receiver = await LineReceiver.start();
    try {
      const c = await startCluster({
        module: 'examples/word_count/app.ts',
        workers: 2,
        out: receiver.address,
      });
      // A batch (no side list) of messages carrying the word
      // 'the' to every actor id and the stage tags of word count, whose last
      // message has a value kind that does not exist.
      const word = Buffer.from('the');
      const messages: Buffer[] = [];
      let count = 0;
      for (let dest = 0; dest < 256; dest++) {
        for (const tag of [1, 2]) {
          messages.push(u32(dest), i32(tag), Buffer.from([6]), u32(word.length), word);
          messages.push(Buffer.from([1]));
          count++;
        }
      }
      messages.push(u32(0), i32(0), Buffer.from([0xee]));
      count++;
      const batch = Buffer.concat([Buffer.from([BATCH_VERSION]), u32(count), u32(0), ...messages]);
      const bad = encodeFrame(
        encodeDataMessage({
          type: 'batch',
          version: DATA_PROTOCOL_VERSION,
          epoch: 0,
          sender: 'initializer',
          lane: 0,
          bytes: batch,
        }),
      );
      expect((await raw(c.workers[1]!.data!, bad)).closed).toBe(true);
      await c.workers[1]!.proc.waitForStderr(/ROO_ERR_BATCH_CORRUPT/);

      await rooSend(c.initializer.source, GPL);
      await receiver.waitForLines(words, 30_000);
      expect((await c.stop()).map((e) => e.code)).toEqual([0, 0]);
      expect(receiver.lines.length).toBe(words);
      expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});
