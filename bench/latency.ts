/**
 * The latency part of `roo bench`: p50 / p99 / p99.99 from send to receipt
 * at a fixed rate (by default half of the maximum measured end to end in
 * part (d)).
 *
 *   paced sender (this process) → roo worker (child, bench/apps/latency.ts,
 *   --ponythreads 2) → receiver (this process)
 *
 * The sender writes frames `<sendTimeNs> <word>` (words drawn in corpus
 * order, so keys follow the corpus's Zipf law), stamped with
 * process.hrtime.bigint() just before each batch is encoded. Batches go out
 * every timer tick (about 1 ms) holding the messages that became due since
 * the last one, so the rate holds on average without a busy loop. The
 * receiver reads `<sendTimeNs>\n` lines and records now − sendTime, taking
 * one hrtime reading per received chunk. CLOCK_MONOTONIC is system wide, so
 * the figure would be comparable across processes; here both ends are in
 * this process anyway.
 *
 * Messages sent during the warm-up are not recorded. If the worker pushes
 * back (the socket's buffer fills), the sender waits and the wait shows up
 * as latency of the next messages; the report gives the rate actually sent.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { forEachWord } from '../examples/word_count/split.js';
import { FRAME_HEADER_BYTES, writeFrameHeader } from '../protocols/frame.js';
import { BenchFailure, startWorker, stopAll, type BenchChild } from './bench-child.js';
import { LatencyRecorder, type LatencySummary } from './stats.js';
import { analyzeTail, type TailBreakdown } from './latency-trace.js';
import { GcWatch, monotonicMs, type SavedTrace } from '../actors/index.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The thread traces the workers saved in `dir`. */
function readTraces(dir: string): SavedTrace[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.trace.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SavedTrace);
}

/** Distinct messages prepared from the corpus (cycled). */
const WORD_POOL = 200_000;
/** Longest burst a late timer may cause, as a fraction of a second's messages. */
const MAX_BURST_SECONDS = 0.05;
/** How long to wait for the last outputs after sending stops. */
const DRAIN_TIMEOUT_MS = 15_000;

