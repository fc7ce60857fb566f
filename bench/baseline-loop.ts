/**
 * Baseline (a) of `roo bench`: word count as a hand-written single-thread
 * loop, doing the same split (examples/word_count/split.ts) and the same
 * running count as the roo application, with each (word, count) "emitted"
 * into a counting sink. This is the plain-loop figure every other variant is
 * a ratio of.
 *
 * The kernel keeps its state in a class instance rather than in variables
 * captured by a closure: closure-captured locals in a hot loop were
 * measured noticeably slower on the target machine.
 */
import { forEachWord } from '../examples/word_count/split.js';

/** Outcome of one word-count run. */
export interface WordCountRun {
  /** Words counted, which is also the number of (word, count) emitted. */
  words: number;
  /** Distinct words seen. */
  distinct: number;
  /**
   * Sum of every emitted running count: equal for any two correct word
   * counts of the same input (and the sink's guard against the work being
   * optimised away).
   */
  checksum: number;
  /** Wall time of the timed part, in seconds. */
  seconds: number;
}

/**
 * Running counts plus a counting sink. `emit` is an arrow property so it can
 * be handed to forEachWord directly; it reaches its state through `this`.
 * The steady-state child (engine-steady.ts) keeps one across passes over the
 * corpus, as the looped engine application keeps its state.
 */
export class LoopCounter {
  readonly counts = new Map<string, number>();
  words = 0;
  checksum = 0;

  readonly emit = (word: string): void => {
    const count = (this.counts.get(word) ?? 0) + 1;
    this.counts.set(word, count);
    // The sink: consume (word, count) without allocating an output record.
    this.words++;
    this.checksum += count;
  };
}

/** The timed kernel: a plain function over locals. */
function countLines(lines: readonly string[], counter: LoopCounter): void {
  countLineRange(lines, 0, lines.length, counter);
}

/**
 * Counts lines `from` (inclusive) to `to` (exclusive) into `counter`: the
 * kernel of one run, and of the steady-state loop, which calls it on slices
 * small enough to look at the clock between them.
 */
export function countLineRange(
  lines: readonly string[],
  from: number,
  to: number,
  counter: LoopCounter,
): void {
  const emit = counter.emit;
  for (let i = from; i < to; i++) forEachWord(lines[i] as string, emit);
}

/**
 * Runs the plain-loop word count over `lines` once and returns the word
 * total, distinct words, checksum and elapsed seconds.
 */
export function runLoopBaseline(lines: readonly string[]): WordCountRun {
  const counter = new LoopCounter();
  const started = performance.now();
  countLines(lines, counter);
  const seconds = (performance.now() - started) / 1000;
  return {
    words: counter.words,
    distinct: counter.counts.size,
    checksum: counter.checksum,
    seconds,
  };
}
