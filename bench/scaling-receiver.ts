/**
 * The scaling benchmark's input and receiver (bench/scaling.ts).
 *
 * Input: a generated file of `--keys` distinct words `k0`, `k1`, ...,
 * `--words-per-line` to a line, each word once per pass, so that word count
 * (examples/word_count/app.ts) holds exactly KEYS keys of state after one
 * pass and updates every key once per pass after that. Sent round and round
 * by `roo send --repeat --messages M`, the words sent are known from M
 * alone ({@link sentCounts}): the independent count the outputs are checked
 * against.
 *
 * Receiver: a TCP server in the bench process for every worker's `--out`
 * connection. It decodes each `kN => C` line (one state per connection, so
 * lines split across chunks are whole), and for every key keeps the outputs
 * received, the highest count, and the sum and sum of squares of the counts,
 * which is enough to tell lost, repeated and wrong outputs apart
 * ({@link ScalingReceiver.check}). Every chunk that completes at least one
 * output is stamped with performance.now() once (the lines of a chunk
 * arrive together); the time between two such chunks, on any connection, is
 * a gap between two consecutive outputs, and every gap of 1 ms or more is
 * kept, so that the longest gap of any window can be asked for afterwards.
 * "Progress" counts each key's count rising (a repeated output adds
 * nothing): against the input rate it says when the outputs are back on the
 * pace of the input after a step.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { BenchFailure, LOCAL_HOST } from './bench-child.js';

/** Gaps shorter than this are not kept (every output chunk comes closer than that in steady state). */
const KEEP_GAP_MS = 1;
/** Progress is sampled at most this often (on output chunks). */
const SAMPLE_EVERY_MS = 2;

/** The lines of the input file: `words` words each, key numbers from 0 to keys − 1 in order. */
export function inputLines(keys: number, words: number): number {
  return Math.ceil(keys / words);
}

/** Writes the input file; returns its bytes and lines. */
export function writeInputFile(
  path: string,
  keys: number,
  words: number,
): { bytes: number; lines: number } {
  const lines: string[] = [];
  for (let k = 0; k < keys; k += words) {
    const line: string[] = [];
    for (let w = k; w < Math.min(k + words, keys); w++) line.push(`k${w}`);
    lines.push(line.join(' '));
  }
  const text = `${lines.join('\n')}\n`;
  writeFileSync(path, text);
  return { bytes: Buffer.byteLength(text), lines: lines.length };
}

/**
 * How many times each key was sent when `messages` lines of the file went
 * out, the file round and round: key k is on line ⌊k / words⌋.
 */
export function sentCounts(keys: number, words: number, messages: number): Uint32Array {
  const lines = inputLines(keys, words);
  const full = Math.floor(messages / lines);
  const rest = messages % lines;
  const out = new Uint32Array(keys);
  for (let k = 0; k < keys; k++) out[k] = full + (Math.floor(k / words) < rest ? 1 : 0);
  return out;
}

/** The outputs checked against what was sent. */
export interface CountCheck {
  /** Words sent (outputs expected, one per word). */
  readonly expected: number;
  /** Outputs received. */
  readonly received: number;
  /** Outputs expected and never received: Σ max(0, sent − received) per key. */
  readonly missing: number;
  /** Outputs received beyond those expected: Σ max(0, received − sent) per key. */
  readonly extra: number;
  /** Counts the keys' final state never reached: Σ max(0, sent − highest count) per key. */
  readonly lostUpdates: number;
  /**
   * Keys whose highest count is not what was sent, or whose outputs, as many
   * as expected, are not the counts 1..n once each (sum and sum of squares).
   */
  readonly wrongKeys: number;
  /** A few of them, for the report. */
  readonly examples: readonly string[];
  /** Lines that are not `kN => C` with N a key of the input. */
  readonly badLines: number;
}

/** Parse state of one connection. */
interface LineState {
  /** 0 before the key, 1 in the key's digits, 2 between, 3 in the count's digits, 4 a bad line. */
  phase: number;
  key: number;
  count: number;
}

/** The receiver of the scaling benchmark. */
export class ScalingReceiver {
  /** Outputs received. */
  count = 0;
  /** Σ over keys of the highest count received: rises only with new state updates. */
  progress = 0;
  /** Lines that did not decode. */
  badLines = 0;
  /** performance.now() of the last chunk that completed an output (0 before any). */
  lastOutputAt = 0;
  /** `host:port` it listens on. */
  address = '';

