/**
 * The latency part's baseline: what the latency application does, written
 * by hand in one process and one thread, to show what this machine allows.
 *
 * It reads length-prefixed frames `<sendTimeNs> <word>` (protocols/frame.ts),
 * counts each word in a Map, and writes `<sendTimeNs>\n` back for each frame,
 * all the frames of an input chunk in one write. Its latency is the floor
 * that the sender, the receiver, the kernel's sockets, the event loop and
 * the machine's scheduling put under any Node stream processor here: a
 * figure of roo's latency means most next to this one, taken in the same run.
 *
 * As a process: `node dist/bench/baseline-latency.js --listen 127.0.0.1:0
 * --out 127.0.0.1:PORT` prints `Listening on HOST:PORT` to stderr when
 * ready and stops on SIGINT / SIGTERM.
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { FrameDecoder } from '../protocols/frame.js';
import { parseHostPort } from './baseline-tcp.js';

/** Counts words and echoes each frame's stamp into an output buffer. */
class StampEcho {
  readonly counts = new Map<string, number>();
  private out = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  frames = 0;

  /** One frame: `<stamp> <word>`. */
  readonly onFrame = (payload: Buffer): void => {
    const space = payload.indexOf(0x20);
    const stampEnd = space < 0 ? payload.length : space;
    const word = payload.toString('latin1', space + 1);
    this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    if (this.pos + stampEnd + 1 > this.out.length) {
      const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + stampEnd + 1));
      this.out.copy(next, 0, 0, this.pos);
      this.out = next;
    }
    payload.copy(this.out, this.pos, 0, stampEnd);
    this.pos += stampEnd;
    this.out[this.pos++] = 0x0a;
    this.frames++;
  };

  /** The bytes written since the last take (a copy), or undefined. */
  take(): Buffer | undefined {
    if (this.pos === 0) return undefined;
    const bytes = Buffer.from(this.out.subarray(0, this.pos));
    this.pos = 0;
    return bytes;
  }
}

async function main(argv: readonly string[]): Promise<void> {
  let listen = '';
  let out = '';
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--listen') listen = argv[i + 1] ?? '';
    else if (argv[i] === '--out') out = argv[i + 1] ?? '';
    else throw new Error(`unknown argument ${JSON.stringify(argv[i])}`);
  }
  const listenAt = parseHostPort(listen);
  const outAt = parseHostPort(out);
  const output = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: outAt.host, port: outAt.port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
  });
  const echo = new StampEcho();
  const inputs = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    inputs.add(socket);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, echo.onFrame);
      } catch (err) {
        console.error(`baseline-latency: bad input: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      const bytes = echo.take();
      if (bytes !== undefined && !output.write(bytes)) {
        for (const s of inputs) s.pause();
        output.once('drain', () => {
          for (const s of inputs) s.resume();
        });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => inputs.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(listenAt.port, listenAt.host, resolve));
  const bound = server.address() as net.AddressInfo;
  console.error(`Listening on ${bound.address}:${bound.port}`);
  const stop = (): void => {
    server.close();
    for (const s of inputs) s.destroy();
    output.end(() => {
      console.error(`baseline-latency: ${echo.frames} frames, ${echo.counts.size} words`);
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`baseline-latency: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
