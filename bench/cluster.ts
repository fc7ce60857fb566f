/**
 * Cluster benchmark: word count end to end (`roo send` → workers → a
 * counting receiver) on 1 worker and on 2 workers of one machine, in one
 * run, on the same corpus. Every worker runs `--ponythreads 1`, so the two
 * cases use the same number of scheduler threads; on 2 cores the point is
 * the cost of the data channel, not a speed-up. Reports words/s, the
 * messages that crossed between workers (counted by the workers themselves,
 * read over their external channels) and their rate, and the ratio.
 *
 *   node dist/bench/cluster.js [--mb 10] [--reps 3]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddress } from '../protocols/index.js';
import { requestExternal } from '../runtime/cli/external-client.js';
import { countWords, DEFAULT_SEED, totalWords, writeCorpusFile } from './corpus.js';
import { BenchChild, LOCAL_HOST, rootDir, stopAll } from './bench-child.js';
import { CountingReceiver } from './counting-receiver.js';
import { latencyAppPath, runLatency } from './latency.js';
import { describeMachine, median } from './stats.js';

/** Microseconds as milliseconds, for the table. */
function ms(us: number): string {
  return `${(us / 1000).toFixed(2)} ms`;
}

/** One cluster size's figures. */
export interface ClusterRun {
  readonly workers: number;
  /** Words per second of each measured run. */
  readonly rates: readonly number[];
  /** Messages sent between workers per run (mean), and per second. */
  readonly crossingPerRun: number;
  readonly crossingRate: number;
}

/** Starts an N-worker word-count cluster writing to `out`; resolves with the source and external addresses. */
async function startCluster(
  workers: number,
  out: string,
  app = join(rootDir(), 'examples', 'word_count', 'app.ts'),
): Promise<{ children: BenchChild[]; source: string; externals: string[] }> {
  const common = ['--application-module', app, '--out', out, '--ponythreads', '1'];
  const more = [
    '--external',
    `${LOCAL_HOST}:0`,
    '--resilience-dir',
    `/tmp/roo-bench-cluster-${process.pid}`,
  ];
  const init = BenchChild.roo([
    ...['worker', ...common, ...more, '--in', `${LOCAL_HOST}:0`, '--name', 'initializer'],
    ...['--cluster-initializer', '--worker-count', String(workers)],
    ...['--control', `${LOCAL_HOST}:0`, '--data', `${LOCAL_HOST}:0`],
  ]);
  // Every wait is set up at spawn: waitForLine sees only lines that come after it.
  const waits = [init.waitForLine(/external channel listening on (\S+)/, 'its external channel')];
  const listening = init.waitForLine(/source '.*' listening on (\S+)/, 'that its source listens');
  const children = [init];
  if (workers > 1) {
    const [, control] = await init.waitForLine(
      /control channel listening on (\S+?);/,
      'its control',
    );
    for (let w = 2; w <= workers; w++) {
      const member = BenchChild.roo([
        ...['worker', ...common, ...more, '--name', `worker${w}`],
        ...['--control', control as string, '--my-data', `${LOCAL_HOST}:0`],
      ]);
      children.push(member);
      waits.push(member.waitForLine(/external channel listening on (\S+)/, 'its external channel'));
    }
  }
  const externals = (await Promise.all(waits)).map((m) => m[1] as string);
  const [, source] = await listening;
  return { children, source: source as string, externals };
}

/** Messages every worker sent to other workers, summed. */
async function crossing(externals: readonly string[]): Promise<number> {
  let total = 0;
  for (const address of externals) {
    const answer = await requestExternal(parseAddress(address), 'status');
    const result = answer.result as { threadStats: { sentToWorkers: number }[] };
    for (const t of result.threadStats) total += t.sentToWorkers;
  }
  return total;
}

