/**
 * Baseline (d) of `roo bench`: a hand-written, single-process TCP word
 * count, to set `roo send` → `roo worker` → `roo receive` against.
 *
 * Input: any number of connections to `listen`, each a stream of
 * length-prefixed frames (protocols/frame.ts), one UTF-8 line per frame.
 * Output: one connection to `out`, one frame per word with the payload
 * `word => count\n` (the running count), encoded straight into 64 KB buffers
 * that are written once full and at the end of every input chunk — never a
 * write per message (measured on the target machine: a write per message
 * loses about 35 %). When the output socket's buffer is full every input socket is
 * paused until it drains, so TCP pushes back on the senders and memory stays
 * bounded.
 *
 * As a process: `node dist/bench/baseline-tcp.js --listen 127.0.0.1:0
 * --out 127.0.0.1:PORT` prints `Listening on HOST:PORT` to stderr when ready
 * and stops on SIGINT / SIGTERM.
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { forEachWord } from '../examples/word_count/split.js';
import { FRAME_HEADER_BYTES, FrameDecoder, writeFrameHeader } from '../protocols/frame.js';

/** A TCP address. */
export interface HostPort {
  /** Host name or IP address. */
  host: string;
  /** Port; 0 to listen on any free port. */
  port: number;
}

/** Where the TCP word count listens and where it sends its output. */
export interface TcpWordCountOptions {
  /** Address to accept framed input lines on. */
  listen: HostPort;
  /** Address of the receiver to connect to and send `word => count` frames. */
  out: HostPort;
}

/** Counters of a running TCP word count. */
export interface TcpWordCountStats {
  /** Input connections accepted so far. */
  connections: number;
  /** Input frames (lines) processed. */
  lines: number;
  /** Words counted, which is also the number of output frames. */
  words: number;
  /** Bytes handed to the output socket. */
  bytesOut: number;
}

/** A running TCP word count. */
export interface TcpWordCountHandle {
  /** The address actually bound (the real port when asked for port 0). */
  readonly address: HostPort;
  /** Current counters. */
  stats(): TcpWordCountStats;
  /**
   * Stops accepting input, drops open input connections, flushes the output
   * and closes the output connection. Resolves once it is closed.
   */
  close(): Promise<void>;
}

/** Size of an output batch buffer. */
const OUT_BUFFER_BYTES = 64 * 1024;
/** ' => ' as bytes. */
const ARROW = [0x20, 0x3d, 0x3e, 0x20] as const;
/** Room for ' => ', a count of up to 16 digits and '\n'. */
const TAIL_MAX_BYTES = 4 + 16 + 1;

/**
 * Encodes `word => count\n` frames into 64 KB buffers and writes a buffer to
 * the socket once full or on `flush()`. The unwritten tail of a flushed
 * buffer is reused, so a flush after each input chunk wastes no memory.
 */
class FrameBatchWriter {
  private buf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  private start = 0;
  private pos = 0;
  bytesOut = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly onBackpressure: () => void,
  ) {}

  /** Appends one frame `word => count\n`. */
  writeWordCount(word: string, count: number): void {
    const wordLen = word.length;
    // A UTF-16 unit takes at most 3 UTF-8 bytes.
    const need = FRAME_HEADER_BYTES + 3 * wordLen + TAIL_MAX_BYTES;
    if (this.buf.length - this.pos < need) this.rotate(need);
    const buf = this.buf;
    const header = this.pos;
    let p = header + FRAME_HEADER_BYTES;
    let ascii = true;
    for (let i = 0; i < wordLen; i++) {
      const c = word.charCodeAt(i);
      if (c >= 128) {
        ascii = false;
        break;
      }
      buf[p + i] = c;
    }
    p += ascii ? wordLen : buf.write(word, p, 'utf8');
    buf[p] = ARROW[0];
    buf[p + 1] = ARROW[1];
    buf[p + 2] = ARROW[2];
    buf[p + 3] = ARROW[3];
    p += 4;
    p = writeDecimal(buf, p, count);
    buf[p++] = 0x0a;
    writeFrameHeader(buf, header, p - header - FRAME_HEADER_BYTES);
    this.pos = p;
  }

  /** Writes what is buffered and not yet written. */
  flush(): void {
    if (this.pos === this.start) return;
    const chunk = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    this.bytesOut += chunk.length;
    if (!this.socket.write(chunk)) this.onBackpressure();
  }

  /** Flushes and continues in a fresh buffer of at least `need` bytes. */
  private rotate(need: number): void {
    this.flush();
    this.buf = Buffer.allocUnsafe(Math.max(OUT_BUFFER_BYTES, need));
    this.start = 0;
    this.pos = 0;
  }
}

