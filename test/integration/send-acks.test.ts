/**
 * `roo send` speaking the acknowledging source protocol to a fake source
 * built from the real source-side bookkeeping (AckedStreams) and node:net:
 * the source loses the connection, or crashes and restores a checkpoint, in
 * the middle of the stream, and asks for a resume position; the sender
 * reconnects, resends from there, and exits only after its last message is
 * acknowledged. First as real processes (bin/roo, dist/), then in process
 * for the other rules (no acks, plain peers, silent peers, protocol
 * violations, a restarted sender, the flags). Every listener binds port 0,
 * so parallel tests never collide.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AckedConnectionParser,
  decodeSourceAckMessage,
  encodeSourceAckFrame,
  ErrorCode,
  FrameDecoder,
  RooError,
  type SourceAckMessage,
} from '../../protocols/index.js';
import { AckedStreams } from '../../runtime/connectors/acked-streams.js';
import { parseSendArgs, sendFile } from '../../runtime/cli/send.js';
import { LOCAL, RooProcess, stopAll } from './helpers/processes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roo-send-acks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopAll();
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Payload bytes of every line of {@link lines}: frames are 4 bytes more. */
const LINE_BYTES = 19;

/** Fixed-width lines, so that bytes in flight follow from counts. */
function lines(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `message ${String(from + i).padStart(11, '0')}`);
}

let fileCount = 0;
async function fileOf(content: readonly string[]): Promise<string> {
  const path = join(dir, `input-${fileCount++}`);
  await writeFile(path, content.join('\n') + '\n');
  return path;
}

/** A listening server on an OS-chosen port, closed after the test. */
async function listen(
  onSocket: (socket: Socket) => void,
): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  server.listen(0, LOCAL);
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * A TCP source as a worker's source actor runs it: connections whose chunks
 * go through AckedStreams into a "pipeline" (an array), and checkpoints
 * committed on demand. `dropConnections` is a network failure; `crash` a
 * worker failure and recovery: connections die, the pipeline rolls back to
 * the last committed checkpoint, and a fresh AckedStreams restores its
 * positions. While `down`, connections are accepted and closed at once (a
 * worker restarting).
 */
class FakeSource {
  private readonly sockets = new Map<number, Socket>();
  private nextId = 0;
  streams: AckedStreams;
  /** What reached the pipeline, in order (rolled back by a crash). */
  readonly delivered: string[] = [];
  readonly reports: unknown[] = [];
  /** The positions of the last committed checkpoint. */
  lastCommitted: Record<string, number> = {};
  /** Overlap frames skipped by earlier incarnations. */
  private skippedBefore = 0;
  down = false;
  /** While false, the periodic checkpoints of {@link checkpointingSource} pause. */
  checkpointing = true;
  /** Connections closed at once while down. */
  refused = 0;
  /** Every message the source sent. */
  readonly sent: SourceAckMessage[] = [];
  /** Called after each chunk is handled. */
  afterChunk: () => void = () => undefined;
  port = 0;
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly acks: boolean) {
    this.streams = this.makeStreams();
  }

  async start(): Promise<this> {
    this.port = (await listen((socket) => this.accept(socket))).port;
    return this;
  }

  /** Frames skipped as resend overlaps, over every incarnation. */
  get skipped(): number {
    return this.skippedBefore + this.streams.skipped;
  }

  /** Commits a checkpoint of the current positions, each capped at `cap`; the senders get acks. */
  commit(cap = Infinity): void {
    const positions = this.streams.positions();
    for (const id of Object.keys(positions)) positions[id] = Math.min(positions[id]!, cap);
    this.lastCommitted = positions;
    this.streams.committed(positions);
  }

  dropConnections(): void {
    for (const socket of this.sockets.values()) socket.destroy();
  }

  crash(): void {
    this.dropConnections();
    this.skippedBefore += this.streams.skipped;
    this.delivered.length = Object.values(this.lastCommitted)[0] ?? 0;
    this.streams = this.makeStreams();
    this.streams.restore(this.lastCommitted);
  }

  /** Resolves once `test` holds (checked after every event of the source). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  private makeStreams(): AckedStreams {
    const streams: AckedStreams = new AckedStreams({
      acks: this.acks,
      write: (connection, bytes) => {
        new FrameDecoder().push(Buffer.from(bytes), (p) =>
          this.sent.push(decodeSourceAckMessage(p)),
        );
        this.sockets.get(connection)?.write(bytes);
      },
      drop: (connection) => this.sockets.get(connection)?.destroy(),
      onData: (payload) => this.delivered.push(payload.toString()),
      report: (err) => this.reports.push(err),
    });
    return streams;
  }

  private accept(socket: Socket): void {
    if (this.down) {
      this.refused++;
      socket.destroy();
      this.poke();
      return;
    }
    const id = this.nextId++;
    const streams = this.streams;
    this.sockets.set(id, socket);
    socket.on('data', (chunk: Buffer) => {
      // A connection of an incarnation that crashed is gone.
      if (this.streams !== streams) return;
      streams.push(id, chunk);
      this.afterChunk();
      this.poke();
    });
    socket.on('close', () => {
      this.sockets.delete(id);
      if (this.streams === streams) streams.closed(id);
      this.poke();
    });
  }

  private poke(): void {
    for (const w of this.waiters.slice()) {
      if (w.test()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }
}

/** A source with periodic checkpoints (every 20 ms) that never covers the last frame by itself. */
async function checkpointingSource(total: number): Promise<FakeSource> {
  const source = await new FakeSource(true).start();
  const ticker = setInterval(() => {
    if (source.checkpointing) source.commit(total - 1);
  }, 20);
  closers.push(async () => clearInterval(ticker));
  return source;
}

