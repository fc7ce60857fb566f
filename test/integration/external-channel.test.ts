/**
 * A worker's external channel (`--external`), with real processes: word
 * count takes the GPL through `roo send`; `roo status` shows the worker and
 * its counts (as a table and as JSON); the partition query puts every key in
 * exactly one key group, at the thread the placement says; garbage, text,
 * oversized and unknown messages leave the worker running and answering;
 * `roo shutdown` stops it cleanly with exit 0. The tools fail clearly (exit
 * 1) when nothing answers and on bad flags (exit 2).
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import wordCount from '../../examples/word_count/app.js';
import {
  decodeExternalMessage,
  encodeExternalMessage,
  EXTERNAL_PROTOCOL_VERSION,
  type ExternalResponse,
} from '../../protocols/index.js';
import { makeAppArgs } from '../../runtime/api/args.js';
import type { PartitionQuery, WorkerStatus } from '../../runtime/cluster/status.js';
import { placePlan } from '../../runtime/topology/placement.js';
import { buildPlan } from '../../runtime/topology/plan.js';
import { referenceWordCounts, total } from './helpers/key-outputs.js';
import {
  LOCAL,
  ROOT,
  rooSend,
  runRoo,
  startReceive,
  startWorker,
  stopAll,
  type ReceiveProcess,
  type WorkerProcess,
} from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const THREADS = 2;
const EXTERNAL_LINE = /external channel listening on (\S+:\d+)$/m;

/** Starts word count with an external channel; returns it and the channel's address. */
async function startWordCount(
  receive: ReceiveProcess,
): Promise<{ worker: WorkerProcess; external: string }> {
  const worker = await startWorker({
    module: 'examples/word_count/app.ts',
    threads: THREADS,
    out: receive.address,
    extra: ['--external', `${LOCAL}:0`],
  });
  const match = await worker.proc.waitForStderr(EXTERNAL_LINE);
  return { worker, external: match[1]! };
}