  private readonly lines: Uint32Array;
  private readonly highest: Uint32Array;
  private readonly sums: Float64Array;
  private readonly squares: Float64Array;
  /** Kept gaps, as start, end pairs. */
  private readonly gaps: number[] = [];
  /** Progress samples, as time, progress pairs. */
  private readonly samples: number[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(private readonly keys: number) {
    this.lines = new Uint32Array(keys);
    this.highest = new Uint32Array(keys);
    this.sums = new Float64Array(keys);
    this.squares = new Float64Array(keys);
    this.server = net.createServer({ noDelay: true }, (socket) => this.serve(socket));
  }

  /** Listens on a free loopback port for outputs of keys 0..keys − 1. */
  static async listen(keys: number): Promise<ScalingReceiver> {
    const self = new ScalingReceiver(keys);
    await new Promise<void>((resolve, reject) => {
      self.server.once('error', reject);
      self.server.listen(0, LOCAL_HOST, () => resolve());
    });
    self.address = `${LOCAL_HOST}:${(self.server.address() as net.AddressInfo).port}`;
    return self;
  }

  /**
   * The longest gap between two consecutive outputs that overlaps [from, to]
   * (performance.now() times), counted whole, with where it started; the gap
   * still open at `now` counts too. Gaps under 1 ms are not kept: 0 then.
   */
  longestGap(from: number, to: number, now = performance.now()): { ms: number; at: number } {
    let best = { ms: 0, at: from };
    const g = this.gaps;
    for (let i = 0; i < g.length; i += 2) {
      const s = g[i] as number;
      const e = g[i + 1] as number;
      if (e > from && s < to && e - s > best.ms) best = { ms: e - s, at: s };
    }
    const open = now - this.lastOutputAt;
    if (this.lastOutputAt > 0 && this.lastOutputAt < to && open > best.ms) {
      best = { ms: open, at: this.lastOutputAt };
    }
    return best;
  }

  /**
   * When the outputs were back on the input's pace: the first time in
   * [from, to] at which progress ≥ p0 + perSecond × (t − t0) − the input of
   * `slackMs`, p0 being the progress at t0 (the moment of the request or of
   * the kill, when the outputs were on pace); undefined if never. Read from
   * the progress samples (one per output chunk, at most every
   * SAMPLE_EVERY_MS).
   */
  paceTime(
    t0: number,
    p0: number,
    perSecond: number,
    slackMs: number,
    from: number,
    to: number,
  ): number | undefined {
    const perMs = perSecond / 1000;
    const slack = perMs * slackMs;
    const x = this.samples;
    for (let i = 0; i < x.length; i += 2) {
      const t = x[i] as number;
      if (t < from) continue;
      if (t > to) return undefined;
      if ((x[i + 1] as number) >= p0 + perMs * (t - t0) - slack) return t;
    }
    return undefined;
  }

  /**
   * Waits until `done()` holds (checked every 50 ms), rejecting with
   * BenchFailure when `problem()` names one or no output arrives for
   * `stallMs` while `done()` does not hold.
   */
  async waitUntil(
    done: () => boolean,
    problem: () => string | undefined,
    stallMs: number,
    what: string,
  ): Promise<void> {
    let lastCount = this.count;
    let lastChange = performance.now();
    for (;;) {
      if (done()) return;
      const why = problem();
      if (why !== undefined) throw new BenchFailure(why);
      const now = performance.now();
      if (this.count !== lastCount) {
        lastCount = this.count;
        lastChange = now;
      } else if (now - lastChange > stallMs) {
        throw new BenchFailure(
          `no output for ${(stallMs / 1000).toFixed(0)} s while waiting for ${what} ` +
            `(${this.count} outputs received)`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The outputs against what was sent (`sent[k]` words of key k). */
  check(sent: Uint32Array): CountCheck {
    let expected = 0;
    let missing = 0;
    let extra = 0;
    let lostUpdates = 0;
    let wrongKeys = 0;
    const examples: string[] = [];
    for (let k = 0; k < this.keys; k++) {
      const n = sent[k] as number;
      const got = this.lines[k] as number;
      const top = this.highest[k] as number;
      expected += n;
      if (got < n) missing += n - got;
      else extra += got - n;
      if (top < n) lostUpdates += n - top;
      const wrongSums =
        got === n && (this.sums[k] !== (n * (n + 1)) / 2 || this.squares[k] !== squaresTo(n));
      if (top !== n || wrongSums) {
        wrongKeys++;
        if (examples.length < 3) {
          examples.push(`k${k}: sent ${n}, ${got} outputs, highest count ${top}`);
        }
      }
    }
    return {
      expected,
      received: this.count,
      missing,
      extra,
      lostUpdates,
      wrongKeys,
      examples,
      badLines: this.badLines,
    };
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    const state: LineState = { phase: 0, key: 0, count: 0 };
    socket.on('data', (chunk: Buffer) => this.push(state, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** Decodes the lines `chunk` completes; stamps the chunk if it completed one. */
  private push(s: LineState, chunk: Buffer): void {
    const before = this.count;
    let { phase, key, count } = s;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (c === 0x0a) {
        if (phase === 3 && key < this.keys) this.record(key, count);
        else this.badLines++;
        this.count++;
        phase = 0;
        continue;
      }
      const digit = c >= 0x30 && c <= 0x39;
      switch (phase) {
        case 0:
          if (c === 0x6b /* k */) {
            phase = 1;
            key = 0;
          } else phase = 4;
          break;
        case 1:
          if (digit) key = key * 10 + (c - 0x30);
          else if (c === 0x20) phase = 2;
          else phase = 4;
          break;
        case 2:
          if (digit) {
            phase = 3;
            count = c - 0x30;
          } else if (c !== 0x20 && c !== 0x3d && c !== 0x3e) phase = 4;
          break;
        case 3:
          if (digit) count = count * 10 + (c - 0x30);
          else if (c !== 0x0d) phase = 4;
          break;
        default:
          break;
      }
    }
    s.phase = phase;
    s.key = key;
    s.count = count;
    if (this.count === before) return;
    const now = performance.now();
    if (this.lastOutputAt > 0 && now - this.lastOutputAt >= KEEP_GAP_MS) {
      this.gaps.push(this.lastOutputAt, now);
    }
    this.lastOutputAt = now;
    const x = this.samples;
    if (x.length === 0 || now - (x[x.length - 2] as number) >= SAMPLE_EVERY_MS) {
      x.push(now, this.progress);
    }
  }

  private record(key: number, count: number): void {
    this.lines[key] = (this.lines[key] as number) + 1;
    this.sums[key] = (this.sums[key] as number) + count;
    this.squares[key] = (this.squares[key] as number) + count * count;
    const top = this.highest[key] as number;
    if (count > top) {
      this.progress += count - top;
      this.highest[key] = count;
    }
  }
}

/** 1² + 2² + ... + n². */
function squaresTo(n: number): number {
  return (n * (n + 1) * (2 * n + 1)) / 6;
}