/** Spawns `roo send` with the stream id `s` to `source`. */
function rooSend(source: FakeSource, file: string, extra: readonly string[] = []): RooProcess {
  return RooProcess.spawn('send', [
    'send',
    '--host',
    `${LOCAL}:${source.port}`,
    '--file',
    file,
    '--stream-id',
    's',
    ...extra,
  ]);
}

describe('bin/roo send against an acknowledging source', () => {
  it('resends after a dropped connection from the resume position; every message arrives once; exits 0 after the last ack', async () => {
    const total = 100_000;
    const expected = lines(total);
    const file = await fileOf(expected);
    const source = await checkpointingSource(total);
    let maxUncovered = 0;
    let dropped: { position: number; committed: number } | undefined;
    source.afterChunk = () => {
      const position = source.streams.positions()['s'] ?? 0;
      const committed = source.lastCommitted['s'] ?? 0;
      maxUncovered = Math.max(maxUncovered, position - committed);
      // Drop mid-stream while some consumed frames are not yet covered: they come again.
      if (dropped === undefined && position >= 40_000 && position > committed) {
        dropped = { position, committed };
        // No checkpoint until the sender is back, so the resend overlaps.
        source.checkpointing = false;
        source.dropConnections();
      }
    };
    const sender = rooSend(source, file, ['--max-unacked-mb', '1']);

    const [, from] = (await sender.waitForStderr(
      /reconnected to 127\.0\.0\.1:\d+; resending from message (\d+)/,
    )) as unknown as [string, string];
    // The source asked to resume at its last committed position.
    const resumes = source.sent.filter((m) => m.type === 'resume');
    expect(resumes).toEqual([
      { type: 'resume', version: 1, position: 0, acks: true },
      { type: 'resume', version: 1, position: Number(from), acks: true },
    ]);
    expect(Number(from)).toBe(dropped!.committed);
    expect(Number(from)).toBeLessThan(dropped!.position);
    source.checkpointing = true;

    // Everything is written but the last message is not acknowledged: the sender waits.
    await sender.waitForStderr(/all written; waiting for .* to acknowledge the last \d+ messages/);
    await source.until(() => source.delivered.length === total);
    expect(sender.exitStatus).toBeUndefined();
    source.commit();
    const exit = await sender.waitForExit();
    expect(exit.code).toBe(0);
    expect(sender.stdoutText).toMatch(
      new RegExp(
        `^sent ${total} messages \\(${total * (LINE_BYTES + 4)} bytes\\) in [0-9.]+ s\\n$`,
      ),
    );
    expect(sender.stderr).toMatch(/connection to 127\.0\.0\.1:\d+ lost/);
    expect(sender.stderr).toMatch(
      /every message acknowledged \(\d+ sent again after 1 reconnect\)/,
    );

    expect(source.delivered).toEqual(expected);
    // At most the connection cut in the middle of a frame, reported as such.
    for (const report of source.reports) {
      expect((report as RooError).code).toBe(ErrorCode.FrameTruncated);
    }
    // The resend overlapped what the source had consumed: skipped, not delivered twice.
    expect(source.skipped).toBeGreaterThan(0);
    // The sender kept at most --max-unacked-mb (and one write buffer) beyond the last ack.
    expect(maxUncovered * (LINE_BYTES + 4)).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
  });

  it('after a crash and recovery resends from the restored checkpoint, retrying while the source is down', async () => {
    const total = 60_000;
    const expected = lines(total);
    const file = await fileOf(expected);
    const source = await checkpointingSource(total);
    let crashedAt: number | undefined;
    source.afterChunk = () => {
      const position = source.streams.positions()['s'] ?? 0;
      if (
        crashedAt === undefined &&
        position >= 30_000 &&
        position > (source.lastCommitted['s'] ?? 0)
      ) {
        crashedAt = source.lastCommitted['s'] ?? 0;
        source.down = true;
        source.crash();
      }
    };
    const sender = rooSend(source, file);
    await sender.waitForStderr(/lost \(.*\); reconnecting for up to 60 s/);
    // The worker restarts: two connection attempts find it not ready yet.
    await source.until(() => source.refused >= 2);
    source.down = false;
    const [, from] = (await sender.waitForStderr(
      /reconnected to 127\.0\.0\.1:\d+; resending from message (\d+)/,
    )) as unknown as [string, string];
    expect(Number(from)).toBe(crashedAt);

    await sender.waitForStderr(/waiting for .* to acknowledge the last \d+ messages/);
    await source.until(() => source.delivered.length === total);
    expect(sender.exitStatus).toBeUndefined();
    source.commit();
    expect((await sender.waitForExit()).code).toBe(0);
    // Rolled back to the checkpoint, then replayed: every message once, in order.
    expect(source.delivered).toEqual(expected);
    expect(source.reports).toEqual([]);
    expect(sender.stderr).toMatch(/sent again after 1 reconnect\)/);
  });

  it('--no-acks is the plain sender: no hello, the source sees a plain connection', async () => {
    const expected = lines(1000);
    const file = await fileOf(expected);
    const source = await new FakeSource(true).start();
    const plain = RooProcess.spawn('send', [
      'send',
      '--host',
      `${LOCAL}:${source.port}`,
      '--file',
      file,
      '--no-acks',
    ]);
    expect((await plain.waitForExit()).code).toBe(0);
    await source.until(() => source.delivered.length === expected.length);
    expect(source.delivered).toEqual(expected);
    expect(source.sent).toEqual([]);
    expect(source.streams.positions()).toEqual({});
  });
});

