/**
 * The pure part of `roo demo`: the independent count of the text, reading
 * word count's output, comparing the two, and summing up what each worker of
 * the cluster reports about itself. No I/O here, so every rule has a unit
 * test and the demo's verdict does not depend on timing.
 */
import type { WorkerStatus } from '../cluster/status.js';

/** Wrong words (and other problems) listed in a MISMATCH report. */
export const SHOWN_PROBLEMS = 10;
const NEWLINE = 0x0a;

/** A word, as word count defines it: a maximal run of Unicode letters and digits. */
const WORD = /[\p{L}\p{N}]+/gu;

/**
 * The lines `roo send` makes of a text: split at \n, one trailing \r
 * dropped, and a last line without a newline still a line.
 */
export function textLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** What word count must report after `messages` lines of a text, repeated. */
export interface ExpectedCounts {
  /** Lines in one copy of the text. */
  readonly linesPerPass: number;
  /** Final count of every word. */
  readonly counts: Map<string, number>;
  /** Sum of the counts: the number of outputs word count makes. */
  readonly totalWords: number;
}

/**
 * Counts the words of `messages` lines of `lines` repeated from the top: each
 * line is sent `floor(messages / L)` times, plus once more for the first
 * `messages mod L`. Written apart from the application's splitter (a regex,
 * not its hand-written scanner), so the check tests the splitter too.
 */
export function expectedCounts(lines: readonly string[], messages: number): ExpectedCounts {
  const counts = new Map<string, number>();
  const passes = Math.floor(messages / Math.max(lines.length, 1));
  let totalWords = 0;
  lines.forEach((line, i) => {
    const times = passes + (i < messages - passes * lines.length ? 1 : 0);
    if (times === 0) return;
    for (const [match] of line.matchAll(WORD)) {
      const word = match.toLowerCase();
      counts.set(word, (counts.get(word) ?? 0) + times);
      totalWords += times;
    }
  });
  return { linesPerPass: lines.length, counts, totalWords };
}

/**
 * Reads the sinks' `word => count` lines chunk by chunk, from one or more
 * output streams (one per worker's sink): keeps each word's latest count and
 * checks that a word's counts step by one. A key's outputs are made by the
 * one actor that owns its key group, on one worker, and travel one FIFO path
 * to that worker's sink, so they arrive in order on one stream; a skip or a
 * repeat means a lost or duplicated message.
 */
export class WordTally {
  /** Latest count of each word. */
  readonly counts = new Map<string, number>();
  /** Output lines read. */
  outputs = 0;
  /** Lines that were not `word => count`, or did not follow the word's last count by one. */
  bad = 0;
  /** The first few bad lines, described. */
  readonly problems: string[] = [];
  /** Per stream, the bytes of a last line still missing its newline. */
  private readonly carries = new Map<number, Buffer>();

  /** Takes the next chunk of output of stream `stream` (lines never span two streams). */
  push(chunk: Buffer, stream = 0): void {
    const carry = this.carries.get(stream);
    const buf = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
    const last = buf.lastIndexOf(NEWLINE);
    if (last + 1 < buf.length) this.carries.set(stream, Buffer.from(buf.subarray(last + 1)));
    else this.carries.delete(stream);
    // Whole lines only, so that no UTF-8 character is cut in two.
    if (last >= 0) this.lines(buf.toString('utf8', 0, last + 1));
  }

  /** Bytes of last lines still missing their newline, over every stream. */
  get pendingBytes(): number {
    let bytes = 0;
    for (const c of this.carries.values()) bytes += c.length;
    return bytes;
  }

  private lines(text: string): void {
    for (
      let start = 0, nl = text.indexOf('\n');
      nl >= 0;
      start = nl + 1, nl = text.indexOf('\n', start)
    ) {
      this.outputs++;
      const sep = text.indexOf(' => ', start);
      const digits = sep >= 0 && sep < nl ? text.slice(sep + 4, nl) : '';
      if (!/^[0-9]+$/.test(digits)) {
        this.problem(`malformed output line '${text.slice(start, nl)}'`);
        continue;
      }
      const word = text.slice(start, sep);
      const count = Number(digits);
      const previous = this.counts.get(word) ?? 0;
      if (count !== previous + 1) this.problem(`'${word}' went from ${previous} to ${count}`);
      this.counts.set(word, count);
    }
  }

  private problem(text: string): void {
    this.bad++;
    if (this.problems.length < SHOWN_PROBLEMS) this.problems.push(text);
  }
}

