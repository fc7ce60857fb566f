/**
 * The in-process baselines of `roo bench`, runnable on their own:
 *
 *   node dist/bench/baselines.js [--mb 20] [--reps 3] [--seed N]
 *
 * Generates the corpus once (untimed), counts it with the independent
 * reference (untimed), then runs (a) the plain loop and (b) the two RxJS
 * variants, each 1 warm-up + `reps` measured runs, checks every run against
 * the reference (word total and checksum of running counts), and prints a
 * markdown table — median words/s, min..max, ratio to (a) — with the
 * machine description. Start node with --expose-gc to collect garbage
 * between runs.
 */
import { pathToFileURL } from 'node:url';
import { runLoopBaseline, type WordCountRun } from './baseline-loop.js';
import { runRxGroupBy, runRxOneScan } from './baseline-rx.js';
import { countWords, DEFAULT_SEED, generateCorpus } from './corpus.js';
import {
  formatMachine,
  formatRate,
  formatRateRange,
  formatRatio,
  LoadProbe,
  markdownTable,
  median,
  summarize,
  type Summary,
} from './stats.js';

/** What every correct word count of a corpus must report. */
export interface WordCountExpectation {
  /** Total words. */
  words: number;
  /** Distinct words. */
  distinct: number;
  /** Sum of all running counts emitted: Σ c(c+1)/2 over the final counts. */
  checksum: number;
}

/** The expectation for a corpus, from the reference count of corpus.ts. */
export function expectationOf(counts: ReadonlyMap<string, number>): WordCountExpectation {
  let words = 0;
  let checksum = 0;
  for (const c of counts.values()) {
    words += c;
    checksum += (c * (c + 1)) / 2;
  }
  return { words, distinct: counts.size, checksum };
}

/** Throws if `run` disagrees with `expected`. */
export function checkRun(name: string, run: WordCountRun, expected: WordCountExpectation): void {
  if (
    run.words !== expected.words ||
    run.distinct !== expected.distinct ||
    run.checksum !== expected.checksum
  ) {
    throw new Error(
      `${name}: got ${run.words} words / ${run.distinct} distinct / checksum ${run.checksum}, ` +
        `expected ${expected.words} / ${expected.distinct} / ${expected.checksum}`,
    );
  }
}

/** Rates of one variant over its measured runs. */
export interface VariantResult {
  /** Variant label. */
  name: string;
  /** Words/s of each measured run, in run order. */
  rates: number[];
  /** Median, min and max of `rates`. */
  summary: Summary;
  /**
   * Median over the measured runs of the cores kept busy by the rest of the
   * machine (LoadProbe.otherLoad): about 0 on a quiet machine. On 2 cores,
   * other load slows even a single-threaded run (shared caches, hypervisor).
   */
  otherLoad: number;
}

/** Asks V8 for a full collection when node runs with --expose-gc. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) gc();
}

/**
 * Runs `run` once to warm up and then `reps` times measured, checking every
 * run (the warm-up too) against `expected`.
 */
export function measureVariant(
  name: string,
  run: () => WordCountRun,
  reps: number,
  expected: WordCountExpectation,
): VariantResult {
  const rates: number[] = [];
  const loads: number[] = [];
  const probe = new LoadProbe();
  for (let i = 0; i <= reps; i++) {
    collectGarbage();
    probe.start();
    const r = run();
    const load = probe.stop();
    checkRun(name, r, expected);
    if (i > 0) {
      rates.push(r.words / r.seconds);
      loads.push(load.otherLoad);
    }
  }
  return { name, rates, summary: summarize(rates), otherLoad: median(loads) };
}

/** Options of the baselines run. */
export interface BaselinesOptions {
  /** Corpus size in MiB. */
  mb: number;
  /** Measured repetitions per variant (after one warm-up). */
  reps: number;
  /** Corpus seed. */
  seed: number;
  /** Progress lines go here (default: stderr). */
  log?: (line: string) => void;
}

/** Results of the baselines run plus a markdown report. */
export interface BaselinesReport {
  /** Per variant, (a) first. */
  variants: VariantResult[];
  /** The markdown report: corpus, table, machine. */
  markdown: string;
}

/** Generates the corpus and measures (a) and both (b) variants on it. */
export function runBaselines(options: BaselinesOptions): BaselinesReport {
  const log = options.log ?? ((line: string) => console.error(line));
  const bytes = Math.round(options.mb * 1024 * 1024);
  log(`generating ${options.mb} MiB corpus (seed ${options.seed})...`);
  const t0 = performance.now();
  const lines = generateCorpus({ bytes, seed: options.seed });
  const t1 = performance.now();
  const expected = expectationOf(countWords(lines));
  const t2 = performance.now();
  const size = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  log(
    `corpus: ${(size / 1e6).toFixed(1)} MB, ${lines.length} lines, ${expected.words} words, ` +
      `${expected.distinct} distinct (generated in ${((t1 - t0) / 1000).toFixed(2)} s, ` +
      `reference count ${((t2 - t1) / 1000).toFixed(2)} s)`,
  );

  const plan: [string, () => WordCountRun][] = [
    ['(a) plain loop: forEachWord + Map, counting sink', () => runLoopBaseline(lines)],
    [
      '(b) RxJS idiomatic: mergeMap(split) → groupBy → per-group scan → map',
      () => runRxGroupBy(lines, expected.words),
    ],
    [
      '(b) RxJS one scan: mergeMap(split) → scan holding a Map → map',
      () => runRxOneScan(lines, expected.words),
    ],
  ];
  const variants: VariantResult[] = [];
  for (const [name, run] of plan) {
    log(`running ${name}: 1 warm-up + ${options.reps} runs`);
    const result = measureVariant(name, run, options.reps, expected);
    log(`  median ${formatRate(result.summary.median)} words/s`);
    variants.push(result);
  }

  const base = (variants[0] as VariantResult).summary.median;
  const rows = variants.map((v) => {
    const f = formatRateRange(v.summary);
    return [v.name, f.median, f.range, formatRatio(v.summary.median, base), v.otherLoad.toFixed(2)];
  });
  const markdown = [
    `### Word count baselines, one thread`,
    '',
    `Input: ${(size / 1e6).toFixed(1)} MB generated (seed ${options.seed}), ${lines.length} lines, ` +
      `${expected.words} words, ${expected.distinct} distinct. ` +
      `1 warm-up + ${options.reps} runs each; every run checked against the reference count.`,
    '',
    markdownTable(['variant', 'words/s (median)', 'min..max', 'vs (a)', 'other load'], rows),
    '',
    '"other load": cores kept busy by the rest of the machine during the runs (median); ' +
      'about 0.00 on a quiet machine. Above about 0.2 the rates are understated.',
    '',
    formatMachine(),
  ].join('\n');
  return { variants, markdown };
}

function parseArgs(argv: readonly string[]): BaselinesOptions {
  const options: BaselinesOptions = { mb: 20, reps: 3, seed: DEFAULT_SEED };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = Number(argv[i + 1]);
    if (flag === '--mb' && value > 0) options.mb = value;
    else if (flag === '--reps' && Number.isInteger(value) && value > 0) options.reps = value;
    else if (flag === '--seed' && Number.isInteger(value)) options.seed = value;
    else {
      throw new Error(
        `bad argument ${JSON.stringify(flag)}; usage: baselines [--mb 20] [--reps 3] [--seed N]`,
      );
    }
  }
  return options;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const report = runBaselines(parseArgs(process.argv.slice(2)));
    console.log(report.markdown);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