/** The latency application, next to this module (compiled JS when run from dist). */
export function latencyAppPath(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./apps/latency${ext}`, import.meta.url));
}

/** What to measure. */
export interface LatencyOptions {
  /** Corpus lines the words are drawn from. */
  lines: readonly string[];
  /** Messages per second to send. */
  rate: number;
  /** Seconds sent but not recorded first. */
  warmupSeconds: number;
  /** Seconds recorded. */
  seconds: number;
  /** Scheduler threads of the worker. */
  threads: number;
  /** Progress lines. */
  log: (line: string) => void;
  /**
   * Starts what is measured, writing to `out`; default: one worker of the
   * latency app with `threads` threads. The cluster benchmark passes a cluster.
   */
  start?: (out: string) => Promise<{ children: BenchChild[]; source: string }>;
  /**
   * Trace mode: the workers record traces into this directory (ROO_TRACE_DIR),
   * and the result says what delayed the messages above p99 (latency-trace.ts).
   */
  traceDir?: string;
}

/** What the latency part measured. */
export interface LatencyResult {
  /** Rate asked for, messages/s. */
  targetRate: number;
  /** Rate actually sent over the whole run (warm-up included), messages/s. */
  sentRate: number;
  /** Outputs received while sending, per second of sending: below `sentRate`, the worker fell behind. */
  receivedRate: number;
  /** Messages sent and received. */
  sent: number;
  received: number;
  /** Times the sender found the socket full and waited for 'drain'. */
  senderWaits: number;
  /** Percentiles of the recorded messages, µs. */
  summary: LatencySummary;
  /** Trace mode: what delayed the messages above p99. */
  tail?: TailBreakdown;
}

/** Words of the corpus, in order, as latin1 bytes, at most `max`. */
export function corpusWords(lines: readonly string[], max: number): Buffer[] {
  const words: Buffer[] = [];
  const keep = (w: string): void => {
    if (words.length < max) words.push(Buffer.from(w, 'latin1'));
  };
  for (const line of lines) {
    if (words.length >= max) break;
    forEachWord(line, keep);
  }
  if (words.length === 0) throw new BenchFailure('the corpus has no words');
  return words;
}

/** Parses `<ns>\n` lines across chunks and records now − ns for stamps from `recordFromNs` on. */
class LatencyReceiver {
  received = 0;
  /** performance.now() of the last chunk. */
  lastDataMs = 0;
  /** Bytes that are neither digits nor newlines: the output is corrupted. */
  foreign = 0;
  recordFromNs = Infinity;
  readonly recorder = new LatencyRecorder();
  /** Trace mode: every recorded message's send and receive time (CLOCK_MONOTONIC ms). */
  samples: { sendMs: Float64Array; recvMs: Float64Array; count: number } | undefined;

  /** Keeps every recorded message's times too (trace mode). */
  keepSamples(): void {
    this.samples = {
      sendMs: new Float64Array(1 << 16),
      recvMs: new Float64Array(1 << 16),
      count: 0,
    };
  }

  private keep(sendNs: number, recvNs: number): void {
    const s = this.samples as NonNullable<LatencyReceiver['samples']>;
    if (s.count === s.sendMs.length) {
      const grow = (a: Float64Array): Float64Array => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      s.sendMs = grow(s.sendMs);
      s.recvMs = grow(s.recvMs);
    }
    s.sendMs[s.count] = sendNs / 1e6;
    s.recvMs[s.count] = recvNs / 1e6;
    s.count++;
  }

  /**
   * A data handler for one connection: each keeps its own partial line, since
   * a cluster's workers each have a sink connection and their chunks interleave.
   */
  connection(): (chunk: Buffer) => void {
    const state = { acc: 0 };
    return (chunk) => this.onData(chunk, state);
  }

  private onData(chunk: Buffer, state: { acc: number }): void {
    const now = Number(process.hrtime.bigint());
    this.lastDataMs = performance.now();
    let acc = state.acc;
    let received = this.received;
    const from = this.recordFromNs;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (c === 0x0a) {
        received++;
        if (acc >= from) {
          this.recorder.record((now - acc) / 1000);
          if (this.samples !== undefined) this.keep(acc, now);
        }
        acc = 0;
      } else if (c >= 48 && c <= 57) {
        acc = acc * 10 + (c - 48);
      } else {
        this.foreign++;
      }
    }
    state.acc = acc;
    this.received = received;
  }
}

/** Encodes `count` frames `<stamp> <word>` into one buffer. */
function encodeBatch(
  stamp: Buffer,
  words: readonly Buffer[],
  first: number,
  count: number,
): Buffer {
  let size = 0;
  const n = words.length;
  for (let k = 0; k < count; k++) {
    size += FRAME_HEADER_BYTES + stamp.length + 1 + (words[(first + k) % n] as Buffer).length;
  }
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (let k = 0; k < count; k++) {
    const word = words[(first + k) % n] as Buffer;
    const length = stamp.length + 1 + word.length;
    writeFrameHeader(out, p, length);
    p += FRAME_HEADER_BYTES;
    stamp.copy(out, p);
    p += stamp.length;
    out[p++] = 0x20;
    word.copy(out, p);
    p += word.length;
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function connect(address: string): Promise<net.Socket> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Runs the latency part; see the module comment. Stops every child it started. */
export async function runLatency(options: LatencyOptions): Promise<LatencyResult> {
  const words = corpusWords(options.lines, WORD_POOL);
  const receiver = new LatencyReceiver();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('data', receiver.connection());
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  let children: BenchChild[] = [];
  let socket: net.Socket | undefined;
  const traceDir = options.traceDir;
  const benchGc: [number, number][] = [];
  let gcWatch: GcWatch | undefined;
  if (traceDir !== undefined) {
    receiver.keepSamples();
    gcWatch = new GcWatch();
    gcWatch.onGc((_kind, start, duration) => {
      benchGc.push([monotonicMs() - (performance.now() - start), duration]);
    });
  }
  const previousTraceDir = process.env['ROO_TRACE_DIR'];
  try {
    const out = `127.0.0.1:${port}`;
    // Child processes read the environment as they start.
    if (traceDir !== undefined) process.env['ROO_TRACE_DIR'] = traceDir;
    let started: { children: BenchChild[]; source: string };
    try {
      started =
        options.start !== undefined
          ? await options.start(out)
          : await startWorker(latencyAppPath(), out, options.threads).then((w) => ({
              children: [w.worker],
              source: w.source,
            }));
    } finally {
      if (previousTraceDir === undefined) delete process.env['ROO_TRACE_DIR'];
      else process.env['ROO_TRACE_DIR'] = previousTraceDir;
    }
    children = started.children;
    const worker = children[0] as BenchChild;
    const input = await connect(started.source);
    socket = input;
    let socketError: Error | undefined;
    input.on('error', (err) => (socketError ??= err));

    const rate = options.rate;
    const warmupMs = options.warmupSeconds * 1000;
    const endMs = warmupMs + options.seconds * 1000;
    const maxBurst = Math.max(1, Math.round(rate * MAX_BURST_SECONDS));
    let sent = 0;
    let senderWaits = 0;
    let recording = false;
    const t0 = performance.now();
    options.log(
      `  sending ${Math.round(rate)} msgs/s for ${options.warmupSeconds} s warm-up + ${options.seconds} s recorded`,
    );
    for (;;) {
      const elapsed = performance.now() - t0;
      if (elapsed >= endMs) break;
      if (!recording && elapsed >= warmupMs) {
        recording = true;
        receiver.recordFromNs = Number(process.hrtime.bigint());
      }
      if (socketError !== undefined) throw new BenchFailure(`sender: ${socketError.message}`);
      const dead = children.find((c) => c.exit !== undefined);
      if (dead !== undefined) throw new BenchFailure(dead.describe());
      const due = Math.floor((rate * elapsed) / 1000) - sent;
      const count = Math.min(due, maxBurst);
      if (count > 0) {
        const stamp = Buffer.from(process.hrtime.bigint().toString(), 'latin1');
        const batch = encodeBatch(stamp, words, sent, count);
        sent += count;
        if (!input.write(batch)) {
          senderWaits++;
          await new Promise<void>((resolve) => {
            input.once('drain', resolve);
            input.once('close', resolve);
          });
        }
      }
      await sleep(1);
    }
    const sendEnd = performance.now();
    const sendSeconds = (sendEnd - t0) / 1000;
    const atSendEnd = receiver.received;
    const receivedRate = atSendEnd / sendSeconds;
    while (receiver.received < sent && performance.now() < sendEnd + DRAIN_TIMEOUT_MS) {
      await sleep(10);
    }
    if (receiver.foreign > 0) {
      throw new BenchFailure(
        `latency: the worker's output is corrupted: ${receiver.foreign} bytes that are neither ` +
          `digits nor newlines among ${receiver.received} lines (${sent} messages sent)`,
      );
    }
    if (receiver.received !== sent) {
      const lastMs = receiver.lastDataMs - sendEnd;
      throw new BenchFailure(
        `latency: ${receiver.received} outputs arrived for ${sent} messages sent at ` +
          `${Math.round(sent / sendSeconds)} msgs/s; ${sent - atSendEnd} were missing when sending ` +
          `stopped, and the last output came ${(lastMs / 1000).toFixed(2)} s after it ` +
          `(waited ${DRAIN_TIMEOUT_MS / 1000} s). ${worker.describe()}`,
      );
    }
    const result: LatencyResult = {
      targetRate: rate,
      sentRate: sent / sendSeconds,
      receivedRate,
      sent,
      received: receiver.received,
      senderWaits,
      summary: receiver.recorder.summary(),
    };
    if (traceDir !== undefined && receiver.samples !== undefined) {
      // The workers write their traces as they stop.
      socket.destroy();
      await stopAll(children);
      gcWatch?.close();
      result.tail = analyzeTail({
        ...receiver.samples,
        threads: readTraces(traceDir),
        benchGc,
      });
    }
    return result;
  } finally {
    gcWatch?.close();
    socket?.destroy();
    await stopAll(children);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
