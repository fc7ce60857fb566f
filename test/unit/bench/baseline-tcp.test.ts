import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { forEachWord } from '../../../examples/word_count/split.js';
import { encodeFrame, FrameDecoder } from '../../../protocols/frame.js';
import { parseHostPort, startTcpWordCount, type HostPort } from '../../../bench/baseline-tcp.js';
import { countWords, generateCorpus } from '../../../bench/corpus.js';

/** A TCP receiver that decodes frames and resolves once `expected` arrived. */
async function startReceiver(expected: number): Promise<{
  address: HostPort;
  frames: string[];
  done: Promise<void>;
  close: () => void;
}> {
  const frames: string[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (p) => frames.push(p.toString('utf8')));
      if (frames.length >= expected) resolveDone();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: { host: '127.0.0.1', port },
    frames,
    done,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Sends `lines` as frames in one connection and ends it. */
async function send(to: HostPort, lines: readonly string[]): Promise<void> {
  const socket = net.connect(to.port, to.host);
  await new Promise<void>((r) => socket.once('connect', r));
  for (const line of lines) socket.write(encodeFrame(Buffer.from(line, 'utf8')));
  await new Promise<void>((r) => socket.end(r));
}

/** The outputs the word count must produce for `lines`, in order. */
function expectedOutputs(lines: readonly string[]): string[] {
  const counts = new Map<string, number>();
  const out: string[] = [];
  for (const line of lines) {
    forEachWord(line, (w) => {
      const n = (counts.get(w) ?? 0) + 1;
      counts.set(w, n);
      out.push(`${w} => ${n}\n`);
    });
  }
  return out;
}

describe('hand-written TCP word count', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('emits one `word => count` frame per word, in order', async () => {
    const lines = ['Hello, world!', 'hello "World" of Straße', '', 'x'];
    const want = expectedOutputs(lines);
    const receiver = await startReceiver(want.length);
    cleanups.push(receiver.close);
    const wc = await startTcpWordCount({
      listen: { host: '127.0.0.1', port: 0 },
      out: receiver.address,
    });
    cleanups.push(() => wc.close());
    expect(wc.address.port).toBeGreaterThan(0);
    await send(wc.address, lines);
    await receiver.done;
    expect(receiver.frames).toEqual(want);
    expect(wc.stats()).toMatchObject({ connections: 1, lines: 4, words: want.length });
  });

  it('counts a generated corpus across many 64 KB output buffers', async () => {
    const lines = generateCorpus({ bytes: 300_000, seed: 2, nonAsciiWords: 500 });
    const want = expectedOutputs(lines);
    const receiver = await startReceiver(want.length);
    cleanups.push(receiver.close);
    const wc = await startTcpWordCount({
      listen: { host: '127.0.0.1', port: 0 },
      out: receiver.address,
    });
    cleanups.push(() => wc.close());
    await send(wc.address, lines);
    await receiver.done;
    expect(receiver.frames).toHaveLength(want.length);
    expect(receiver.frames).toEqual(want);
    // Final counts agree with the independent reference.
    const last = new Map<string, number>();
    for (const f of receiver.frames) {
      const [w, n] = f.slice(0, -1).split(' => ');
      last.set(w as string, Number(n));
    }
    expect(last).toEqual(countWords(lines));
    expect(wc.stats().bytesOut).toBeGreaterThan(4 * 64 * 1024);
  });

  it('runs as a process and reports its address on stderr', async () => {
    const lines = ['one two two'];
    const receiver = await startReceiver(3);
    cleanups.push(receiver.close);
    const script = fileURLToPath(new URL('../../../bench/baseline-tcp.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        script,
        '--listen',
        '127.0.0.1:0',
        '--out',
        `127.0.0.1:${receiver.address.port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cleanups.push(() => child.kill('SIGTERM'));
    const address = await new Promise<HostPort>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /Listening on (\S+)/.exec(err);
        if (m !== null) resolve(parseHostPort(m[1] as string));
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    await send(address, lines);
    await receiver.done;
    expect(receiver.frames).toEqual(['one => 1\n', 'two => 1\n', 'two => 2\n']);
  });

  it('parses host:port and refuses garbage', () => {
    expect(parseHostPort('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseHostPort('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseHostPort('localhost')).toThrow();
    expect(() => parseHostPort(':80')).toThrow();
    expect(() => parseHostPort('h:70000')).toThrow();
  });
});
