/**
 * `roo bench`: every benchmark of roo in one run, on one generated corpus,
 * each against a baseline measured in the same run (STYLE.md habit 10).
 *
 *   (a) hand-written single-thread word count loop          bench/baseline-loop.ts
 *   (b) the same in RxJS, idiomatic and one-scan             bench/baseline-rx.ts
 *   (c) the roo engine in this process, 1 and 2 threads      bench/engine-inprocess.ts
 *   (d) roo send → roo worker → receiver, against a
 *       hand-written TCP word count process                  bench/engine-tcp.ts
 *   latency: p50/p99/p99.99 at half of (d)'s maximum rate   bench/latency.ts
 *   memory: worker RSS when the sink is 10× slower           bench/memory.ts
 *
 * It prints the machine, Node version, flags, a load probe and markdown
 * tables, marks each target MET or MISSED (targets are reported, never
 * enforced), and with `--write-results` rewrites bench/RESULTS.md. See
 * bench/README.md for what each part measures and how.
 *
 *   node bin/roo bench [--mb 20] [--reps 3] [--only a,b,c,d,latency,memory]
 *                      [--quick] [--write-results] ...
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runLoopBaseline } from './baseline-loop.js';
import { runRxGroupBy, runRxOneScan } from './baseline-rx.js';
import { expectationOf, measureVariant, type VariantResult } from './baselines.js';
import { countWords, DEFAULT_SEED, writeCorpusFile } from './corpus.js';
import { runEngineSeries, type EngineSeries } from './engine-inprocess.js';
import { rootDir } from './bench-child.js';
import { emptyTcpResult, runTcpComparison } from './engine-tcp.js';
import { runLatency, type LatencyResult } from './latency.js';
import { runMemory, type MemoryResult } from './memory.js';
import { renderReport, resultsFile } from './report.js';
import { formatMachine, formatRate, LoadProbe } from './stats.js';
import { medianOf } from './targets.js';

// ---------------------------------------------------------------------------
// Flags.

/** The parts of a run, in the order they run. */
export const PARTS = ['a', 'b', 'c', 'd', 'latency', 'memory'] as const;
/** One part. */
export type Part = (typeof PARTS)[number];

/** Everything a run needs to know. */
export interface BenchOptions {
  /** Corpus size, MiB. */
  mb: number;
  /** Measured repetitions of (a)..(d), each after one warm-up. */
  reps: number;
  /** Parts to run. */
  only: ReadonlySet<Part>;
  /** Small sizes, for a smoke test. */
  quick: boolean;
  /** Rewrite bench/RESULTS.md. */
  writeResults: boolean;
  /** Corpus seed. */
  seed: number;
  /** Messages/s of the latency part; undefined: half of (d)'s maximum. */
  latencyRate: number | undefined;
  /** Seconds the latency part records (after its warm-up). */
  latencySeconds: number;
  /** Seconds the memory part runs. */
  memorySeconds: number;
}

/** Sizes of a full run. */
export const FULL_DEFAULTS = { mb: 20, reps: 3, latencySeconds: 10, memorySeconds: 20 } as const;
/** Sizes of `--quick`. */
export const QUICK_DEFAULTS = { mb: 2, reps: 1, latencySeconds: 2, memorySeconds: 4 } as const;

/** The usage text of `roo bench`. */
export const BENCH_USAGE = `usage: roo bench [flags]

Runs roo's benchmarks on one generated corpus, each against a baseline
measured in the same run, and prints markdown tables with MET / MISSED
against the targets. Run from the compiled tree (npx tsc -p tsconfig.build.json).

  --mb N               corpus size in MiB (default ${FULL_DEFAULTS.mb}; --quick: ${QUICK_DEFAULTS.mb})
  --reps N             measured repetitions of (a)-(d) after one warm-up (default ${FULL_DEFAULTS.reps}; --quick: ${QUICK_DEFAULTS.reps})
  --only LIST          parts to run, comma separated: ${PARTS.join(',')} (default: all)
                         a        hand-written loop        b  RxJS
                         c        roo engine in process, 1 and 2 threads (runs (a) too, as its baseline)
                         d        roo send → roo worker → receiver, against a hand-written TCP word count
                         latency  p50/p99/p99.99 at half of (d)'s maximum rate
                         memory   worker RSS with a sink 10× slower than the sender
  --quick              small sizes for a smoke test (a few seconds per part)
  --write-results      rewrite bench/RESULTS.md with the figures and the command
  --seed N             corpus seed (default ${DEFAULT_SEED})
  --latency-rate N     messages/s for the latency part (default: half of (d)'s roo rate)
  --latency-seconds N  seconds the latency part records (default ${FULL_DEFAULTS.latencySeconds}; --quick: ${QUICK_DEFAULTS.latencySeconds})
  --memory-seconds N   seconds the memory part runs (default ${FULL_DEFAULTS.memorySeconds}; --quick: ${QUICK_DEFAULTS.memorySeconds})
  -h, --help           this text

Exit code: 0 when every part ran (whatever the targets), 1 when a part
failed, 2 for a bad command line.
`;