/** `roo status ADDR --json [extra]`, parsed; fails the test unless it exits 0. */
async function statusJson<T>(external: string, extra: readonly string[] = []): Promise<T> {
  const r = await runRoo(['status', external, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** One WebSocket connection to the external channel, with its incoming messages queued. */
class RawChannel {
  readonly ws: WebSocket;
  private readonly inbox: Buffer[] = [];
  private waiting: ((b: Buffer) => void) | undefined;
  readonly closed: Promise<number>;

  constructor(address: string) {
    this.ws = new WebSocket(`ws://${address}/`, { perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer) => {
      if (this.waiting !== undefined) {
        const w = this.waiting;
        this.waiting = undefined;
        w(data);
      } else this.inbox.push(data);
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code: number) => resolve(code)));
  }

  async open(): Promise<this> {
    await once(this.ws, 'open');
    return this;
  }

  /** The next message, decoded as a response. */
  async next(): Promise<ExternalResponse> {
    const data =
      this.inbox.shift() ?? (await new Promise<Buffer>((resolve) => (this.waiting = resolve)));
    const message = decodeExternalMessage(new Uint8Array(data));
    if (message.type !== 'response') throw new Error('expected a response');
    return message;
  }
}

afterAll(stopAll);

describe('the external channel of a running word count', () => {
  const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));
  const words = total(reference);
  let receive: ReceiveProcess;
  let worker: WorkerProcess;
  let external: string;

  beforeAll(async () => {
    receive = await startReceive();
    ({ worker, external } = await startWordCount(receive));
    await rooSend(worker.source, GPL);
    await receive.proc.waitForStdoutLines(words);
  });
  // These tests share one worker, stopped once they have all run.
  afterAll(async () => {
    await worker?.proc.stop();
    await receive?.proc.stop();
  });

  it('roo status shows the worker, its sources and its counts', async () => {
    const r = await runRoo(['status', external]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^worker +initializer \(pid \d+\)$/m);
    expect(r.stdout).toMatch(/^application +Word Count$/m);
    expect(r.stdout).toMatch(/^threads +2$/m);
    expect(r.stdout).toContain(`Split and Count  tcp-source  ${worker.source}`);
    expect(r.stdout).toMatch(
      new RegExp(`^initializer +${external.replace(/\./g, '\\.')} +256 +answering$`, 'm'),
    );
    expect(r.stdout).toMatch(
      new RegExp(`^word totals +256 +${reference.size.toLocaleString('en-US')}$`, 'm'),
    );
    expect(r.stdout).toContain('errors: none');
  });

  it('roo status --json gives the same facts for scripts', async () => {
    const s = await statusJson<WorkerStatus>(external);
    expect(s.worker).toBe('initializer');
    expect(s.application).toBe('Word Count');
    expect(s.threads).toBe(THREADS);
    expect(s.cluster.members).toEqual([
      { name: 'initializer', external, self: true, keyGroups: 256 },
    ]);
    expect(s.cluster.reconfiguration).toBeNull();
    expect(s.sources).toHaveLength(1);
    expect(s.sources[0]).toMatchObject({ name: 'Split and Count', listening: worker.source });
    expect(s.totals.written).toBe(words);
    expect(s.totals.entities).toBe(reference.size);
    expect(s.partitions).toEqual([
      { name: 'word totals', keyGroups: 256, entities: reference.size },
    ]);
    expect(s.threadStats.map((t) => t.thread)).toEqual([0, 1]);
    expect(s.uptimeMs).toBeGreaterThan(0);
  });

  it('the partition query puts every key in one key group, at the thread the placement says', async () => {
    const q = await statusJson<PartitionQuery>(external, ['--partitions', '--keys', '10000']);
    const plan = buildPlan(
      wordCount(
        makeAppArgs({
          in: [{ host: LOCAL, port: 0 }],
          out: [{ host: LOCAL, port: 9 }],
          workerName: 'initializer',
          threads: THREADS,
          appArgs: [],
        }),
      ),
    );
    const placement = placePlan(plan, THREADS);
    const grouper = plan.partitions[0]!.grouper;
    expect(q.partitions.map((p) => p.name)).toEqual(['word totals']);
    const partition = q.partitions[0]!;
    expect(partition.groups).toHaveLength(grouper.groups);
    const seen = new Map<string, number>();
    for (const g of partition.groups) {
      expect(g.worker).toBe('initializer');
      expect(g.thread).toBe(placement.keyGroupOwner[0]![g.keyGroup]);
      expect(g.truncated).toBe(false);
      expect(g.keys).toHaveLength(g.count);
      for (const key of g.keys) {
        expect(grouper.groupOf(key)).toBe(g.keyGroup);
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect([...seen.keys()].sort()).toEqual([...reference.keys()].sort());
    expect(partition.entities).toBe(reference.size);
  });

  it('the partition query caps the keys listed per group and says how many there are', async () => {
    const q = await statusJson<PartitionQuery>(external, ['--partitions', '--keys', '1']);
    const groups = q.partitions[0]!.groups;
    expect(groups.every((g) => g.keys.length === Math.min(1, g.count))).toBe(true);
    expect(groups.some((g) => g.truncated && g.count > 1)).toBe(true);
    expect(groups.reduce((n, g) => n + g.count, 0)).toBe(reference.size);
    const table = await runRoo(['status', external, '--partitions', '--keys', '1']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(
      `partition 'word totals': ${reference.size.toLocaleString('en-US')} entities in`,
    );
    expect(table.stdout).toMatch(/ \.\.\. \(\+\d+\)$/m);
  });

  it('entity counts add up per thread', async () => {
    const c = await statusJson<{
      partitions: {
        name: string;
        total: number;
        threads: { thread: number; entities: number }[];
      }[];
    }>(external, ['--entities']);
    expect(c.partitions).toHaveLength(1);
    expect(c.partitions[0]!.total).toBe(reference.size);
    expect(c.partitions[0]!.threads.map((t) => t.thread)).toEqual([0, 1]);
    expect(c.partitions[0]!.threads.reduce((n, t) => n + t.entities, 0)).toBe(reference.size);
    const table = await runRoo(['status', external, '--entities']);
    expect(table.stdout).toMatch(
      new RegExp(`^word totals +all +${reference.size.toLocaleString('en-US')}$`, 'm'),
    );
  });

  it('answers rotate-logs with a note, shrink on a worker alone with why not, and unknown commands with coded errors', async () => {
    const ch = await new RawChannel(external).open();
    const send = (message: object) => ch.ws.send(new Packr({ useRecords: false }).pack(message));
    ch.ws.send(
      encodeExternalMessage({
        type: 'request',
        version: EXTERNAL_PROTOCOL_VERSION,
        id: 1,
        command: 'rotate-logs',
      }),
    );
    const rotated = await ch.next();
    expect(rotated).toMatchObject({ id: 1, ok: true, result: { rotated: false } });
    // A worker running alone is a cluster of one: no worker may leave it, and it says so.
    ch.ws.send(
      encodeExternalMessage({
        type: 'request',
        version: EXTERNAL_PROTOCOL_VERSION,
        id: 2,
        command: 'shrink',
        args: { workers: [], count: 0, query: true },
      }),
    );
    expect(await ch.next()).toMatchObject({
      id: 2,
      ok: true,
      result: {
        ok: true,
        leaving: [],
        eligible: [],
        members: ['initializer'],
        message: expect.stringMatching(/runs alone \(a cluster of one\): no worker may leave/),
      },
    });
    // A shrink request without its args is answered with a coded error.
    ch.ws.send(
      encodeExternalMessage({
        type: 'request',
        version: EXTERNAL_PROTOCOL_VERSION,
        id: 6,
        command: 'shrink',
      }),
    );
    expect(await ch.next()).toMatchObject({
      id: 6,
      ok: false,
      error: { code: 'ROO_ERR_BAD_MESSAGE' },
    });
    send({ type: 'request', version: EXTERNAL_PROTOCOL_VERSION, id: 3, command: 'frobnicate' });
    expect(await ch.next()).toMatchObject({
      id: 3,
      ok: false,
      error: { code: 'ROO_ERR_UNKNOWN_REQUEST' },
    });
    // The connection survives an unknown command.
    ch.ws.send(
      encodeExternalMessage({
        type: 'request',
        version: EXTERNAL_PROTOCOL_VERSION,
        id: 4,
        command: 'partition-query',
        args: { keysPerGroup: -1 },
      }),
    );
    expect(await ch.next()).toMatchObject({
      id: 4,
      ok: false,
      error: { code: 'ROO_ERR_BAD_MESSAGE' },
    });
    ch.ws.send(
      encodeExternalMessage({
        type: 'request',
        version: EXTERNAL_PROTOCOL_VERSION,
        id: 5,
        command: 'status',
      }),
    );
    expect(await ch.next()).toMatchObject({ id: 5, ok: true, result: { worker: 'initializer' } });
    ch.ws.close();
    await ch.closed;
  });

  it('roo shrink on a worker alone exits 1 and says it runs alone', async () => {
    const { code, stdout, stderr } = await runRoo([
      'shrink',
      '--external',
      external,
      '--count',
      '1',
    ]);
    expect(code, stderr).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^roo shrink: refused: this worker runs alone \(a cluster of one\)/);
  });

  it('survives garbage, text, bad versions and oversized messages, and keeps answering', async () => {
    const port = Number(external.slice(external.lastIndexOf(':') + 1));
    // Bytes that are not a WebSocket handshake at all.
    const raw: Socket = createConnection({ host: LOCAL, port });
    await once(raw, 'connect');
    raw.on('error', () => undefined);
    raw.resume(); // read the worker's 400, so that 'close' comes
    raw.write(randomBytes(4096));
    await once(raw, 'close');
    // Undecodable binary message: no id to answer, so the connection is closed (1008).
    const garbage = await new RawChannel(external).open();
    garbage.ws.send(randomBytes(64));
    expect(await garbage.closed).toBe(1008);
    // A text message.
    const text = await new RawChannel(external).open();
    text.ws.send('{"command":"status"}');
    expect(await text.closed).toBe(1008);
    // Another protocol version: answered with its id, then closed.
    const version = await new RawChannel(external).open();
    version.ws.send(
      new Packr({ useRecords: false }).pack({
        type: 'request',
        version: 99,
        id: 7,
        command: 'status',
      }),
    );
    expect(await version.next()).toMatchObject({
      id: 7,
      ok: false,
      error: { code: 'ROO_ERR_BAD_VERSION' },
    });
    expect(await version.closed).toBe(1008);
    // Over the 1 MiB limit: the WebSocket layer refuses it (1009).
    const big = await new RawChannel(external).open();
    big.ws.send(Buffer.alloc(2 * 1024 * 1024, 0x41));
    expect(await big.closed).toBe(1009);

    expect(worker.proc.exitStatus).toBeUndefined();
    expect(worker.proc.stderr).toMatch(
      /external channel: refused a connection that is not a WebSocket handshake/,
    );
    expect(worker.proc.stderr).toMatch(
      /external channel: closing the connection from .*ROO_ERR_BAD_MESSAGE/,
    );
    expect(worker.proc.stderr).toMatch(/message over 1048576 bytes/);

    // Still answering, and still counting: a second pass doubles every word's total.
    await rooSend(worker.source, GPL);
    await receive.proc.waitForStdoutLines(2 * words);
    const s = await statusJson<WorkerStatus>(external);
    expect(s.totals.written).toBe(2 * words);
    expect(s.totals.entities).toBe(reference.size);
  });
});

describe('roo shutdown', () => {
  afterEach(stopAll);

  it('stops the worker cleanly with exit 0, after which nothing answers', async () => {
    const receive = await startReceive();
    const { worker, external } = await startWordCount(receive);
    await rooSend(worker.source, GPL);
    const r = await runRoo(['shutdown', external]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `shutdown acknowledged by worker 'initializer' at ${external}: stopping 'initializer'\n`,
    );
    expect(await worker.proc.waitForExit()).toEqual({ code: 0, signal: null });
    expect(worker.proc.stderr).toMatch(/external shutdown request: shutting down/);
    expect(worker.proc.stderr).toMatch(/Worker shut down cleanly\./);
    // Everything taken in was written before the worker stopped.
    await receive.proc.waitForStdoutLines(total(referenceWordCounts(readFileSync(GPL, 'utf8'))));

    const after = await runRoo(['status', external]);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/nothing listens on .* \(connection refused\)/);
  });
});

describe('roo status and roo shutdown fail clearly', () => {
  it('exit 2 on bad flags', async () => {
    for (const args of [
      ['status'],
      ['status', 'nohost'],
      ['status', '127.0.0.1:1', '127.0.0.1:2'],
      ['status', '127.0.0.1:1', '--bogus'],
      ['status', '127.0.0.1:1', '--timeout', 'soon'],
      ['status', '127.0.0.1:1', '--partitions', '--entities'],
      ['status', '127.0.0.1:1', '--keys', '5'],
      ['shutdown'],
      ['shutdown', '127.0.0.1:1', '--timeout', '0'],
    ]) {
      const r = await runRoo(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(`^roo ${args[0]}: .+\\(see 'roo ${args[0]} --help'\\)\\n$`),
      );
    }
  });

  it('a worker whose --external port is taken exits 2 with a clear error', async () => {
    const taken = createServer();
    taken.listen(0, LOCAL);
    await once(taken, 'listening');
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await runRoo([
        'worker',
        '--application-module',
        'examples/word_count/app.ts',
        '--in',
        `${LOCAL}:0`,
        '--out',
        `${LOCAL}:9`,
        '--ponythreads',
        '1',
        '--external',
        `${LOCAL}:${port}`,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `roo worker: --external ${LOCAL}:${port}: cannot listen: listen EADDRINUSE`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('exit 1 when nothing listens', async () => {
    // A port that was just free.
    const server = createServer();
    server.listen(0, LOCAL);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    for (const command of ['status', 'shutdown']) {
      const r = await runRoo([command, `${LOCAL}:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `roo ${command}: nothing listens on ${LOCAL}:${port} (connection refused); is a worker running with --external ${LOCAL}:${port}?\n`,
      );
    }
  });

  it('exit 1 after --timeout when the other end never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    silent.listen(0, LOCAL);
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    try {
      const r = await runRoo(['status', `${LOCAL}:${port}`, '--timeout', '300']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no answer from 127\.0\.0\.1:\d+ within 300 ms/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
