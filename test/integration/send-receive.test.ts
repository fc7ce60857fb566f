/**
 * `roo send` → `roo receive`: the sender's frames arrive whole and in order,
 * the receiver serves many connections and survives a bad one. First in
 * process (the TypeScript sources), then as real processes (bin/roo, dist/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, ErrorCode, RooError } from '../../protocols/index.js';
import {
  type ConnectionClosed,
  parseReceiveArgs,
  type Receiver,
  startReceiver,
} from '../../runtime/cli/receive.js';
import { batchDelayMs, parseSendArgs, sendFile } from '../../runtime/cli/send.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOCAL = '127.0.0.1';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roo-send-receive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
/** Writes `content` to a fresh file in the test directory. */
async function fileWith(content: string | Buffer): Promise<string> {
  const path = join(dir, `input-${fileCount++}`);
  await writeFile(path, content);
  return path;
}

/** Lines of varied length and content, some empty, some not ASCII. */
function sampleLines(n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    i % 97 === 0 ? '' : `line ${i} ${'x'.repeat(i % 50)} ${i % 13 === 0 ? 'straße ✓' : ''}`,
  );
}

/** A Writable that keeps what it is given and resolves waits on it as data arrives. */
class Collector extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  private newlines = 0;
  private waiters: { lines: number; resolve: () => void }[] = [];

  constructor(private readonly slow = false) {
    // A slow, small collector makes the receiver meet backpressure.
    super({ highWaterMark: slow ? 1024 : 16 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (const byte of chunk) if (byte === 0x0a) this.newlines++;
    this.waiters = this.waiters.filter((w) => {
      if (this.newlines < w.lines) return true;
      w.resolve();
      return false;
    });
    if (this.slow) setTimeout(done, 1);
    else done();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }

  get text(): string {
    return this.bytes.toString('utf8');
  }

  /** Resolves once `n` newlines have been written. */
  lines(n: number): Promise<void> {
    if (this.newlines >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ lines: n, resolve }));
  }
}

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** Starts a framed receiver on an OS-assigned port, writing into a collector. */
async function receiver(
  options: { framed?: boolean; write?: boolean; slow?: boolean; maxFrameBytes?: number } = {},
) {
  const out = new Collector(options.slow);
  const closed: ConnectionClosed[] = [];
  const closedWaiters: (() => void)[] = [];
  const logs: string[] = [];
  const r = await startReceiver({
    address: { host: LOCAL, port: 0 },
    framed: options.framed ?? true,
    write: options.write ?? true,
    out,
    log: (line) => logs.push(line),
    onConnectionClosed: (event) => {
      closed.push(event);
      closedWaiters.splice(0).forEach((w) => w());
    },
    ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
  });
  receivers.push(r);
  /** Resolves once `n` connections have closed. */
  const closedCount = async (n: number): Promise<ConnectionClosed[]> => {
    while (closed.length < n) await new Promise<void>((resolve) => closedWaiters.push(resolve));
    return closed;
  };
  return { r, out, logs, closedCount };
}

/** Opens a raw connection. */
async function rawSocket(port: number): Promise<Socket> {
  const socket = createConnection({ host: LOCAL, port });
  await once(socket, 'connect');
  return socket;
}

