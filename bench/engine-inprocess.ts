/**
 * Part (c) of `roo bench`: the roo engine in this process, word count over
 * the generated corpus (bench/apps/word-count-generated.ts: parallel
 * generator → split → keyed count → null sink), at a given number of
 * scheduler threads.
 *
 * A run starts a fresh engine (fresh state), then polls `engine.stats()`
 * until `encoded` — outputs that reached the sink — equals the corpus's word
 * total. The generator sources start inside `Engine.start`, a few ms before
 * it resolves, so the clock starts when it resolves and the words already
 * counted by the first poll are taken off: words/s = (total − encoded at
 * the first poll) / (time from the first poll to the poll that saw the
 * total). Thread spawning and module loading are not timed; they are the
 * same for every run and are not what a stream processor is judged by.
 */
import { fileURLToPath } from 'node:url';
import { Engine } from '../runtime/engine/engine.js';
import { createLogger } from '../runtime/logging/logger.js';

/** How often the run polls the engine's counters while it runs. */
export const POLL_INTERVAL_MS = 10;
/** A run that makes no progress for this long is declared stuck. */
export const STALL_TIMEOUT_MS = 20_000;

/** The benchmark application, next to this module (compiled JS when run from dist). */
export function wordCountAppPath(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./apps/word-count-generated${ext}`, import.meta.url));
}

/** One timed engine run. */
export interface EngineRun {
  /** Scheduler threads. */
  threads: number;
  /** Words counted in the timed interval. */
  words: number;
  /** Outputs already counted when the clock started. */
  headStart: number;
  /** Seconds from the first poll to the poll that saw the total. */
  seconds: number;
  /** Seconds `Engine.start` took (spawn, load, plan, wire). Not part of the rate. */
  startSeconds: number;
}

/** Thrown when the engine stalls, overshoots the word total, or reports errors. */
export class EngineBenchError extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs word count on `corpusPath` (which holds `totalWords` words) in a new
 * engine with `threads` scheduler threads; stops the engine before
 * returning. Throws EngineBenchError if the output count overshoots, the
 * engine records errors, or no progress is seen for STALL_TIMEOUT_MS.
 */
export async function runEngineOnce(
  corpusPath: string,
  totalWords: number,
  threads: number,
): Promise<EngineRun> {
  // The scheduler threads read ROO_LOG_LEVEL when they start: keep the
  // engine's info lines out of the report, and out of later child processes.
  const level = process.env['ROO_LOG_LEVEL'];
  process.env['ROO_LOG_LEVEL'] = level ?? 'warn';
  const fatal: Error[] = [];
  const t0 = performance.now();
  let engine: Engine;
  try {
    engine = await Engine.start({
      modulePath: wordCountAppPath(),
      args: { in: [], out: [], workerName: 'bench', threads, appArgs: [corpusPath, 'null'] },
      workerName: 'bench',
      threads,
      log: createLogger({ worker: 'bench', thread: 'main' }),
      onFatal: (err) => fatal.push(err),
    });
  } finally {
    if (level === undefined) delete process.env['ROO_LOG_LEVEL'];
  }
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    const clock = performance.now();
    const first = await engine.stats();
    const headStart = first.encoded;
    let encoded = headStart;
    let lastChange = performance.now();
    let end = clock;
    while (encoded < totalWords) {
      await sleep(POLL_INTERVAL_MS);
      const s = await engine.stats();
      end = performance.now();
      if (fatal.length > 0)
        throw new EngineBenchError(`scheduler thread failed: ${fatal[0]?.message}`);
      if (Object.keys(s.errors).length > 0) {
        throw new EngineBenchError(`engine recorded errors: ${JSON.stringify(s.errors)}`);
      }
      if (s.encoded !== encoded) lastChange = end;
      encoded = s.encoded;
      if (end - lastChange > STALL_TIMEOUT_MS) {
        throw new EngineBenchError(
          `engine (${threads} threads) stalled at ${encoded} of ${totalWords} outputs for ${STALL_TIMEOUT_MS / 1000} s; ` +
            `idle per thread: ${s.threads.map((t) => t.idle).join(',')}, ` +
            `sources finished: ${s.threads.map((t) => t.sources.map((x) => x.finished).join('/')).join(',')}`,
        );
      }
    }
    if (encoded !== totalWords) {
      throw new EngineBenchError(
        `engine (${threads} threads) emitted ${encoded} outputs for ${totalWords} words`,
      );
    }
    return {
      threads,
      words: totalWords - headStart,
      headStart,
      seconds: (end - clock) / 1000,
      startSeconds,
    };
  } finally {
    await engine.stop(500);
  }
}

/** Words/s of the measured runs at one thread count. */
export interface EngineSeries {
  /** Scheduler threads. */
  threads: number;
  /** Words/s of each measured run, in run order. */
  rates: number[];
  /** Seconds each measured run's `Engine.start` took. */
  startSeconds: number[];
}

/**
 * One warm-up run per thread count, then `reps` rounds that each run every
 * thread count once, alternating, so that load from the rest of the machine
 * falls on all of them alike.
 */
export async function runEngineSeries(options: {
  corpusPath: string;
  totalWords: number;
  reps: number;
  threadCounts: readonly number[];
  log: (line: string) => void;
}): Promise<EngineSeries[]> {
  const series = options.threadCounts.map((threads): EngineSeries => ({
    threads,
    rates: [],
    startSeconds: [],
  }));
  for (let round = 0; round <= options.reps; round++) {
    for (const s of series) {
      const run = await runEngineOnce(options.corpusPath, options.totalWords, s.threads);
      const rate = run.words / run.seconds;
      const label = round === 0 ? 'warm-up' : `run ${round}`;
      options.log(
        `  roo engine, ${s.threads} thread${s.threads === 1 ? '' : 's'}, ${label}: ` +
          `${(rate / 1e6).toFixed(2)} M words/s (${run.seconds.toFixed(2)} s; start ${run.startSeconds.toFixed(2)} s)`,
      );
      if (round > 0) {
        s.rates.push(rate);
        s.startSeconds.push(run.startSeconds);
      }
    }
  }
  return series;
}
