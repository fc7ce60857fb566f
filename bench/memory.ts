/**
 * The memory part of `roo bench`: the worker's resident memory when its sink
 * is ten times slower than its sender, which only bounded queues and
 * backpressure keep flat.
 *
 *   roo send (child, the corpus repeated, paced at `rate` words/s)
 *   → roo worker (child, examples/word_count/app.ts, --ponythreads 2)
 *   → slow receiver (this process, reads `rate / 10` outputs/s)
 *
 * The receiver counts the newline-terminated outputs of each chunk against
 * a token bucket and pauses its socket until the bucket has refilled, so the
 * kernel's socket buffers fill, the worker's sink stops being writable, its
 * queues fill and mute the source, the source stops reading, and `roo send`
 * waits for 'drain'. The worker's VmRSS is read from /proc/PID/status every
 * 100 ms; peak, the mean and peak of the first and last quarter of the run,
 * and a coarse series are reported. The sender's own progress lines show the
 * rate it was held to.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import {
  BenchChild,
  BenchFailure,
  LOCAL_HOST,
  rootDir,
  startWorker,
  stopAll,
} from './bench-child.js';

/** How often the worker's RSS is sampled. */
export const SAMPLE_INTERVAL_MS = 100;
/** Frames per batch of the paced sender. */
const SEND_BATCH = 500;
/** Seconds of outputs the slow receiver may take in one burst. */
const BUCKET_SECONDS = 0.1;
/** How much the last quarter's peak may exceed the first quarter's and still count as flat. */
export const FLAT_TOLERANCE = { fraction: 0.1, bytes: 16 * 1024 * 1024 } as const;

/** What to measure. */
export interface MemoryOptions {
  /** The corpus file, sent over and over. */
  corpusPath: string;
  /** Average words per corpus line (to turn a word rate into a line rate). */
  wordsPerLine: number;
  /** Words/s the sender is paced at (outputs/s the worker would make). */
  rate: number;
  /** Seconds to run. */
  seconds: number;
  /** Scheduler threads of the worker. */
  threads: number;
  /** Progress lines. */
  log: (line: string) => void;
}

/** One RSS sample. */
export interface RssSample {
  /** Milliseconds since the sender started. */
  ms: number;
  /** Resident set size, bytes. */
  bytes: number;
}

/** Mean and peak of a stretch of samples. */
export interface RssStretch {
  mean: number;
  peak: number;
}

/** What the memory part measured. */
export interface MemoryResult {
  /** Words/s the sender was paced at. */
  senderRate: number;
  /** Outputs/s the receiver allowed. */
  receiverRate: number;
  /** Seconds run. */
  seconds: number;
  /** Worker RSS before the sender started, bytes. */
  idleBytes: number;
  /** Every sample. */
  samples: RssSample[];
  /** Highest sample, bytes. */
  peakBytes: number;
  /** First and last quarter of the run. */
  firstQuarter: RssStretch;
  lastQuarter: RssStretch;
  /** Last quarter's peak within FLAT_TOLERANCE of the first quarter's. */
  flat: boolean;
  /** Lines `roo send` had sent when stopped, and the lines/s it would have sent unhindered. */
  linesSent: number;
  linesPlanned: number;
  /** Outputs the slow receiver read. */
  outputsRead: number;
}

/** VmRSS of process `pid` in bytes, or undefined if it cannot be read. */
export function readRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Mean and peak of the samples whose time lies in [fromMs, toMs). */
export function stretch(samples: readonly RssSample[], fromMs: number, toMs: number): RssStretch {
  let sum = 0;
  let n = 0;
  let peak = 0;
  for (const s of samples) {
    if (s.ms < fromMs || s.ms >= toMs) continue;
    sum += s.bytes;
    n++;
    peak = Math.max(peak, s.bytes);
  }
  return { mean: n === 0 ? 0 : sum / n, peak };
}

/** True when `last`'s peak exceeds `first`'s by no more than FLAT_TOLERANCE. */
export function isFlat(first: RssStretch, last: RssStretch): boolean {
  const slack = Math.max(first.peak * FLAT_TOLERANCE.fraction, FLAT_TOLERANCE.bytes);
  return last.peak <= first.peak + slack;
}

/**
 * A receiver that reads at most `rate` newline-terminated outputs per second
 * on average: a token bucket refilled continuously, the socket paused while
 * the bucket is in debt.
 */
