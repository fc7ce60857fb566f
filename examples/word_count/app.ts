/**
 * Word count: splits each line into words (maximal runs of Unicode letters
 * and digits, lower-cased), keyed by the word, and emits `word => count`
 * (the running total) and a newline for every word it sees.
 *
 *   roo worker --application-module examples/word_count/app.ts \
 *     --in 127.0.0.1:7010 --out 127.0.0.1:7002 --cluster-initializer \
 *     --worker-count 1 --ponythreads 2
 *
 * With `--run-with-resilience`, the application argument `--exactly-once`
 * (after `--`) makes the sink exactly-once: each checkpoint's output is
 * released when the checkpoint commits, and `roo receive` applies it once.
 */
import {
  application,
  computation,
  encodeInto,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
  type AppArgs,
  type Application,
} from 'roo';
import { splitWords } from './split.js';

/** A word's running total. */
interface WordTotal {
  count: number;
}

/** One output: a word and its count so far. */
interface WordCount {
  readonly word: string;
  readonly count: number;
}

const split = computation<string, string>('split', (line) => splitWords(line));

const countWord = stateComputation<string, WordTotal, WordCount>('count word', (word, total) => {
  total.count++;
  return { word, count: total.count };
});

const wordTotals = statePartition<WordTotal>('word totals', { initial: () => ({ count: 0 }) });

/** Builds the word count application. */
export default function wordCount(args: AppArgs): Application {
  const app = application('Word Count');
  app
    .pipeline(tcpSource({ address: args.input(), name: 'Split and Count' }))
    .toParallel(split)
    .keyBy((word) => word)
    .toStateful(countWord, wordTotals)
    .toSink(
      tcpSink<WordCount>({
        address: args.output(),
        // `word => count` and a newline, written straight into the sink's
        // buffer; `encoder: (o) => \`${o.word} => ${o.count}\n\`` gives the
        // same bytes at the cost of a few strings per word.
        encoder: encodeInto((o, out) => out.text(o.word).text(' => ').number(o.count).text('\n')),
        delivery: args.appArgs.includes('--exactly-once') ? 'exactly-once' : 'at-least-once',
      }),
    );
  return app.build();
}