describe('in process', () => {
  it('a source without checkpoints says acks: false; the send ends once all is written', async () => {
    const expected = lines(5000);
    const source = await new FakeSource(false).start();
    const result = await sendFile({
      address: { host: LOCAL, port: source.port },
      file: await fileOf(expected),
      acks: true,
    });
    expect(result).toMatchObject({ mode: 'unacked', messages: 5000, skipped: 0, resent: 0 });
    await source.until(() => source.delivered.length === 5000);
    expect(source.delivered).toEqual(expected);
    expect(source.sent).toEqual([{ type: 'resume', version: 1, position: 0, acks: false }]);
  });

  it('without acks a lost connection fails the send, as it fails a plain one', async () => {
    const source = await new FakeSource(false).start();
    source.afterChunk = () => source.dropConnections();
    await expect(
      sendFile({
        address: { host: LOCAL, port: source.port },
        file: await fileOf(lines(1_000_000)),
        acks: true,
      }),
    ).rejects.toThrow(/closed the connection/);
  });

  it('a peer that closes on the hello (a plain receiver) gets the plain sender', async () => {
    const received: string[] = [];
    let connections = 0;
    const { port } = await listen((socket) => {
      connections++;
      const decoder = new FrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (p) => received.push(p.toString()));
        } catch {
          socket.destroy(); // "ROOA" read as a length: far too large
        }
      });
    });
    const logs: string[] = [];
    const expected = lines(300);
    const result = await sendFile({
      address: { host: LOCAL, port },
      file: await fileOf(expected),
      acks: true,
      log: (line) => logs.push(line),
    });
    expect(result.mode).toBe('plain');
    expect(connections).toBe(2);
    expect(logs.join('\n')).toMatch(/without answering the acking hello: sending without acks/);
    await expect.poll(() => received.length).toBe(300);
    expect(received).toEqual(expected);
  });

  it('a peer that never answers the hello fails the send, naming --no-acks', async () => {
    const { port } = await listen(() => undefined);
    await expect(
      sendFile({
        address: { host: LOCAL, port },
        file: await fileOf(lines(10)),
        acks: true,
        resumeWaitMs: 200,
      }),
    ).rejects.toThrow(/no answer from 127\.0\.0\.1:\d+ within 0\.2 s.*--no-acks/);
  });

  it('a restarted sender of a known stream skips what the source already has', async () => {
    const expected = lines(1000);
    const source = await new FakeSource(true).start();
    source.streams.restore({ s: 300 });
    source.delivered.push(...expected.slice(0, 300));
    source.afterChunk = () => {
      if (source.delivered.length === 1000) source.commit();
    };
    const logs: string[] = [];
    const result = await sendFile({
      address: { host: LOCAL, port: source.port },
      file: await fileOf(expected),
      acks: true,
      streamId: 's',
      log: (line) => logs.push(line),
    });
    expect(result).toMatchObject({ mode: 'acked', skipped: 300, messages: 700 });
    expect(logs.join('\n')).toMatch(/already has the first 300 messages of this stream/);
    expect(source.delivered).toEqual(expected);
  });

  it('refuses an ack for messages never sent, and a resume below what was acknowledged', async () => {
    // A peer that acknowledges far more than it was sent.
    const { port } = await listen((socket) => {
      socket.once('data', () => {
        socket.write(encodeSourceAckFrame({ type: 'resume', version: 1, position: 0, acks: true }));
        socket.write(encodeSourceAckFrame({ type: 'ack', version: 1, position: 1_000_000 }));
      });
    });
    const liar = sendFile({
      address: { host: LOCAL, port },
      file: await fileOf(lines(10)),
      acks: true,
    });
    await expect(liar).rejects.toThrow(/acknowledged 1000000 messages, but only \d+ were sent/);
    await expect(liar).rejects.toBeInstanceOf(RooError);

    // A source that acknowledges 100 messages, then (recovered from an older
    // checkpoint) asks for them again from 50.
    let connection = 0;
    const older = await listen((socket) => {
      const n = connection++;
      const parser = new AckedConnectionParser();
      let acked = false;
      socket.on('data', (chunk: Buffer) => {
        const hello = parser.push(chunk, () => undefined);
        if (hello !== undefined) {
          const position = n === 0 ? 0 : 50;
          socket.write(encodeSourceAckFrame({ type: 'resume', version: 1, position, acks: true }));
        }
        if (n === 0 && !acked && parser.frames >= 100) {
          acked = true;
          // end(), not destroy(): the ack reaches the sender before the close.
          socket.end(encodeSourceAckFrame({ type: 'ack', version: 1, position: 100 }));
        }
      });
    });
    await expect(
      sendFile({
        address: { host: LOCAL, port: older.port },
        file: await fileOf(lines(1000)),
        acks: true,
        maxUnackedBytes: 1024,
      }),
    ).rejects.toMatchObject({
      code: ErrorCode.BadMessage,
      message: expect.stringMatching(
        /resume at message 50, but it acknowledged every message before 100/,
      ),
    });
  });

  it('stops at once when aborted while waiting for acks', async () => {
    const source = await new FakeSource(true).start();
    const abort = new AbortController();
    const logs: string[] = [];
    const sending = sendFile({
      address: { host: LOCAL, port: source.port },
      file: await fileOf(lines(100)),
      acks: true,
      signal: abort.signal,
      log: (line) => {
        logs.push(line);
        if (line.includes('waiting for')) abort.abort();
      },
    });
    const result = await sending;
    expect(result).toMatchObject({ aborted: true, mode: 'acked', messages: 100 });
    expect(logs.join('\n')).not.toMatch(/every message acknowledged/);
  });
});

