/**
 * `roo bench`: every benchmark of roo in one run, on one generated corpus,
 * each against a baseline measured in the same run.
 *
 *   (a) hand-written single-thread word count loop,
 *       steady state in fresh processes                      bench/engine-steady.ts --loop
 *   (b) the same in RxJS, idiomatic and one-scan             bench/baseline-rx.ts
 *   (c) the roo engine in process, by thread count,
 *       steady state in fresh processes                      bench/engine-steady.ts, steady-series.ts
 *   (d) roo send → roo worker → receiver by thread count,
 *       against a hand-written TCP word count                bench/engine-tcp.ts
 *   latency: p50/p99/p99.99 at half and a tenth of (d)'s
 *       2-thread rate, roo by thread count against a
 *       hand-written one-thread server                      bench/latency-series.ts
 *   memory: worker RSS when the sink is 10× slower           bench/memory.ts
 *
 * It prints the machine, Node version, flags, a load probe and markdown
 * tables, marks each target MET or MISSED (targets are reported, never
 * enforced), and with `--write-results` rewrites bench/RESULTS.md. See
 * bench/README.md for what each part measures and how. The flags are in
 * run-options.ts, the load probes in run-load.ts, the report in report.ts
 * and report-throughput.ts.
 *
 *   node bin/roo bench [--mb 20] [--reps 3] [--threads 1,2,4] [--only a,b,c,d,latency,memory]
 *                      [--quick] [--profile DIR] [--write-results] ...
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runLoopBaseline } from './baseline-loop.js';
import { runRxGroupBy, runRxOneScan } from './baseline-rx.js';
import { expectationOf, measureVariant, type VariantResult } from './baselines.js';
import { countWords, writeCorpusFile } from './corpus.js';
import { rootDir } from './bench-child.js';
import { runTcpSweep } from './engine-tcp.js';
import { runLatencySeries } from './latency-series.js';
import type { LatencyFailure, LatencyRun } from './latency-summary.js';
import { runMemory, type MemoryResult } from './memory.js';
import { renderReport, resultsFile } from './report.js';
import { idleProbe, loadAverage, PartProbe, type PartLoad } from './run-load.js';
import { BENCH_USAGE, parseBenchArgs, type BenchOptions, type Part } from './run-options.js';
import { formatMachine, formatMachineLine, formatRate } from './stats.js';
import { runSteadySeries } from './steady-series.js';
import { summarizeSweep, type ProcessFailure, type ProcessRun } from './sweep.js';

// ---------------------------------------------------------------------------
// Results.

/** The corpus a run used. */
export interface CorpusInfo {
  bytes: number;
  lines: number;
  words: number;
  distinct: number;
}

/** Everything a run measured; undefined for parts not run (or failed). */
export interface BenchResults {
  options: BenchOptions;
  /** The command as typed. */
  command: string;
  /** ISO time the run started. */
  startedAt: string;
  /** Markdown lines naming the machine and Node (stats.formatMachine). */
  machine: string;
  /** The same in one short line, printed under each throughput table. */
  machineLine: string;
  /** os.availableParallelism(): the thread sweep judges the counts above it. */
  cores: number;
  /** The commit and how far the working tree differed from it. */
  code: string;
  corpus: CorpusInfo | undefined;
  /** Cores others kept busy during a 1 s idle probe before the run. */
  idleOtherLoad: number;
  /** /proc/loadavg (1, 5, 15 min) at the start and end. */
  loadAverageStart: string;
  loadAverageEnd: string;
  /** Per part. */
  loads: PartLoad[];
  /** (b): the loop measured in this process like (b), the baseline of (b)'s ratios. */
  rxLoop: VariantResult | undefined;
  /** (b). */
  rx: VariantResult[];
  /** (a), (c) and (d): one entry per measured process. */
  runs: ProcessRun[];
  /** Processes of (a), (c) and (d) that gave no figures. */
  processFailures: ProcessFailure[];
  /** Where the latency and memory rate came from. */
  rateSource: string | undefined;
  /** How the latency part's rate was chosen. */
  latencyRateSource: string | undefined;
  /** The latency part's runs at both rates (the hand-written floor and roo by thread count). */
  latencyRuns: LatencyRun[];
  /** Its runs that gave no figures. */
  latencyFailures: LatencyFailure[];
  memory: MemoryResult | undefined;
  /** Parts that failed, with why. */
  failures: { part: string; message: string }[];
  /** Wall seconds of the whole run. */
  seconds: number;
}

// ---------------------------------------------------------------------------
// The run.

/**
 * The commit the run's code came from, and how many files of the engine's
 * folders differed from it: other engineers work in the same tree, and dist/
 * is compiled from it.
 */