/** A bad command line. */
export class BenchUsageError extends Error {}

function positive(flag: string, text: string, integer: boolean): number {
  const value = Number(text.replaceAll('_', ''));
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new BenchUsageError(
      `--${flag}: expected a positive ${integer ? 'integer' : 'number'}, got '${text}'`,
    );
  }
  return value;
}

/** Parses `roo bench` flags, or 'help'. Throws BenchUsageError. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        mb: { type: 'string' },
        reps: { type: 'string' },
        only: { type: 'string' },
        quick: { type: 'boolean' },
        'write-results': { type: 'boolean' },
        seed: { type: 'string' },
        'latency-rate': { type: 'string' },
        'latency-seconds': { type: 'string' },
        'memory-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new BenchUsageError((err as Error).message.split(/\.\s/)[0] ?? 'bad flags');
  }
  if (v.help === true) return 'help';
  const quick = v.quick === true;
  const sizes = quick ? QUICK_DEFAULTS : FULL_DEFAULTS;
  let only: Set<Part> = new Set(PARTS);
  if (v.only !== undefined) {
    only = new Set();
    for (const name of v.only.split(',').map((s) => s.trim())) {
      if (!(PARTS as readonly string[]).includes(name)) {
        throw new BenchUsageError(`--only: unknown part '${name}' (parts: ${PARTS.join(', ')})`);
      }
      only.add(name as Part);
    }
  }
  let seed = DEFAULT_SEED;
  if (v.seed !== undefined) {
    seed = Number(v.seed);
    if (!Number.isSafeInteger(seed)) throw new BenchUsageError(`--seed: expected an integer`);
  }
  return {
    mb: v.mb === undefined ? sizes.mb : positive('mb', v.mb, false),
    reps: v.reps === undefined ? sizes.reps : positive('reps', v.reps, true),
    only,
    quick,
    writeResults: v['write-results'] === true,
    seed,
    latencyRate:
      v['latency-rate'] === undefined
        ? undefined
        : positive('latency-rate', v['latency-rate'], false),
    latencySeconds:
      v['latency-seconds'] === undefined
        ? sizes.latencySeconds
        : positive('latency-seconds', v['latency-seconds'], false),
    memorySeconds:
      v['memory-seconds'] === undefined
        ? sizes.memorySeconds
        : positive('memory-seconds', v['memory-seconds'], false),
  };
}

/** The flags as one line, for the report. */
export function describeOptions(o: BenchOptions): string {
  const parts = PARTS.filter((p) => o.only.has(p)).join(',');
  return (
    `--mb ${o.mb} --reps ${o.reps} --only ${parts}${o.quick ? ' --quick' : ''} --seed ${o.seed} ` +
    `--latency-rate ${o.latencyRate ?? 'auto'} --latency-seconds ${o.latencySeconds} ` +
    `--memory-seconds ${o.memorySeconds}`
  );
}

// ---------------------------------------------------------------------------
// Load probe.

/** What the rest of the machine did during one part. */
export interface PartLoad {
  /** Part label. */
  part: string;
  /** Wall seconds. */
  seconds: number;
  /** Cores this process kept busy. */
  ownCpu: number;
  /** Cores the part's child processes kept busy. */
  childCpu: number;
  /** Cores everything else kept busy: other users of a shared machine. */
  otherLoad: number;
}

/** CPU ms of this process's exited children (/proc/self/stat cutime + cstime). */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields from 3 (state) on; cutime and cstime are fields 16 and 17, in USER_HZ (100) ticks.
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return 0;
  }
}

/**
 * LoadProbe plus the CPU of the part's own child processes (all stopped,
 * hence reaped and counted, by the end of the part), so that their work is
 * not mistaken for other users' load.
 */
class PartProbe {
  private readonly probe = new LoadProbe();
  private children0 = 0;

  constructor(private readonly part: string) {
    this.children0 = childrenCpuMs();
    this.probe.start();
  }

  stop(): PartLoad {
    const s = this.probe.stop();
    const childCpu = (childrenCpuMs() - this.children0) / s.wallMs;
    return {
      part: this.part,
      seconds: s.wallMs / 1000,
      ownCpu: s.ownCpu,
      childCpu,
      otherLoad: Math.max(0, s.otherLoad - childCpu),
    };
  }
}

