/**
 * Baseline (b) of `roo bench`: word count in RxJS, the way a reactive
 * streams user would write it, on the same split and the same running-count
 * semantics as the roo application.
 *
 * - idiomatic: `from(lines)` → `mergeMap(split)` → `groupBy(word)` → per
 *   group `scan` (the keyed state) → `map` to an output record;
 * - one scan: `mergeMap(split)` → one `scan` holding a Map → `map`, the
 *   cheaper form that gives up RxJS's own keying.
 *
 * Both run synchronously (`from` over an array emits inside `subscribe`) and
 * throw if the number of outputs differs from the number of words.
 */
import { from, groupBy, map, mergeMap, scan } from 'rxjs';
import { forEachWord, splitWords } from '../examples/word_count/split.js';
import type { WordCountRun } from './baseline-loop.js';

/** One output of the word count: a word and its running count. */
export interface WordCountOutput {
  /** The lower-cased word. */
  word: string;
  /** How many times the word has been seen so far, this one included. */
  count: number;
}

/** State threaded through the single `scan` of the one-scan variant. */
interface ScanState {
  counts: Map<string, number>;
  word: string;
  count: number;
}

/** Counts what reaches the subscriber; state on an object, not in closures. */
class OutputSink {
  words = 0;
  checksum = 0;
  distinct = 0;

  readonly next = (out: WordCountOutput): void => {
    this.words++;
    this.checksum += out.count;
    if (out.count === 1) this.distinct++;
  };
}

/** Number of words in `lines` by the shared split (untimed reference). */
function wordTotal(lines: readonly string[]): number {
  const counter = { n: 0 };
  const inc = (): void => {
    counter.n++;
  };
  for (const line of lines) forEachWord(line, inc);
  return counter.n;
}

function verify(variant: string, sink: OutputSink, expectedWords: number): void {
  if (sink.words !== expectedWords) {
    throw new Error(`${variant}: ${sink.words} outputs for ${expectedWords} words`);
  }
}

/**
 * RxJS, idiomatic: keyed state through `groupBy` and a `scan` per group.
 * `expectedWords` (computed with the shared split when omitted, untimed) is
 * checked against the number of outputs.
 */
export function runRxGroupBy(lines: readonly string[], expectedWords?: number): WordCountRun {
  const expected = expectedWords ?? wordTotal(lines);
  const sink = new OutputSink();
  const started = performance.now();
  from(lines)
    .pipe(
      mergeMap((line) => splitWords(line)),
      groupBy((word) => word),
      mergeMap((group) =>
        group.pipe(
          scan((count) => count + 1, 0),
          map((count): WordCountOutput => ({ word: group.key, count })),
        ),
      ),
    )
    .subscribe({ next: sink.next });
  const seconds = (performance.now() - started) / 1000;
  verify('rx groupBy', sink, expected);
  return { words: sink.words, distinct: sink.distinct, checksum: sink.checksum, seconds };
}

/**
 * RxJS, cheaper: one `scan` whose accumulator holds a Map of counts, then
 * `map` to an output record. Checks the output total like `runRxGroupBy`.
 */
export function runRxOneScan(lines: readonly string[], expectedWords?: number): WordCountRun {
  const expected = expectedWords ?? wordTotal(lines);
  const sink = new OutputSink();
  const started = performance.now();
  from(lines)
    .pipe(
      mergeMap((line) => splitWords(line)),
      scan(
        (state: ScanState, word: string): ScanState => {
          const count = (state.counts.get(word) ?? 0) + 1;
          state.counts.set(word, count);
          state.word = word;
          state.count = count;
          return state;
        },
        { counts: new Map<string, number>(), word: '', count: 0 },
      ),
      map((state): WordCountOutput => ({ word: state.word, count: state.count })),
    )
    .subscribe({ next: sink.next });
  const seconds = (performance.now() - started) / 1000;
  verify('rx one scan', sink, expected);
  return { words: sink.words, distinct: sink.distinct, checksum: sink.checksum, seconds };
}
