/**
 * Benchmark application for the latency part of `roo bench`: a TCP source of
 * text frames `<sendTimeNs> <word>`, keyed by the word, a state computation
 * that counts each word (so every message meets its key's state entity,
 * possibly on another thread), and a TCP sink that writes `<sendTimeNs>\n`
 * back. The bench's receiver subtracts the send time from
 * process.hrtime.bigint() on arrival.
 *
 *   roo worker --application-module bench/apps/latency.ts \
 *     --in 127.0.0.1:0 --out 127.0.0.1:PORT --ponythreads 2
 */
import {
  application,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
  type AppArgs,
  type Application,
} from 'roo';

/** A word's running total. */
interface WordTotal {
  count: number;
}

/** `<sendTimeNs> <word>`, as sent. */
type Stamped = string;

/** The word after the first space (the whole frame if there is none). */
function wordOf(frame: Stamped): string {
  return frame.slice(frame.indexOf(' ') + 1);
}

const countWord = stateComputation<Stamped, WordTotal, string>('count word', (frame, total) => {
  total.count++;
  const space = frame.indexOf(' ');
  return space < 0 ? frame : frame.slice(0, space);
});

const wordTotals = statePartition<WordTotal>('word totals', { initial: () => ({ count: 0 }) });

/** Builds the latency application. */
export default function latencyApp(args: AppArgs): Application {
  const app = application('Latency (stamped words)');
  app
    .pipeline(
      tcpSource<Stamped>({
        address: args.input(),
        name: 'stamped words',
        decoder: (payload) => payload.toString('latin1'),
      }),
    )
    .keyBy(wordOf)
    .toStateful(countWord, wordTotals)
    .toSink(tcpSink<string>({ address: args.output(), encoder: (sent) => `${sent}\n` }));
  return app.build();
}