/** Writes the decimal digits of a non-negative integer at `p`; returns the end. */
function writeDecimal(buf: Buffer, p: number, value: number): number {
  if (value < 10) {
    buf[p] = 48 + value;
    return p + 1;
  }
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = p + digits - 1; i >= p; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return p + digits;
}

/** The counting kernel: state on the instance, callbacks as arrow properties. */
class WordCounter {
  readonly counts = new Map<string, number>();
  lines = 0;
  words = 0;

  constructor(private readonly writer: FrameBatchWriter) {}

  readonly onWord = (word: string): void => {
    const count = (this.counts.get(word) ?? 0) + 1;
    this.counts.set(word, count);
    this.words++;
    this.writer.writeWordCount(word, count);
  };

  readonly onFrame = (payload: Buffer): void => {
    this.lines++;
    forEachWord(payload.toString('utf8'), this.onWord);
  };
}

/** Connects to `out`; resolves with the connected socket. */
function connect(out: HostPort): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: out.host, port: out.port });
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * Starts the hand-written TCP word count: connects to `out`, then listens on
 * `listen`. Resolves once both are ready.
 */
export async function startTcpWordCount(options: TcpWordCountOptions): Promise<TcpWordCountHandle> {
  const outSocket = await connect(options.out);
  const inputs = new Set<net.Socket>();
  let paused = false;
  let connections = 0;

  const writer = new FrameBatchWriter(outSocket, () => {
    if (paused) return;
    paused = true;
    for (const s of inputs) s.pause();
  });
  const counter = new WordCounter(writer);

  outSocket.on('drain', () => {
    paused = false;
    for (const s of inputs) s.resume();
  });
  outSocket.on('error', (err) => {
    console.error(`baseline-tcp: output connection failed: ${err.message}`);
    for (const s of inputs) s.destroy();
  });

  const server = net.createServer((socket) => {
    connections++;
    inputs.add(socket);
    if (paused) socket.pause();
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, counter.onFrame);
      } catch (err) {
        console.error(`baseline-tcp: bad input, closing connection: ${(err as Error).message}`);
        socket.destroy();
      }
      writer.flush();
    });
    socket.on('end', () => {
      try {
        decoder.end();
      } catch (err) {
        console.error(`baseline-tcp: ${(err as Error).message}`);
      }
      // allowHalfOpen is off, so Node ends our side of the socket too.
      writer.flush();
    });
    socket.on('error', (err) => {
      console.error(`baseline-tcp: input connection failed: ${err.message}`);
    });
    socket.on('close', () => inputs.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    address: { host: bound.address, port: bound.port },
    stats: () => ({
      connections,
      lines: counter.lines,
      words: counter.words,
      bytesOut: writer.bytesOut,
    }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close();
        for (const s of inputs) s.destroy();
        writer.flush();
        if (outSocket.destroyed) {
          resolve();
          return;
        }
        outSocket.once('close', () => resolve());
        outSocket.end();
      });
      return closing;
    },
  };
}

/** Parses `host:port` (IPv6 hosts in brackets: `[::1]:9000`). */
export function parseHostPort(text: string): HostPort {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === '' || !(port >= 0 && port <= 65535)) {
    throw new Error(`expected host:port, got ${JSON.stringify(text)}`);
  }
  return { host: m[1] as string, port };
}

async function main(argv: readonly string[]): Promise<void> {
  let listen: HostPort | undefined;
  let out: HostPort | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--listen' && value !== undefined) listen = parseHostPort(value);
    else if (flag === '--out' && value !== undefined) out = parseHostPort(value);
    else throw new Error(`unknown argument ${JSON.stringify(flag)}`);
  }
  if (listen === undefined || out === undefined) {
    throw new Error('usage: baseline-tcp --listen HOST:PORT --out HOST:PORT');
  }
  const handle = await startTcpWordCount({ listen, out });
  console.error(`Listening on ${handle.address.host}:${handle.address.port}`);
  const stop = (): void => {
    void handle.close().then(() => {
      const s = handle.stats();
      console.error(`baseline-tcp: ${s.lines} lines, ${s.words} words, ${s.bytesOut} bytes out`);
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`baseline-tcp: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