/** A word whose final count is wrong (0: absent from one side). */
export interface CountMismatch {
  readonly word: string;
  readonly expected: number;
  readonly actual: number;
}

/** Compares every word's final count with the expected one, both ways; OK needs no mismatch. */
export function checkCounts(expected: ExpectedCounts, tally: WordTally): CountMismatch[] {
  const mismatches: CountMismatch[] = [];
  for (const [word, count] of expected.counts) {
    const actual = tally.counts.get(word) ?? 0;
    if (actual !== count) mismatches.push({ word, expected: count, actual });
  }
  for (const [word, actual] of tally.counts) {
    if (!expected.counts.has(word)) mismatches.push({ word, expected: 0, actual });
  }
  return mismatches;
}

/** True when the output is exactly what word count must produce. */
export function countsOk(expected: ExpectedCounts, tally: WordTally): boolean {
  return (
    tally.outputs === expected.totalWords &&
    tally.bad === 0 &&
    tally.pendingBytes === 0 &&
    checkCounts(expected, tally).length === 0
  );
}

/** The `n` most frequent words, most frequent first (ties alphabetical). */
export function topWords(counts: ReadonlyMap<string, number>, n: number): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}

// ---------------------------------------------------------------------------
// What each worker holds.

/** One worker's share of the work, from its `roo status --json`. */
export interface WorkerShare {
  readonly worker: string;
  /** Lines its sources took in (0 on a worker without `--in`). */
  readonly linesIn: number;
  /** Outputs its sink wrote (the counts of the words it owns). */
  readonly wordsOut: number;
  /** State entities it holds: one per word whose key group it owns. */
  readonly entities: number;
  /** Messages its threads sent to other workers over data channels. */
  readonly toWorkers: number;
  /** Messages it received from other workers over data channels. */
  readonly fromWorkers: number;
}

/** Sums a numeric field of every thread (0 where a thread does not report it). */
function threadSum(status: WorkerStatus, field: 'sentToWorkers' | 'receivedFromWorkers'): number {
  let total = 0;
  for (const t of status.threadStats) {
    const v: unknown = (t as unknown as Record<string, unknown>)[field];
    if (typeof v === 'number' && Number.isFinite(v)) total += v;
  }
  return total;
}

/** A worker's share, from its status record. */
export function workerShare(status: WorkerStatus): WorkerShare {
  return {
    worker: status.worker,
    linesIn: status.totals.received,
    wordsOut: status.totals.written,
    entities: status.totals.entities,
    toWorkers: threadSum(status, 'sentToWorkers'),
    fromWorkers: threadSum(status, 'receivedFromWorkers'),
  };
}

/** The cluster's sums over its workers' shares. */
export interface ClusterShares {
  readonly workers: readonly WorkerShare[];
  readonly linesIn: number;
  readonly wordsOut: number;
  readonly entities: number;
}

/** Sums the shares of every worker. */
export function sumShares(workers: readonly WorkerShare[]): ClusterShares {
  let linesIn = 0;
  let wordsOut = 0;
  let entities = 0;
  for (const w of workers) {
    linesIn += w.linesIn;
    wordsOut += w.wordsOut;
    entities += w.entities;
  }
  return { workers, linesIn, wordsOut, entities };
}

/**
 * Problems with how the state is spread, in words (none: consistent). Each
 * word is one state entity owned by exactly one worker, so the entities of
 * all workers add up to the distinct words, and the workers' sinks together
 * wrote every count. After a recovery (`recovered`) only the first holds:
 * the state is restored whole, but a rollback starts every worker's traffic
 * counters afresh, so they count from the recovery on.
 */
export function shareProblems(
  shares: ClusterShares,
  expected: ExpectedCounts,
  linesSent: number,
  recovered = false,
): string[] {
  const problems: string[] = [];
  if (shares.entities !== expected.counts.size) {
    problems.push(
      `the workers hold ${shares.entities} state entities in all, but the text has ${expected.counts.size} distinct words`,
    );
  }
  if (recovered) return problems;
  if (shares.wordsOut !== expected.totalWords) {
    problems.push(
      `the workers' sinks wrote ${shares.wordsOut} counts in all, expected ${expected.totalWords}`,
    );
  }
  if (shares.linesIn !== linesSent) {
    problems.push(
      `the workers' sources took in ${shares.linesIn} lines, the sender sent ${linesSent}`,
    );
  }
  return problems;
}

/** Formats an integer with thousands separators. */
export function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The name of the `i`-th worker of the demo's cluster (0: the initializer). */
export function workerName(i: number): string {
  return i === 0 ? 'initializer' : `worker${i + 1}`;
}