/** A port nothing listens on right now (the OS picked it, then it was freed). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, LOCAL);
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

describe('in process', () => {
  // Regression: in raw mode a chunk ending mid-line was followed by another
  // connection's bytes, splicing lines of two workers' sinks together.
  it("raw mode keeps each connection's lines whole when connections interleave", async () => {
    const { r, out, closedCount } = await receiver({ framed: false });
    const a = await rawSocket(r.address.port);
    const b = await rawSocket(r.address.port);
    const written = async (socket: Socket, text: string) => {
      await new Promise<void>((resolve) => socket.write(text, () => resolve()));
    };
    await written(a, 'alpha => 1\nalp');
    await written(b, 'beta => 1\nbe');
    // Give the receiver the half lines before their ends arrive.
    await out.lines(2);
    await written(a, 'ha => 2\n');
    await written(b, 'ta => 2\n');
    await written(a, 'no newline at the end');
    a.end();
    await out.lines(4);
    b.end();
    await closedCount(2);
    const lines = out.text.split('\n');
    expect(lines.slice(0, 4).sort()).toEqual([
      'alpha => 1',
      'alpha => 2',
      'beta => 1',
      'beta => 2',
    ]);
    expect(out.text).toContain('no newline at the end');
  });

  it('sends each line of a file as one frame, received whole and in order', async () => {
    const lines = sampleLines(3000);
    const file = await fileWith(lines.join('\n') + '\n');
    const { r, out, closedCount } = await receiver();
    const result = await sendFile({
      address: r.address,
      file,
      batchSize: 64,
    });
    expect(result.messages).toBe(3000);
    const payload = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
    expect(result.payloadBytes).toBe(payload);
    expect(result.bytes).toBe(payload + 4 * 3000);
    await out.lines(3000);
    await closedCount(1);
    expect(out.text).toBe(lines.join('\n') + '\n');
    expect(r.stats).toMatchObject({ connections: 1, open: 0, failed: 0, messages: 3000 });
    expect(r.stats.bytes).toBe(result.bytes);
  });

  it('strips \\r\\n line endings and sends a last line that has no newline', async () => {
    const file = await fileWith('a\r\nbb\n\r\nccc');
    const { r, out } = await receiver();
    expect((await sendFile({ address: r.address, file })).messages).toBe(4);
    await out.lines(4);
    expect(out.text).toBe('a\nbb\n\nccc\n');
  });

  it('stops at --messages, and --repeat loops over the file to reach it', async () => {
    const file = await fileWith('a\nb\nc\n');
    const { r, out } = await receiver();
    expect((await sendFile({ address: r.address, file, messages: 2 })).messages).toBe(2);
    expect((await sendFile({ address: r.address, file, messages: 10 })).messages).toBe(3);
    const repeated = await sendFile({
      address: r.address,
      file,
      messages: 7_000,
      repeat: true,
      batchSize: 500,
    });
    expect(repeated.messages).toBe(7_000);
    await out.lines(2 + 3 + 7_000);
    const expected = ['a', 'b', 'a', 'b', 'c'];
    for (let i = 0; i < 7_000; i++) expected.push('abc'[i % 3]!);
    expect(out.text).toBe(expected.join('\n') + '\n');
  });

  it('--repeat over an empty file ends instead of looping forever', async () => {
    const file = await fileWith('');
    const { r } = await receiver();
    expect((await sendFile({ address: r.address, file, repeat: true })).messages).toBe(0);
  });

  it('streams files too large to keep in memory, lines spanning read chunks', async () => {
    // Over the 16 MiB cache limit: read in 1 MiB chunks, pass after pass.
    const line = 'y'.repeat(999);
    const count = 17 * 1024 + 3;
    const file = await fileWith((line + '\n').repeat(count));
    const { r, closedCount } = await receiver({ write: false });
    const result = await sendFile({ address: r.address, file, messages: count + 5, repeat: true });
    expect(result.messages).toBe(count + 5);
    expect(result.payloadBytes).toBe((count + 5) * 999);
    await closedCount(1);
    expect(r.stats).toMatchObject({ messages: count + 5, bytes: result.bytes });
  }, 20_000);

  it('sends --binary files as frames of --msg-size bytes', async () => {
    const records = Array.from({ length: 300 }, (_, i) => {
      const b = Buffer.alloc(12);
      b.writeUInt32BE(i, 0);
      b.fill(i % 256, 4); // includes 0x0a bytes: binary, not lines
      return b;
    });
    const file = await fileWith(Buffer.concat(records));
    const { r, out, closedCount } = await receiver();
    const result = await sendFile({ address: r.address, file, binary: true, msgSize: 12 });
    expect(result).toMatchObject({ messages: 300, payloadBytes: 3600, bytes: 4800 });
    await closedCount(1);
    expect(out.bytes).toEqual(
      Buffer.concat(records.map((b) => Buffer.concat([b, Buffer.from('\n')]))),
    );
  });

  it('refuses a binary file whose size is not a multiple of --msg-size', async () => {
    const file = await fileWith(Buffer.alloc(25));
    await expect(
      sendFile({ address: { host: LOCAL, port: 1 }, file, binary: true, msgSize: 12 }),
    ).rejects.toMatchObject({ code: ErrorCode.BadFlag });
  });

  it('paces batches --interval nanoseconds apart', async () => {
    const file = await fileWith('m\n'.repeat(50));
    const { r, out } = await receiver();
    const result = await sendFile({
      address: r.address,
      file,
      batchSize: 10,
      intervalNs: 20_000_000,
    });
    // 5 batches: the last starts 4 intervals after the first.
    expect(result.seconds).toBeGreaterThanOrEqual(0.075);
    await out.lines(50);
    expect(batchDelayMs(0, 3, 20_000_000, 10)).toBe(50);
    expect(batchDelayMs(0, 3, 20_000_000, 59.5)).toBe(0);
    expect(batchDelayMs(0, 3, 0, 0)).toBe(0);
  });

  it('serves several senders at once; frames of one connection stay in order', async () => {
    const { r, out, closedCount } = await receiver();
    const files = await Promise.all(
      [0, 1, 2, 3].map((s) =>
        fileWith(Array.from({ length: 2000 }, (_, i) => `${s}:${i}`).join('\n')),
      ),
    );
    const results = await Promise.all(
      files.map((file) => sendFile({ address: r.address, file, batchSize: 50 })),
    );
    expect(results.map((x) => x.messages)).toEqual([2000, 2000, 2000, 2000]);
    await out.lines(8000);
    await closedCount(4);
    const next = [0, 0, 0, 0];
    for (const line of out.text.trimEnd().split('\n')) {
      const [s, i] = line.split(':').map(Number) as [number, number];
      expect(i).toBe(next[s]);
      next[s]!++;
    }
    expect(r.stats).toMatchObject({ connections: 4, open: 0, messages: 8000 });
  });

  it('keeps every message when its output pushes back', async () => {
    const lines = sampleLines(5000);
    const file = await fileWith(lines.join('\n'));
    const { r, out } = await receiver({ slow: true });
    await sendFile({ address: r.address, file, batchSize: 1000 });
    await out.lines(5000);
    expect(out.text).toBe(lines.join('\n') + '\n');
  });

  it('without --framed copies bytes as they come; --no-write only counts', async () => {
    const file = await fileWith('hello\nworld\n');
    const raw = await receiver({ framed: false });
    const sent = await sendFile({ address: raw.r.address, file });
    await raw.closedCount(1);
    expect(raw.out.bytes).toEqual(
      Buffer.concat([encodeFrame(Buffer.from('hello')), encodeFrame(Buffer.from('world'))]),
    );
    expect(raw.r.stats).toMatchObject({ messages: 0, bytes: sent.bytes });

    const counting = await receiver({ write: false });
    await sendFile({ address: counting.r.address, file });
    await counting.closedCount(1);
    expect(counting.out.bytes.length).toBe(0);
    expect(counting.r.stats).toMatchObject({ messages: 2, bytes: sent.bytes });
  });

  it('closes a connection that sends an oversized frame and keeps serving others', async () => {
    const { r, out, logs, closedCount } = await receiver({ maxFrameBytes: 1024 });
    const bad = await rawSocket(r.address.port);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_ffff);
    // A good frame, then a header announcing 4 GiB.
    bad.write(Buffer.concat([encodeFrame(Buffer.from('before')), header]));
    const [closed] = await closedCount(1);
    expect(closed!.error).toBeInstanceOf(RooError);
    expect((closed!.error as RooError).code).toBe(ErrorCode.FrameTooLarge);
    expect(closed!.messages).toBe(1);
    expect(logs.join('\n')).toContain(ErrorCode.FrameTooLarge);
    bad.destroy();

    const file = await fileWith('after 1\nafter 2\n');
    expect((await sendFile({ address: r.address, file })).messages).toBe(2);
    await out.lines(3);
    expect(out.text).toBe('before\nafter 1\nafter 2\n');
    expect(r.stats).toMatchObject({ connections: 2, failed: 1, messages: 3 });
  });

  it('reports a stream that ends inside a frame', async () => {
    const { r, closedCount } = await receiver();
    const socket = await rawSocket(r.address.port);
    socket.end(encodeFrame(Buffer.from('whole')).subarray(0, 7));
    const [closed] = await closedCount(1);
    expect((closed!.error as RooError).code).toBe(ErrorCode.FrameTruncated);
  });

  it('retries a refused connection until the receiver is up', async () => {
    const port = await freePort();
    const file = await fileWith('late\n');
    let retrying!: () => void;
    const saidRetrying = new Promise<void>((resolve) => (retrying = resolve));
    const sending = sendFile({
      address: { host: LOCAL, port },
      file,
      log: (line) => {
        if (line.includes('refused; retrying')) retrying();
      },
    });
    await saidRetrying;
    const out = new Collector();
    receivers.push(await startReceiver({ address: { host: LOCAL, port }, framed: true, out }));
    expect((await sending).messages).toBe(1);
    await out.lines(1);
    expect(out.text).toBe('late\n');
  });

  it('gives up on a refused connection after the retry time', async () => {
    const port = await freePort();
    const file = await fileWith('x\n');
    const started = performance.now();
    await expect(
      sendFile({ address: { host: LOCAL, port }, file, connectRetryMs: 400 }),
    ).rejects.toThrow(/refused for 0.4 s, giving up/);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('stops cleanly when aborted, having sent whole frames only', async () => {
    const file = await fileWith('forever\n');
    const { r, out, closedCount } = await receiver();
    const abort = new AbortController();
    const sending = sendFile({ address: r.address, file, repeat: true, signal: abort.signal });
    await out.lines(10_000);
    abort.abort();
    const result = await sending;
    expect(result.aborted).toBe(true);
    const [closed] = await closedCount(1);
    expect(closed!.error).toBeUndefined();
    expect(closed!.messages).toBe(result.messages);
  });
});

describe('flags', () => {
  const badFlag = (fn: () => unknown, pattern: RegExp) => {
    let thrown: unknown;
    try {
      fn();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RooError);
    expect((thrown as RooError).message).toMatch(pattern);
    expect((thrown as RooError).message).not.toContain('\n');
  };

  it('parses roo send flags in both --flag value and --flag=value forms', () => {
    expect(
      parseSendArgs([
        '--host=127.0.0.1:7010',
        '--file',
        'data.txt',
        '--messages',
        '1_000_000',
        '--batch-size=5',
        '--interval',
        '1_000_000_000',
        '--repeat',
        '--no-write',
        '--binary',
        '--msg-size',
        '48',
        '--ponythreads=1',
        '--ponynoblock',
      ]),
    ).toEqual({
      address: { host: '127.0.0.1', port: 7010 },
      file: 'data.txt',
      messages: 1_000_000,
      batchSize: 5,
      intervalNs: 1_000_000_000,
      repeat: true,
      binary: true,
      msgSize: 48,
      acks: true,
    });
    expect(parseSendArgs(['--help'])).toBe('help');
  });

  it('refuses bad roo send command lines with one-line errors', () => {
    const ok = ['--host', '127.0.0.1:1', '--file', 'f'];
    badFlag(() => parseSendArgs([...ok, '--bogus']), /Unknown option '--bogus'/);
    badFlag(() => parseSendArgs(['--file', 'f']), /--host HOST:PORT is required/);
    badFlag(() => parseSendArgs(['--host', '127.0.0.1:1']), /--file PATH is required/);
    badFlag(() => parseSendArgs(['--host', 'nope', '--file', 'f']), /bad address 'nope'/);
    badFlag(() => parseSendArgs([...ok, '--messages', '0']), /--messages: expected an integer/);
    badFlag(() => parseSendArgs([...ok, '--batch-size', '1.5']), /--batch-size/);
    badFlag(() => parseSendArgs([...ok, '--interval', '-1']), /--interval/);
    badFlag(() => parseSendArgs([...ok, '--binary']), /--binary needs --msg-size/);
    badFlag(() => parseSendArgs([...ok, '--msg-size', '4']), /only for --binary/);
    badFlag(() => parseSendArgs([...ok, '--repeat=yes']), /does not take an argument/);
    badFlag(() => parseSendArgs([...ok, 'extra']), /Unexpected argument 'extra'/);
  });

  it('parses roo receive flags, port 0 allowed', () => {
    expect(
      parseReceiveArgs(['--listen=127.0.0.1:0', '--framed', '--ponythreads=1', '--ponynoblock']),
    ).toMatchObject({ address: { host: LOCAL, port: 0 }, framed: true, write: true });
    expect(parseReceiveArgs(['--listen', 'localhost:5555', '--no-write'])).toMatchObject({
      framed: false,
      write: false,
    });
    badFlag(() => parseReceiveArgs([]), /--listen HOST:PORT is required/);
    badFlag(() => parseReceiveArgs(['--listen', '127.0.0.1']), /port is missing/);
    badFlag(() => parseReceiveArgs(['--listen', 'h:1', '--frmed']), /Unknown option '--frmed'/);
  });
});

// ---------------------------------------------------------------------------
// Real processes.

const BIN = join(ROOT, 'bin', 'roo');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function roo(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Everything a stream has produced so far, and waits for what it will produce. */
function watch(stream: NodeJS.ReadableStream) {
  let text = '';
  let newlines = 0;
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const lineWaiters: { n: number; resolve: () => void }[] = [];
  const check = () => {
    for (const w of lineWaiters.slice()) {
      if (newlines >= w.n) {
        lineWaiters.splice(lineWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
    for (const w of waiters.slice()) {
      const m = text.match(w.re);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    text += chunk;
    for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) newlines++;
    check();
  });
  return {
    get text() {
      return text;
    },
    waitFor(re: RegExp): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        check();
        stream.once('end', () => reject(new Error(`stream ended without ${re}:\n${text}`)));
      });
    },
    lines(n: number): Promise<void> {
      return new Promise((resolve, reject) => {
        lineWaiters.push({ n, resolve });
        check();
        stream.once('end', () => reject(new Error(`stream ended before ${n} lines`)));
      });
    },
  };
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('bin/roo processes', () => {
  beforeAll(() => {
    for (const file of ['main.js', 'send.js', 'receive.js']) {
      if (!existsSync(join(ROOT, 'dist', 'runtime', 'cli', file))) {
        throw new Error(`dist/runtime/cli/${file} is missing: run 'npm run build' first`);
      }
    }
  });

  it('roo send delivers a file to roo receive --framed, line for line, past a bad connection', async () => {
    const lines = sampleLines(4000);
    const file = await fileWith(lines.join('\n') + '\n');
    const receiverProcess = roo([
      'receive',
      '--listen',
      `${LOCAL}:0`,
      '--framed',
      '--ponythreads=1',
      '--ponynoblock',
    ]);
    const stdout = watch(receiverProcess.stdout!);
    const stderr = watch(receiverProcess.stderr!);
    const [, port] = await stderr.waitFor(/^Listening on 127\.0\.0\.1:(\d+)$/m);

    // An oversized frame on one connection: logged with its code, connection closed.
    const bad = await rawSocket(Number(port));
    bad.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await stderr.waitFor(/ROO_ERR_FRAME_TOO_LARGE/);
    bad.destroy();

    // A plain Wallaroo sender: `roo receive --framed` is a sink receiver, not an acking source.
    const sender = roo([
      'send',
      `--host=${LOCAL}:${port}`,
      '--file',
      file,
      '--batch-size',
      '100',
      '--no-acks',
    ]);
    const sent = watch(sender.stdout!);
    expect(await exitCode(sender)).toBe(0);
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 4, 0);
    expect(sent.text).toMatch(
      new RegExp(`^sent 4000 messages \\(${bytes} bytes\\) in [0-9.]+ s\\n$`),
    );

    await stdout.lines(lines.length);
    expect(stdout.text).toBe(lines.join('\n') + '\n');
    receiverProcess.kill('SIGTERM');
    expect(await exitCode(receiverProcess)).toBe(0);
    expect(stderr.text).toMatch(/received 4000 messages \(\d+ bytes\) on 2 connections/);
  });

  it('exits 2 with a one-line error for bad flags', async () => {
    const cases = [
      ['send', '--host', '127.0.0.1:1', '--file', 'f', '--bogus'],
      ['send', '--host', 'nohostport', '--file', 'f'],
      ['send', '--host', '127.0.0.1:1', '--file', join(dir, 'does-not-exist')],
      ['receive', '--listen', '127.0.0.1:99999'],
    ];
    await Promise.all(
      cases.map(async (args) => {
        const child = roo(args);
        const stderr = watch(child.stderr!);
        expect(await exitCode(child)).toBe(2);
        expect(stderr.text.trimEnd().split('\n')).toHaveLength(1);
        expect(stderr.text).toMatch(new RegExp(`^roo ${args[0]}: `));
      }),
    );
  });
});