describe('flags', () => {
  const ok = ['--host', '127.0.0.1:1', '--file', 'f'];

  it('acks by default; --no-acks, --stream-id and --max-unacked-mb set the options', () => {
    expect(parseSendArgs(ok)).toMatchObject({ acks: true });
    expect(parseSendArgs(ok)).not.toHaveProperty('streamId');
    expect(parseSendArgs([...ok, '--no-acks'])).toMatchObject({ acks: false });
    expect(parseSendArgs([...ok, '--stream-id', 'orders-1', '--max-unacked-mb=8'])).toMatchObject({
      acks: true,
      streamId: 'orders-1',
      maxUnackedBytes: 8 * 1024 * 1024,
    });
  });

  it('refuses bad values and contradictions with one-line errors', () => {
    const refused = (args: string[], re: RegExp) => {
      let thrown: unknown;
      try {
        parseSendArgs([...ok, ...args]);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(RooError);
      expect((thrown as RooError).code).toBe(ErrorCode.BadFlag);
      expect((thrown as RooError).message).toMatch(re);
      expect((thrown as RooError).message).not.toContain('\n');
    };
    refused(['--stream-id', ''], /--stream-id: must be a string of 1 to 200/);
    refused(['--stream-id', 'x'.repeat(201)], /--stream-id: .*201 characters/);
    refused(['--stream-id', '__proto__'], /--stream-id: may not be "__proto__"/);
    refused(['--max-unacked-mb', '0'], /--max-unacked-mb: expected an integer of at least 1/);
    refused(['--max-unacked-mb', '99999999'], /--max-unacked-mb: at most 1048576/);
    refused(['--no-acks', '--stream-id', 'a'], /--stream-id is not for --no-acks/);
    refused(['--no-acks', '--max-unacked-mb', '1'], /--max-unacked-mb is not for --no-acks/);
    refused(['--acks'], /Unknown option '--acks'/);
  });
});
