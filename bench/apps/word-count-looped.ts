/**
 * Benchmark application of `roo bench` parts (a)/(c) (engine-steady.ts) and
 * of bench/resilience.ts: word count over a corpus file read into memory on
 * every thread. A parallel generator source runs an instance per scheduler
 * thread, each taking every N-th line, round the corpus without end, so a
 * run lasts as long as the benchmark wants to measure; decoding and
 * splitting spread over the threads and only words whose key group lives
 * elsewhere cross threads. Split → keyed count → a null sink that counts.
 *
 * Application arguments (after `--`): CORPUS_PATH
 */
import { readFileSync } from 'node:fs';
import {
  application,
  computation,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  type AppArgs,
  type Application,
} from 'roo';
import { splitWords } from '../../examples/word_count/split.js';

interface WordTotal {
  count: number;
}

/** Builds the looping word count. */
export default function wordCountLooped(args: AppArgs): Application {
  const path = args.appArgs[0];
  if (path === undefined) throw new Error('usage: -- CORPUS_PATH');
  const text = readFileSync(path, 'utf8');
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  const n = lines.length;
  const app = application('Word Count (looped)');
  app
    .pipeline(generatorSource({ name: 'corpus', generate: (i) => lines[i % n], parallel: true }))
    .to(computation<string, string>('split', (line) => splitWords(line)))
    .keyBy((word) => word)
    .toStateful(
      stateComputation<string, WordTotal, { word: string; count: number }>(
        'count word',
        (word, total) => {
          total.count++;
          return { word, count: total.count };
        },
      ),
      statePartition<WordTotal>('word totals', { initial: () => ({ count: 0 }) }),
    )
    .toSink(nullSink('counter'));
  return app.build();
}
