/**
 * Crash and recovery tests with real processes: a generated word count
 * input with its independent count, a live tally of the receiver's output,
 * the checks of at-least-once and exactly-once output, and the logs. The
 * cluster that survives SIGKILL is in restartable-cluster.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitWords } from '../../../examples/word_count/split.js';
import { DEFAULT_WAIT_MS, RooProcess } from './processes.js';
// ---------------------------------------------------------------------------
// Input.

/** A generated word count input and its independent count. */
export interface WordInput {
  readonly path: string;
  readonly lines: number;
  /** Occurrences of each word (lower-cased), counted with word count's own splitter. */
  readonly counts: ReadonlyMap<string, number>;
  /** Words in the file: the number of outputs that word count makes of it. */
  readonly words: number;
}

/** mulberry32: a small seeded generator, so every run sends the same file. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ka', 'ro', 'mi', 'te', 'lu', 'sa', 'no', 'vi', 'dre', 'pol', 'xen', 'qu'];
/** Words outside ASCII, so that both paths of the splitter are used. */
const UNICODE_WORDS = ['straße', 'café', 'école', 'ñandú', 'δέλτα', 'жёлудь', '日本語', 'über7'];
const SEPARATORS = [' ', ' ', ' ', ', ', ' - ', '; ', '. ', ' (', ') ', '\t'];

/**
 * Writes `lines` lines of 1 to 4 words from a vocabulary of `vocabulary`
 * words (skewed: the first words are far more frequent, so some counts run
 * into the thousands while others stay small), with mixed case, punctuation
 * and some non-ASCII words, to `dir/name`; counts them line by line with
 * word count's splitter (examples/word_count/split.ts).
 */
export function writeWordInput(
  dir: string,
  name: string,
  lines: number,
  vocabulary: number,
  seed: number,
): WordInput {
  const random = seeded(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const vocab = new Set<string>(UNICODE_WORDS);
  while (vocab.size < vocabulary) {
    let w = '';
    const syllables = 1 + Math.floor(random() * 4);
    for (let i = 0; i < syllables; i++) w += pick(SYLLABLES);
    if (random() < 0.2) w += String(Math.floor(random() * 100));
    vocab.add(w);
  }
  const words = [...vocab];
  const text: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = 1 + Math.floor(random() * 4);
    let line = random() < 0.1 ? pick(SEPARATORS).trimEnd() : '';
    for (let j = 0; j < n; j++) {
      let w = words[Math.floor(words.length * random() ** 2)]!;
      const r = random();
      if (r < 0.1) w = w.toUpperCase();
      else if (r < 0.25) w = w[0]!.toUpperCase() + w.slice(1);
      line += (j === 0 ? '' : pick(SEPARATORS)) + w;
    }
    text.push(line);
  }
  const path = join(dir, name);
  writeFileSync(path, `${text.join('\n')}\n`);
  const counts = new Map<string, number>();
  let total = 0;
  for (const line of text) {
    for (const w of splitWords(line)) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
      total++;
    }
  }
  return { path, lines, counts, words: total };
}

// ---------------------------------------------------------------------------
// Output.

/**
 * Follows the `word => n` lines a `roo receive` prints, as they come: the
 * highest count seen of each word, to wait until every word has reached its
 * final count. The full checks run on the whole output afterwards.
 */