/** Cores kept busy by others over `ms` while this process sleeps. */
async function idleProbe(ms: number): Promise<number> {
  const probe = new LoadProbe();
  probe.start();
  await new Promise((r) => setTimeout(r, ms));
  return probe.stop().otherLoad;
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

// ---------------------------------------------------------------------------
// Results.

/** The corpus a run used. */
export interface CorpusInfo {
  bytes: number;
  lines: number;
  words: number;
  distinct: number;
}

/** Rates of a series of runs. */
export interface RateSeries {
  /** Label. */
  name: string;
  /** Words/s per measured run. */
  rates: number[];
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
  /** (a) before and after the engine runs (after: only when (c) ran). */
  loopBefore: VariantResult | undefined;
  loopAfter: VariantResult | undefined;
  /** (b). */
  rx: VariantResult[];
  /** (c), per thread count. */
  engine: EngineSeries[];
  /** (d). */
  tcpRoo: RateSeries | undefined;
  tcpBaseline: RateSeries | undefined;
  /** Where the latency and memory rate came from. */
  rateSource: string | undefined;
  /** How the latency part's rate was chosen. */
  latencyRateSource: string | undefined;
  /** Latency at the target rate, and at a tenth of it for context. */
  latency: LatencyResult | undefined;
  latencyLow: LatencyResult | undefined;
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
    code: describeCode(),
    corpus: undefined,
    idleOtherLoad: 0,
    loadAverageStart: loadAverage(),
    loadAverageEnd: '',
    loads: [],
    loopBefore: undefined,
    loopAfter: undefined,
    rx: [],
    engine: [],
    tcpRoo: undefined,
    tcpBaseline: undefined,
    rateSource: undefined,
    latencyRateSource: undefined,
    latency: undefined,
    latencyLow: undefined,
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
    const loop = (): VariantResult =>
      measureVariant('(a) hand-written loop', () => runLoopBaseline(lines), options.reps, expected);
    const has = (p: Part): boolean => options.only.has(p);

    if (has('b')) {
      await part('b', () => {
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
      await part('a', () => {
        r.loopBefore = loop();
      });
    }
    if (has('c')) {
      await part('c', async () => {
        r.engine = await runEngineSeries({
          corpusPath,
          totalWords: expected.words,
          reps: options.reps,
          threadCounts: [1, 2],
          log,
        });
      });
      await part('a (after)', () => {
        r.loopAfter = loop();
      });
    }
    let maxRate: number | undefined;
    if (has('d')) {
      // Filled run by run: if a run fails, the runs before it are still reported.
      const d = emptyTcpResult();
      r.tcpRoo = { name: '(d) roo send → roo worker (--ponythreads 2) → receiver', rates: d.roo };
      r.tcpBaseline = {
        name: '(d) roo send → hand-written TCP word count → receiver',
        rates: d.baseline,
      };
      await part('d', async () => {
        await runTcpComparison(
          {
            corpusPath,
            totalWords: expected.words,
            reps: options.reps,
            threads: 2,
            withBaseline: true,
            log,
          },
          d,
        );
        if (d.failures.length > 0) {
          throw new Error(
            `${d.failures.length} run(s) failed (each on a fresh process, the runs went on):\n` +
              d.failures.join('\n'),
          );
        }
      });
      maxRate = medianOf(d.roo);
    }
    if (has('latency') || has('memory')) {
      if (options.latencyRate !== undefined) {
        r.rateSource = `rate from --latency-rate ${options.latencyRate}`;
      } else if (maxRate === undefined) {
        await part('d (max rate only)', async () => {
          const d = await runTcpComparison({
            corpusPath,
            totalWords: expected.words,
            reps: 1,
            threads: 2,
            withBaseline: false,
            log,
          });
          maxRate = medianOf(d.roo);
          if (d.failures.length > 0) throw new Error(d.failures.join('\n'));
        });
      }
      const rate = options.latencyRate ?? (maxRate === undefined ? undefined : maxRate / 2);
      if (rate === undefined) {
        r.failures.push({
          part: 'latency/memory',
          message: 'no maximum rate: (d) failed and no --latency-rate given',
        });
      } else {
        if (options.latencyRate === undefined && maxRate !== undefined) {
          r.rateSource = `half of (d)'s ${formatRate(maxRate)} words/s = ${formatRate(rate)}/s`;
        }
        // The latency app takes one word per frame; (d)'s frames are lines of
        // ~10 words. Its comparable maximum is (d)'s frame (line) rate, so
        // "half of the maximum" is half of that, not half of (d)'s words/s.
        const wordsPerLine = expected.words / Math.max(1, lines.length);
        const latencyRate = options.latencyRate ?? rate / wordsPerLine;
        if (options.latencyRate === undefined) {
          r.latencyRateSource = `half of (d)'s frame rate: ${formatRate(rate)} words/s ÷ ${wordsPerLine.toFixed(1)} words per frame = ${formatRate(latencyRate)} frames/s`;
        }
        if (has('latency')) {
          await part('latency', async () => {
            r.latency = await runLatency({
              lines,
              rate: latencyRate,
              warmupSeconds: options.quick ? 1 : 2,
              seconds: options.latencySeconds,
              threads: 2,
              log,
            });
          });
          await part('latency (tenth)', async () => {
            r.latencyLow = await runLatency({
              lines,
              rate: latencyRate / 10,
              warmupSeconds: 1,
              seconds: Math.max(1, options.latencySeconds / 2),
              threads: 2,
              log,
            });
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