function describeCode(): string {
  try {
    const git = (args: string[]): string =>
      execFileSync('git', args, {
        cwd: rootDir(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const head = git(['rev-parse', '--short', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', 'runtime', 'actors', 'protocols', 'examples'])
      .split('\n')
      .filter((l) => l.length > 0).length;
    return `commit ${head}; ${dirty === 0 ? 'runtime/, actors/, protocols/, examples/ as committed' : `${dirty} files under runtime/, actors/, protocols/, examples/ differed from it`}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** Makes `gc()` available so repeated runs start from a collected heap (baselines.ts uses it). */
function exposeGc(): void {
  const g = globalThis as { gc?: () => void };
  if (g.gc !== undefined) return;
  try {
    setFlagsFromString('--expose-gc');
    g.gc = runInNewContext('gc') as () => void;
  } catch {
    // Without it, runs just start from whatever heap the last one left.
  }
}

/** Throws the failures of a part's processes (or runs) as one error, so the part is marked failed. */
function throwFailures(failures: readonly { message: string }[], what = 'process(es)'): void {
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} ${what} failed (the others were measured):\n` +
        failures.map((f) => f.message).join('\n'),
    );
  }
}

/** Runs the selected parts; never throws for a part's failure (it is recorded). */
export async function runAll(
  options: BenchOptions,
  command: string,
  log: (line: string) => void,
): Promise<BenchResults> {
  const t0 = performance.now();
  const r: BenchResults = {
    options,
    command,
    startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: formatMachine(),
    machineLine: formatMachineLine(),
    cores: availableParallelism(),
    code: describeCode(),
    corpus: undefined,
    idleOtherLoad: 0,
    loadAverageStart: loadAverage(),
    loadAverageEnd: '',
    loads: [],
    rxLoop: undefined,
    rx: [],
    runs: [],
    processFailures: [],
    rateSource: undefined,
    latencyRateSource: undefined,
    latencyRuns: [],
    latencyFailures: [],
    memory: undefined,
    failures: [],
    seconds: 0,
  };
  exposeGc();
  r.idleOtherLoad = await idleProbe(1000);
  log(
    `load probe: others kept ${r.idleOtherLoad.toFixed(2)} cores busy; load average ${r.loadAverageStart}`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'roo-bench-'));
  const corpusPath = join(dir, 'corpus.txt');
  try {
    log(`generating a ${options.mb} MiB corpus (seed ${options.seed}) in ${corpusPath}...`);
    const file = writeCorpusFile(corpusPath, {
      bytes: Math.round(options.mb * 1024 * 1024),
      seed: options.seed,
    });
    const lines = file.lines;
    const expected = expectationOf(countWords(lines));
    r.corpus = {
      bytes: file.bytes,
      lines: lines.length,
      words: expected.words,
      distinct: expected.distinct,
    };
    log(
      `corpus: ${file.bytes} bytes, ${lines.length} lines, ${expected.words} words, ${expected.distinct} distinct`,
    );

    const part = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
      log(`part ${name}`);
      const probe = new PartProbe(name);
      try {
        await fn();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`part ${name} FAILED: ${message}`);
        r.failures.push({ part: name, message });
      } finally {
        r.loads.push(probe.stop());
      }
    };
    const has = (p: Part): boolean => options.only.has(p);
    const windows = {
      corpusPath,
      threads: options.threads,
      reps: options.reps,
      warmupSeconds: options.warmupSeconds,
      seconds: options.seconds,
      profileDir: options.profile,
      log,
    };

    if (has('b')) {
      await part('b', () => {
        // (b) runs whole passes in this process; its baseline is the loop measured the same way.
        r.rxLoop = measureVariant(
          '(a) hand-written loop, in this process like (b)',
          () => runLoopBaseline(lines),
          options.reps,
          expected,
        );
        r.rx.push(
          measureVariant(
            '(b) RxJS idiomatic: groupBy → per-group scan',
            () => runRxGroupBy(lines, expected.words),
            options.reps,
            expected,
          ),
        );
        r.rx.push(
          measureVariant(
            '(b) RxJS one scan holding a Map',
            () => runRxOneScan(lines, expected.words),
            options.reps,
            expected,
          ),
        );
      });
    }
    if (has('a') || has('c')) {
      await part(has('a') && has('c') ? 'a,c' : has('a') ? 'a' : 'c', async () => {
        // Filled process by process: a failed process keeps the others' figures.
        const steady = { runs: r.runs, failures: r.processFailures };
        const before = steady.failures.length;
        await runSteadySeries({ ...windows, loop: true, engine: has('c') }, steady);
        throwFailures(steady.failures.slice(before));
      });
    }
    if (has('d')) {
      await part('d', async () => {
        const tcp = { runs: r.runs, failures: r.processFailures };
        const before = tcp.failures.length;
        await runTcpSweep({ ...windows, withBaseline: true }, tcp);
        throwFailures(tcp.failures.slice(before));
      });
    }
    // The latency and memory parts run at half of (d)'s 2-thread rate.
    const twoThreads = (runs: readonly ProcessRun[]): number | undefined =>
      summarizeSweep(runs, 'tcp-roo').find((x) => x.threads === 2)?.rate.median;
    let maxRate = twoThreads(r.runs);
    if (has('latency') || has('memory')) {
      if (options.latencyRate !== undefined) {
        r.rateSource = `rate from --latency-rate ${options.latencyRate}`;
      } else if (maxRate === undefined) {
        await part('d (2-thread rate only)', async () => {
          const d = await runTcpSweep({
            ...windows,
            threads: [2],
            reps: 1,
            withBaseline: false,
            profileDir: undefined,
          });
          maxRate = twoThreads(d.runs);
          throwFailures(d.failures);
        });
      }
      const rate = options.latencyRate ?? (maxRate === undefined ? undefined : maxRate / 2);
      if (rate === undefined) {
        r.failures.push({
          part: 'latency/memory',
          message: 'no maximum rate: (d) at 2 threads failed and no --latency-rate given',
        });
      } else {
        if (options.latencyRate === undefined && maxRate !== undefined) {
          r.rateSource = `half of (d)'s 2-thread ${formatRate(maxRate)} words/s = ${formatRate(rate)}/s`;
        }
        // The latency app takes one word per frame; (d)'s frames are lines of
        // ~10 words. Its comparable maximum is (d)'s frame (line) rate, so
        // "half of the maximum" is half of that, not half of (d)'s words/s.
        const wordsPerLine = expected.words / Math.max(1, lines.length);
        const latencyRate = options.latencyRate ?? rate / wordsPerLine;
        if (options.latencyRate === undefined) {
          r.latencyRateSource = `half of (d)'s 2-thread frame rate: ${formatRate(rate)} words/s ÷ ${wordsPerLine.toFixed(1)} words per frame = ${formatRate(latencyRate)} frames/s`;
        }
        if (has('latency')) {
          const latency = { runs: r.latencyRuns, failures: r.latencyFailures };
          const series = {
            lines,
            threads: options.latencyThreads,
            reps: options.latencyReps,
            traceDir: options.trace ? join(dir, 'latency-traces') : undefined,
            log,
          };
          await part('latency', async () => {
            const before = latency.failures.length;
            await runLatencySeries(
              {
                ...series,
                level: 'half',
                rate: latencyRate,
                warmupSeconds: options.quick ? 1 : 2,
                seconds: options.latencySeconds,
              },
              latency,
            );
            throwFailures(latency.failures.slice(before), 'run(s)');
          });
          await part('latency (tenth)', async () => {
            const before = latency.failures.length;
            await runLatencySeries(
              {
                ...series,
                level: 'tenth',
                rate: latencyRate / 10,
                warmupSeconds: 1,
                seconds: Math.max(1, options.latencySeconds / 2),
              },
              latency,
            );
            throwFailures(latency.failures.slice(before), 'run(s)');
          });
        }
        if (has('memory')) {
          await part('memory', async () => {
            r.memory = await runMemory({
              corpusPath,
              wordsPerLine: expected.words / lines.length,
              rate,
              seconds: options.memorySeconds,
              threads: 2,
              log,
            });
          });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  r.loadAverageEnd = loadAverage();
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

/** The command line as typed, with the script relative to the package root. */
function commandLine(argv: readonly string[]): string {
  const script = process.argv[1];
  if (script === undefined) return `roo bench ${argv.join(' ')}`.trim();
  let root: string;
  try {
    root = rootDir();
  } catch {
    return `node ${script} ${argv.join(' ')}`.trim();
  }
  const viaRoo = script.endsWith(join('bin', 'roo'));
  return ['node', relative(root, script), ...(viaRoo ? ['bench'] : []), ...argv].join(' ');
}

/** `roo bench [flags]`: resolves to the exit code (0 ran, 1 a part failed, 2 bad flags). */
export async function runBench(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseBenchArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(BENCH_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`roo bench: ${(err as Error).message} (see 'roo bench --help')\n`);
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const results = await runAll(options, commandLine(argv), log);
  const report = renderReport(results);
  process.stdout.write(`${report}\n`);
  if (options.writeResults) {
    const path = join(rootDir(), 'bench', 'RESULTS.md');
    let previous: string | undefined;
    try {
      previous = readFileSync(path, 'utf8');
    } catch {
      previous = undefined;
    }
    writeFileSync(path, resultsFile(report, previous));
    log(`wrote ${path}`);
  }
  return results.failures.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBench(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `roo bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