export class OutputTally {
  /** Output lines seen so far. */
  lines = 0;
  private readonly highest = new Map<string, number>();
  private rest = '';
  private reached = 0;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly receiver: RooProcess,
    /** Each word's final count. */
    private readonly expected: ReadonlyMap<string, number>,
  ) {
    receiver.child.stdout!.on('data', (chunk: Buffer) => this.take(chunk));
  }

  /** Words whose final count has been output. */
  get complete(): number {
    return this.reached;
  }

  /**
   * Resolves once every expected word's final count has been output; fails
   * after `timeoutMs` saying how many words are short.
   */
  waitForFinalCounts(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (this.reached === this.expected.size) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const short = [...this.expected]
          .filter(([w, n]) => (this.highest.get(w) ?? 0) < n)
          .slice(0, 10)
          .map(([w, n]) => `'${w}' at ${this.highest.get(w) ?? 0} of ${n}`);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms: ${this.expected.size - this.reached} of ${this.expected.size} words short of their final count (${this.lines} lines received), e.g. ${short.join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private take(chunk: Buffer): void {
    const parts = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = parts.pop()!;
    for (const line of parts) {
      this.lines++;
      const at = line.lastIndexOf(' => ');
      if (at < 0) continue;
      const word = line.slice(0, at);
      const n = Number(line.slice(at + 4));
      const before = this.highest.get(word) ?? 0;
      if (n <= before) continue;
      this.highest.set(word, n);
      const final = this.expected.get(word);
      if (final !== undefined && before < final && n >= final) this.reached++;
    }
    if (this.reached === this.expected.size && this.waiter !== undefined) {
      this.waiter();
      this.waiter = undefined;
    }
  }
}

/** What {@link atLeastOnceProblems} found besides problems. */
export interface AtLeastOnceReport {
  readonly problems: string[];
  /** Outputs beyond one per word occurrence (repeated after a rollback). */
  readonly repeats: number;
}

/**
 * Checks at-least-once word count output against `reference`: each word's
 * highest output is its count, every count 1..n is output, and no output
 * jumps ahead (each is at most one above the highest before it: after a
 * rollback a word's counts start again from the checkpoint, below what was
 * already output, never beyond it); no other word appears. Repeats allowed.
 */
export function atLeastOnceProblems(
  outputs: ReadonlyMap<string, readonly number[]>,
  reference: ReadonlyMap<string, number>,
  limit = 20,
): AtLeastOnceReport {
  const problems: string[] = [];
  let repeats = 0;
  for (const [word, n] of reference) {
    const seen = outputs.get(word) ?? [];
    repeats += Math.max(0, seen.length - n);
    let highest = 0;
    const distinct = new Set<number>();
    let jump: string | undefined;
    for (const c of seen) {
      if (c > highest + 1 && jump === undefined) jump = `${c} after at most ${highest}`;
      highest = Math.max(highest, c);
      distinct.add(c);
    }
    if (highest !== n) problems.push(`'${word}': highest count ${highest}, expected ${n}`);
    else if (distinct.size !== n || [...distinct].some((c) => c < 1 || c > n)) {
      problems.push(`'${word}': outputs do not cover 1..${n} exactly`);
    } else if (jump !== undefined) problems.push(`'${word}': output jumped ahead: ${jump}`);
    if (problems.length >= limit) return { problems, repeats };
  }
  for (const word of outputs.keys()) {
    if (!reference.has(word)) problems.push(`'${word}' was output but is not in the input`);
    if (problems.length >= limit) break;
  }
  return { problems, repeats };
}

// ---------------------------------------------------------------------------
// Logs.

/** `pattern`, matched only in text after the first `offset` characters. */
export function after(offset: number, pattern: RegExp): RegExp {
  return new RegExp(`^[\\s\\S]{${offset}}[\\s\\S]*?(?:${pattern.source})`, pattern.flags);
}

/**
 * The line the coordinator logs when a checkpoint commits (group 1: its id):
 * each commit at debug level (start the process with EACH_CHECKPOINT), the
 * newest in the INFO summary.
 */
export const CHECKPOINT_COMMITTED = /checkpoint (\d+) committed/;

/** Resolves with the id of the first checkpoint `proc` logs as committed after stderr offset `offset`. */
export async function waitForCommitAfter(
  proc: RooProcess,
  offset: number,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<number> {
  const m = await proc.waitForStderr(after(offset, CHECKPOINT_COMMITTED), timeoutMs);
  return Number(m[1]);
}

/**
 * Where `lines` occur in `log` one after another (each searched after the
 * one before); -1 from the first one missing on.
 */
export function positionsInOrder(log: string, lines: readonly string[]): number[] {
  const at: number[] = [];
  let from = 0;
  for (const line of lines) {
    const i = from < 0 ? -1 : log.indexOf(line, from);
    at.push(i);
    from = i < 0 ? -1 : i + line.length;
  }
  return at;
}

/** Lines of a JavaScript stack trace (`    at f (file:1:2)`) in `text`. */
export function stackTraceLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s+at .*:\d+:\d+\)?$/.test(l));
}

/**
 * Writes each process's stderr (and a receiver's line count) to a new
 * directory under the system temp directory, one file per process in start
 * order; returns the directory. For a failed test, to read what happened.
 */
export function writeLogs(procs: readonly RooProcess[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'roo-resilience-logs-'));
  procs.forEach((p, i) => {
    const name = `${String(i).padStart(2, '0')}-${p.label.replace(/[^\w.-]+/g, '_')}.log`;
    const exit = p.exitStatus;
    const head = `# roo ${p.args.join(' ')}\n# exit: ${exit === undefined ? 'running' : `code ${exit.code}, signal ${exit.signal}`}; ${p.stdoutLines} lines on stdout\n`;
    writeFileSync(join(dir, name), head + p.stderr);
  });
  return dir;
}

/** Starts `roo send --host HOST --file FILE [extra]` (acknowledging: the default). */
export function startSend(host: string, file: string, extra: readonly string[] = []): RooProcess {
  return RooProcess.spawn('send', ['send', '--host', host, '--file', file, ...extra]);
}

/** Waits for `send` to exit; fails unless it exits 0. */
export async function sendSucceeded(send: RooProcess, timeoutMs: number): Promise<void> {
  const exit = await send.waitForExit(timeoutMs);
  if (exit.code !== 0) throw send.failure(`exited with code ${exit.code} (signal ${exit.signal})`);
}
