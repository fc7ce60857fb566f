/**
 * Bad input never crashes a worker and never loses accepted data
 * (docs/architecture.md, errors on the data path). One word-count worker (a fixture app whose decoder
 * throws on payloads starting with "BAD") meets, in turn: messages its
 * decoder refuses, mixed with valid ones; a connection that closes inside a
 * frame; a frame header announcing more than 16 MiB; a connection of random
 * bytes; an empty connection. Each bad connection is closed or dropped on
 * its own, the worker keeps running, and every valid message, including
 * those sent before the bad frame on the same connection, is counted
 * exactly.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import {
  type ReceiveProcess,
  rooSend,
  startReceive,
  startWorker,
  stopAll,
  type WorkerProcess,
} from './helpers/processes.js';

const APP = 'test/fixtures/apps/throwing-decoder-word-count.ts';
/** The runtime's default largest frame. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'straße'];

/** A deterministic line of words. */
function line(i: number): string {
  const n = 1 + (i % 5);
  return Array.from({ length: n }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]).join(' ');
}

/** A 4-byte big-endian length header followed by `payload`. */
function frame(payload: string | Buffer, announced?: number): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(announced ?? body.length);
  return Buffer.concat([header, body]);
}

/** Seeded pseudo-random bytes (xorshift32). */
function randomBytes(n: number, seed: number): Buffer {
  let x = seed;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Opens a connection to `address`, writes `bytes`, and either ends it
 * (`end`) or leaves it for the worker to drop. Resolves once the connection
 * is fully closed; write errors after the worker dropped it are expected.
 */
async function rawConnection(address: string, bytes: Buffer, end: boolean): Promise<void> {
  const colon = address.lastIndexOf(':');
  const socket: Socket = createConnection({
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
  });
  socket.on('error', () => undefined);
  // Not once(socket, 'close'): that rejects on 'error', and a worker that
  // drops a connection with bytes still unread makes its kernel reset it
  // (ECONNRESET here), which is one of the expected endings.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  socket.write(bytes);
  if (end) socket.end();
  // Reading to the end: the worker closes its side when it drops or finishes the connection.
  socket.resume();
  await closed;
}

let dir: string;
let receive: ReceiveProcess;
let worker: WorkerProcess;
const reference = new Map<string, number>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roo-bad-input-'));
  receive = await startReceive();
  worker = await startWorker({ module: APP, threads: 2, out: receive.address });
});

afterAll(async () => {
  await stopAll();
  await rm(dir, { recursive: true, force: true });
});

/** Asserts the worker is still running. */
function expectAlive(): void {
  expect(worker.proc.exitStatus, worker.proc.stderr).toBeUndefined();
}

describe('a worker survives bad input and counts every valid message', () => {
  it('drops messages its decoder throws on, counting the valid ones around them', async () => {
    const lines: string[] = [];
    const valid: string[] = [];
    for (let i = 0; i < 600; i++) {
      if (i % 3 === 1) {
        // Words the valid lines use too, so a bad line counted would show.
        lines.push(`BAD bad ${line(i)}`);
      } else {
        lines.push(line(i));
        valid.push(line(i));
      }
    }
    const file = join(dir, 'mixed.txt');
    await writeFile(file, lines.join('\n') + '\n');
    await rooSend(worker.source, file);
    addCounts(reference, referenceWordCounts(valid.join('\n')));
    await receive.proc.waitForStdoutLines(total(reference));
    await worker.proc.waitForStderr(/ROO_ERR_DECODER_FAILED/);
    expectAlive();
  });

  it('drops a connection that ends inside a frame, keeping the frames before it', async () => {
    const before = 'truncated connection sent this first';
    await rawConnection(
      worker.source,
      Buffer.concat([frame(before), frame('these ten'.padEnd(10), 100)]),
      true,
    );
    addCounts(reference, referenceWordCounts(before));
    await worker.proc.waitForStderr(/ROO_ERR_FRAME_TRUNCATED/);
    await receive.proc.waitForStdoutLines(total(reference));
    expectAlive();
  });

  it('drops a connection whose frame header announces more than 16 MiB', async () => {
    const before = 'oversized connection sent this first';
    const oversized = frame(Buffer.alloc(1024, 0x61), MAX_FRAME_BYTES + 1);
    await rawConnection(worker.source, Buffer.concat([frame(before), oversized]), false);
    addCounts(reference, referenceWordCounts(before));
    await worker.proc.waitForStderr(/ROO_ERR_FRAME_TOO_LARGE/);
    await receive.proc.waitForStdoutLines(total(reference));
    expectAlive();
  });

  it('drops a connection of random bytes', async () => {
    const garbage = randomBytes(256 * 1024, 0x5eed);
    // Read as a header, random bytes announce more than 16 MiB 99% of the
    // time; this seed's do, so nothing of the garbage is taken as a message.
    expect(garbage.readUInt32BE(0)).toBeGreaterThan(MAX_FRAME_BYTES);
    const errorsBefore = worker.proc.stderr.match(/ROO_ERR_FRAME_TOO_LARGE/g)?.length ?? 0;
    await rawConnection(worker.source, garbage, false);
    await worker.proc.waitForStderr(
      new RegExp(`(?:[^]*ROO_ERR_FRAME_TOO_LARGE){${errorsBefore + 1}}`),
    );
    expectAlive();
  });

  it('shrugs off a connection that sends nothing', async () => {
    await rawConnection(worker.source, Buffer.alloc(0), true);
    expectAlive();
  });

  it('then counts every valid message on a new connection, exactly', async () => {
    const valid = Array.from({ length: 900 }, (_, i) => line(i + 1000));
    const file = join(dir, 'valid.txt');
    await writeFile(file, valid.join('\n') + '\n');
    await rooSend(worker.source, file);
    addCounts(reference, referenceWordCounts(valid.join('\n')));
    const words = total(reference);
    await receive.proc.waitForStdoutLines(words);

    // A clean shutdown (exit 0) after all that: the worker never crashed.
    expect((await worker.proc.stop()).code).toBe(0);
    expect((await receive.proc.stop()).code).toBe(0);
    expect(receive.proc.stdoutLines).toBe(words);
    expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), reference)).toEqual([]);
  });
});