/** Measures word count on `workers` workers. */
export async function runCluster(
  workers: number,
  corpusPath: string,
  words: number,
  reps: number,
  log: (line: string) => void,
): Promise<ClusterRun> {
  const receiver = await CountingReceiver.listen('lines');
  let children: BenchChild[] = [];
  try {
    const cluster = await startCluster(workers, receiver.address);
    children = cluster.children;
    const rates: number[] = [];
    let crossedBefore = 0;
    let crossedMeasured = 0;
    let secondsMeasured = 0;
    for (let run = 0; run <= reps; run++) {
      const started = performance.now();
      const sender = BenchChild.roo(['send', '--host', cluster.source, '--file', corpusPath]);
      const end = await receiver.waitFor((run + 1) * words, () =>
        children.find((c) => c.exit !== undefined)?.describe(),
      );
      await sender.exited;
      const seconds = (end - started) / 1000;
      const crossed = await crossing(cluster.externals);
      log(
        `  ${workers} worker(s), ${run === 0 ? 'warm-up' : `run ${run}`}: ${(words / seconds / 1e6).toFixed(2)} M words/s, ${crossed - crossedBefore} messages crossed workers`,
      );
      if (run > 0) {
        rates.push(words / seconds);
        crossedMeasured += crossed - crossedBefore;
        secondsMeasured += seconds;
      }
      crossedBefore = crossed;
    }
    return {
      workers,
      rates,
      crossingPerRun: crossedMeasured / Math.max(1, reps),
      crossingRate: secondsMeasured > 0 ? crossedMeasured / secondsMeasured : 0,
    };
  } finally {
    await stopAll(children);
    await receiver.close();
  }
}

/** Runs 1 and 2 workers and prints a markdown table. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      mb: { type: 'string', default: '10' },
      reps: { type: 'string', default: '3' },
      'latency-rate': { type: 'string', default: '20000' },
    },
  });
  const mb = Number(values.mb);
  const reps = Number(values.reps);
  const corpusPath = `/tmp/roo-bench-cluster-${mb}mb.txt`;
  const corpus = writeCorpusFile(corpusPath, { bytes: mb * 1e6, seed: DEFAULT_SEED });
  const words = totalWords(countWords(corpus.lines));
  const log = (line: string) => console.log(line);
  log(JSON.stringify(describeMachine()));
  log(`corpus: ${mb} MB, ${corpus.lines.length} lines, ${words} words`);
  const one = await runCluster(1, corpusPath, words, reps, log);
  const two = await runCluster(2, corpusPath, words, reps, log);
  const m1 = median(one.rates);
  const m2 = median(two.rates);
  log('');
  log(
    '| workers (1 scheduler thread each) | words/s (median) | min..max | messages across workers per run | across workers/s | vs 1 worker |',
  );
  log('| --- | --- | --- | --- | --- | --- |');
  for (const r of [one, two]) {
    const m = median(r.rates);
    log(
      `| ${r.workers} | ${(m / 1e6).toFixed(2)} M | ${(Math.min(...r.rates) / 1e6).toFixed(2)}..${(Math.max(...r.rates) / 1e6).toFixed(2)} M | ${Math.round(r.crossingPerRun)} | ${(r.crossingRate / 1e6).toFixed(2)} M | ${(m / m1).toFixed(3)}x |`,
    );
  }
  log('');
  log(`2 workers / 1 worker: ${(m2 / m1).toFixed(3)}x`);
  // Latency: the same latency app and rate on 1 and 2 workers; the difference
  // is what crossing a worker adds (about half of the keys live on the other).
  const rate = Number(values['latency-rate']);
  log('');
  log(
    `latency at ${rate} msgs/s (bench/apps/latency.ts, one word per frame, keyed state, 1 scheduler thread per worker):`,
  );
  log('| workers | p50 | p99 | p99.99 | max |');
  log('| --- | --- | --- | --- | --- |');
  for (const workers of [1, 2]) {
    const r = await runLatency({
      lines: corpus.lines,
      rate,
      warmupSeconds: 2,
      seconds: 8,
      threads: 1,
      log: () => undefined,
      start: (out) => startCluster(workers, out, latencyAppPath()),
    });
    const l = r.summary;
    log(`| ${workers} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.p9999)} | ${ms(l.max)} |`);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    },
  );
}