class SlowReceiver {
  outputs = 0;
  private tokens: number;
  private lastMs = performance.now();
  private readonly sockets = new Set<net.Socket>();

  private readonly server: net.Server;
  /** `host:port` it listens on, once listening. */
  address = '';

  private constructor(private readonly rate: number) {
    this.tokens = rate * BUCKET_SECONDS;
    this.server = net.createServer({ noDelay: true }, (socket) => this.serve(socket));
  }

  static async listen(rate: number): Promise<SlowReceiver> {
    const self = new SlowReceiver(rate);
    const server = self.server;
    await new Promise<void>((resolve) => server.listen(0, LOCAL_HOST, () => resolve()));
    self.address = `${LOCAL_HOST}:${(server.address() as net.AddressInfo).port}`;
    return self;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(
      this.rate * BUCKET_SECONDS,
      this.tokens + (this.rate * (now - this.lastMs)) / 1000,
    );
    this.lastMs = now;
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      let n = 0;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) n++;
      this.outputs += n;
      this.refill();
      this.tokens -= n;
      if (this.tokens < 0) {
        socket.pause();
        const waitMs = Math.ceil((-this.tokens / this.rate) * 1000);
        setTimeout(() => {
          this.refill();
          if (!socket.destroyed) socket.resume();
        }, waitMs);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

/** Runs the memory part; see the module comment. Stops every child it started. */
export async function runMemory(options: MemoryOptions): Promise<MemoryResult> {
  const receiverRate = options.rate / 10;
  const receiver = await SlowReceiver.listen(receiverRate);
  const children: (BenchChild | undefined)[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    const { worker, source } = await startWorker(
      join(rootDir(), 'examples', 'word_count', 'app.ts'),
      receiver.address,
      options.threads,
    );
    children.push(worker);
    const idleBytes = readRss(worker.pid) ?? 0;
    const linesPerSecond = options.rate / options.wordsPerLine;
    const intervalNs = Math.round((SEND_BATCH / linesPerSecond) * 1e9);
    const started = performance.now();
    const sender = BenchChild.roo([
      ...['send', '--host', source, '--file', options.corpusPath, '--repeat'],
      ...['--batch-size', String(SEND_BATCH), '--interval', String(intervalNs)],
    ]);
    children.push(sender);
    let linesSent = 0;
    sender.onLine((line) => {
      const m = /sent (\d+) messages/.exec(line);
      if (m !== null) linesSent = Number(m[1]);
    });
    options.log(
      `  sender paced at ${Math.round(options.rate)} words/s (${Math.round(linesPerSecond)} lines/s), ` +
        `receiver reads ${Math.round(receiverRate)} outputs/s, ${options.seconds} s`,
    );
    const samples: RssSample[] = [];
    sampler = setInterval(() => {
      const bytes = readRss(worker.pid);
      if (bytes !== undefined) samples.push({ ms: performance.now() - started, bytes });
    }, SAMPLE_INTERVAL_MS);
    const endMs = options.seconds * 1000;
    while (performance.now() - started < endMs) {
      await new Promise((r) => setTimeout(r, 200));
      if (worker.exit !== undefined) throw new BenchFailure(worker.describe());
      if (sender.exit !== undefined) throw new BenchFailure(sender.describe());
    }
    clearInterval(sampler);
    sampler = undefined;
    const seconds = (performance.now() - started) / 1000;
    // Its last line on stopping gives the final count of lines sent.
    await sender.stop();
    const quarter = endMs / 4;
    const firstQuarter = stretch(samples, 0, quarter);
    const lastQuarter = stretch(samples, endMs - quarter, Infinity);
    return {
      senderRate: options.rate,
      receiverRate,
      seconds,
      idleBytes,
      samples,
      peakBytes: samples.reduce((m, s) => Math.max(m, s.bytes), 0),
      firstQuarter,
      lastQuarter,
      flat: isFlat(firstQuarter, lastQuarter),
      linesSent,
      linesPlanned: Math.round(linesPerSecond * seconds),
      outputsRead: receiver.outputs,
    };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    // The sender first (it waits on the worker), then the receiver's sockets, then the worker.
    const [worker, sender] = children;
    await stopAll([sender]);
    await receiver.close();
    await stopAll([worker]);
  }
}
