/**
 * Benchmark application for bench/resilience.ts: a state of KEYS keys. A
 * generator source makes message i = key `k<i mod KEYS>`; a keyed state
 * computation counts messages per key; outputs go to a counting sink. The
 * first KEYS messages create the KEYS state entities, later ones update them,
 * so the state grows to exactly KEYS keys and stays there.
 *
 * Application arguments (after `--`): KEYS [COUNT]
 *   COUNT: messages to make (default KEYS: one pass, then the source is
 *   finished and the worker idles); `inf` for no end.
 */
import {
  application,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
  type AppArgs,
  type Application,
} from 'roo';

interface KeyTotal {
  count: number;
}

function wholeNumber(text: string | undefined, what: string): number {
  const n = Number((text ?? '').replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${what}: expected a whole number ≥ 1`);
  return n;
}

/** Builds the keyed-counter application. */
export default function keyedCounter(args: AppArgs): Application {
  const keys = wholeNumber(args.appArgs[0], 'usage: -- KEYS [COUNT|inf]; KEYS');
  const countArg = args.appArgs[1];
  const count =
    countArg === undefined ? keys : countArg === 'inf' ? Infinity : wholeNumber(countArg, 'COUNT');
  const app = application('Keyed counter');
  app
    .pipeline(
      generatorSource({ name: 'keys', generate: (i) => `k${i % keys}`, count, parallel: true }),
    )
    .keyBy((key) => key)
    .toStateful(
      stateComputation<string, KeyTotal, number>('count key', (_key, total) => ++total.count),
      statePartition<KeyTotal>('key totals', { initial: () => ({ count: 0 }) }),
    )
    .toSink(nullSink('counter'));
  return app.build();
}
