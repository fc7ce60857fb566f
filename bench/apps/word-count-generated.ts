/**
 * Benchmark application: word count over a corpus file read into memory on
 * every thread. A parallel generator source runs an instance per scheduler
 * thread, each taking every N-th line, so decoding and splitting spread over
 * the threads and only words whose key group lives elsewhere cross threads
 * (the "shuffle" topology of PERF-LIMITS.md section 6). Outputs (word,
 * running count) go to a counting sink.
 *
 * Application arguments (after `--`): CORPUS_PATH [null|tcp]
 */
import { readFileSync } from 'node:fs';
import {
  application,
  computation,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  tcpSink,
  type AppArgs,
  type Application,
} from 'roo';
import { splitWords } from '../../examples/word_count/split.js';

interface WordTotal {
  count: number;
}

/** Builds the benchmark application. */
export default function wordCountGenerated(args: AppArgs): Application {
  const path = args.appArgs[0];
  if (path === undefined) throw new Error('usage: -- CORPUS_PATH [null|tcp]');
  const text = readFileSync(path, 'utf8');
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  const sinkKind = args.appArgs[1] ?? 'null';
  const app = application('Word Count (generated)');
  const counted = app
    .pipeline(
      generatorSource({
        name: 'corpus',
        generate: (i) => lines[i],
        count: lines.length,
        parallel: true,
      }),
    )
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
    );
  if (sinkKind === 'tcp') {
    counted.toSink(
      tcpSink({ address: args.output(), encoder: (o) => `${o.word} => ${o.count}\n` }),
    );
  } else {
    counted.toSink(nullSink('counter'));
  }
  return app.build();
}
