/**
 * What metrics cost: word count in process (engine-steady.ts,
 * apps/word-count-looped.ts: the corpus round and round, split, keyed
 * count, null sink) at each thread count, with metrics off (ROO_METRICS=off:
 * the actors run the code they ran before metrics existed; no collector)
 * and on (every step metered, latency markers, and the worker's collector
 * and reporter sending a report every 2 s to a listener in this process
 * that reads and discards them, as `roo worker --metrics ADDR` does).
 * Steady state of fresh processes: each child warms up, then its window
 * gives words/s. The two sides alternate, rep by rep and in both orders
 * (off then on, then on then off), so that load from the rest of a shared
 * machine falls on both alike; the figure is the ratio on/off, per pair and
 * of the medians. Target: on/off at least 0.95.
 *
 *   node dist/bench/metrics-overhead.js [--threads 1,2] [--reps 5] [--mb 20]
 *       [--warmup-seconds 3] [--seconds 6] [--paired] [--write-results]
 *
 * With --paired the off and on processes of a rep run at the same time
 * instead: on a machine shared with others, both then meet the same load
 * (and each other), and their ratio is the fairer comparison.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchChild, BenchFailure, rootDir, START_TIMEOUT_MS } from './bench-child.js';
import { DEFAULT_SEED, writeCorpusFile } from './corpus.js';
import { withSection } from './resilience-report.js';
import { idleProbe, loadAverage } from './run-load.js';
import { formatMachine, formatRate, markdownTable, median, summarize } from './stats.js';
import { parseSteadyLine, steadyChildArgv, type WindowLine } from './steady-protocol.js';
import type { Computation } from '../runtime/api/computations.js';
import { applyComputation } from '../runtime/engine/emitters.js';
import { clockCostNs, LatencyMeter } from '../runtime/engine/step-meter.js';
import type { ErrorReporter } from '../runtime/logging/error-reporter.js';

/** The target: metrics on keep at least this share of the throughput off. */
export const TARGET_RATIO = 0.95;

/** One measured child. */
interface Run {
  readonly threads: number;
  readonly rep: number;
  readonly metrics: 'off' | 'on';
  readonly window: WindowLine;
}

interface Options {
  threads: number[];
  reps: number;
  mb: number;
  warmupSeconds: number;
  seconds: number;
  writeResults: boolean;
  /** Run the off and on process of a pair at the same time (`--paired`), rather than one after the other. */
  paired: boolean;
}

function parse(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      threads: { type: 'string' },
      reps: { type: 'string' },
      mb: { type: 'string' },
      'warmup-seconds': { type: 'string' },
      seconds: { type: 'string' },
      'write-results': { type: 'boolean' },
      paired: { type: 'boolean' },
    },
  });
  const num = (s: string | undefined, d: number, what: string): number => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!(n > 0)) throw new Error(`--${what} must be a positive number, got '${s}'`);
    return n;
  };
  const threads = (v.threads ?? '1,2').split(',').map((t) => num(t, 1, 'threads'));
  return {
    threads,
    reps: Math.round(num(v.reps, 5, 'reps')),
    mb: num(v.mb, 20, 'mb'),
    warmupSeconds: num(v['warmup-seconds'], 3, 'warmup-seconds'),
    seconds: num(v.seconds, 6, 'seconds'),
    writeResults: v['write-results'] === true,
    paired: v.paired === true,
  };
}

/** A listener that reads and discards what workers send; counts bytes. */
async function discardingListener(): Promise<{
  address: string;
  bytes: () => number;
  close: () => void;
}> {
  let bytes = 0;
  const server = createServer((s) => s.on('data', (c: Buffer) => (bytes += c.length)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return { address: `127.0.0.1:${port}`, bytes: () => bytes, close: () => server.close() };
}

/** Runs one child to its window line. */
async function runChild(
  o: Options,
  corpusPath: string,
  threads: number,
  metrics: string | undefined,
): Promise<WindowLine> {
  const child = BenchChild.start(
    `engine ${threads} thread(s), metrics ${metrics === undefined ? 'off' : 'on'}`,
    join(rootDir(), 'dist', 'bench', 'engine-steady.js'),
    steadyChildArgv({
      corpusPath,
      subject: { kind: 'engine', threads },
      warmupSeconds: o.warmupSeconds,
      seconds: o.seconds,
      ...(metrics === undefined ? {} : { metrics }),
    }),
    [],
    metrics === undefined ? { ROO_METRICS: 'off' } : {},
  );
  let window: WindowLine | undefined;
  let error: string | undefined;
  child.onLine((text) => {
    const line = parseSteadyLine(text);
    if (line?.kind === 'window') window = line;
    if (line?.kind === 'error') error = line.message;
  });
  const limit = setTimeout(
    () => void child.stop(),
    START_TIMEOUT_MS + (o.warmupSeconds + o.seconds) * 1000 + 30_000,
  );
  await child.exited;
  clearTimeout(limit);
  if (window === undefined || error !== undefined)
    throw new BenchFailure(`${error ?? 'no figures'}\n${child.describe()}`);
  return window;
}

/**
 * What one metered step adds per message, in this process: a stateless
 * computation (`applyComputation`, the code every metered step shares:
 * a counter, a mask test, one message in up to 1,024 timed) against the
 * same without a meter, over 10,000 short words. The minimum over many
 * short interleaved rounds: the machine's other users can only add to a
 * round, so the minimum is the code's own cost.
 */
export function hotPathNs(rounds = 300): { off: number; on: number; mask: number } {
  const words = Array.from({ length: 10_000 }, (_, i) => `w${i % 777}`);
  const errors = { report: () => undefined } as unknown as ErrorReporter;
  let sink = 0;
  const next = (v: unknown) => {
    sink += (v as string).length;
  };
  const c: Computation<unknown, unknown> = { kind: 'computation', name: 'id', compute: (w) => w };
  const off = applyComputation(c, next, errors);
  const meter = new LatencyMeter(clockCostNs());
  const on = applyComputation(c, next, errors, meter);
  const round = (f: (v: unknown) => void): number => {
    const t0 = performance.now();
    for (let r = 0; r < 20; r++) for (let i = 0; i < words.length; i++) f(words[i]);
    return ((performance.now() - t0) * 1e6) / (20 * words.length);
  };
  let bestOff = Infinity;
  let bestOn = Infinity;
  for (let k = 0; k < rounds; k++) {
    bestOff = Math.min(bestOff, round(off));
    bestOn = Math.min(bestOn, round(on));
    // A reporting period now and then, as the collector takes one every 2 s.
    if (k % 50 === 49) meter.take();
  }
  if (sink === 0) throw new Error('nothing computed');
  return { off: bestOff, on: bestOn, mask: meter.mask };
}

/** The report's table: per thread count, off and on (median, min..max), the ratio of medians and the pairs' ratios. */
export function summaryRows(runs: readonly Run[], threads: readonly number[]): string[][] {
  return threads.map((t) => {
    const side = (m: 'off' | 'on') =>
      runs.filter((r) => r.threads === t && r.metrics === m).map((r) => r.window.rate);
    const off = side('off');
    const on = side('on');
    const pairs: number[] = [];
    for (const r of runs) {
      if (r.threads !== t || r.metrics !== 'on') continue;
      const o = runs.find((x) => x.threads === t && x.rep === r.rep && x.metrics === 'off');
      if (o !== undefined) pairs.push(r.window.rate / o.window.rate);
    }
    const fmt = (xs: number[]) => {
      if (xs.length === 0) return 'n/a';
      const s = summarize(xs);
      return `${formatRate(s.median)} (${formatRate(s.min)}..${formatRate(s.max)})`;
    };
    const ratio = off.length > 0 && on.length > 0 ? median(on) / median(off) : NaN;
    const p = pairs.length > 0 ? summarize(pairs) : undefined;
    // CPU per word is less at the mercy of other users' load than words/s.
    const cpu = (m: 'off' | 'on') =>
      runs.filter((r) => r.threads === t && r.metrics === m).map((r) => r.window.cpuNsPerWord);
    const cpuOff = cpu('off');
    const cpuOn = cpu('on');
    const slice = (m: 'off' | 'on') =>
      runs
        .filter((r) => r.threads === t && r.metrics === m && r.window.sliceRate90 !== undefined)
        .map((r) => r.window.sliceRate90 as number);
    const sliceOff = slice('off');
    const sliceOn = slice('on');
    return [
      String(t),
      fmt(off),
      fmt(on),
      Number.isNaN(ratio) ? 'n/a' : ratio.toFixed(3),
      p === undefined ? 'n/a' : `${p.median.toFixed(3)} (${p.min.toFixed(3)}..${p.max.toFixed(3)})`,
      cpuOff.length > 0 && cpuOn.length > 0
        ? `${median(cpuOff).toFixed(0)} / ${median(cpuOn).toFixed(0)}`
        : 'n/a',
      sliceOff.length > 0 && sliceOn.length > 0
        ? `${formatRate(median(sliceOff))} / ${formatRate(median(sliceOn))} = ${(median(sliceOn) / median(sliceOff)).toFixed(3)}`
        : 'n/a',
      Number.isNaN(ratio) ? 'n/a' : ratio >= TARGET_RATIO ? 'MET' : 'MISSED',
    ];
  });
}

async function main(argv: string[]): Promise<number> {
  const o = parse(argv);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'roo-metrics-bench-'));
  const listener = await discardingListener();
  try {
    const corpusPath = join(dir, 'corpus.txt');
    const corpus = writeCorpusFile(corpusPath, { bytes: o.mb * 1024 * 1024, seed: DEFAULT_SEED });
    const hot = hotPathNs();
    log(
      `one metered step: ${hot.off.toFixed(2)} ns a message without a meter, ${hot.on.toFixed(2)} with`,
    );
    const loadBefore = loadAverage();
    const idle = await idleProbe(2_000);
    log(`load average ${loadBefore}; others kept ${idle.toFixed(2)} cores busy while idle`);
    const runs: Run[] = [];
    const failures: string[] = [];
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const threads of o.threads) {
        // Both orders in turn: neither side always runs first after a pause.
        const order: ('off' | 'on')[] = rep % 2 === 1 ? ['off', 'on'] : ['on', 'off'];
        const one = async (metrics: 'off' | 'on'): Promise<void> => {
          try {
            const window = await runChild(
              o,
              corpusPath,
              threads,
              metrics === 'on' ? listener.address : undefined,
            );
            runs.push({ threads, rep, metrics, window });
            log(
              `rep ${rep}, ${threads} thread(s), metrics ${metrics}: ${formatRate(window.rate)} words/s ` +
                `(others ${window.otherLoad.toFixed(2)} cores)`,
            );
          } catch (err) {
            if (!(err instanceof BenchFailure)) throw err;
            failures.push(`rep ${rep}, ${threads} thread(s), metrics ${metrics}: ${err.message}`);
            log(failures.at(-1)!.split('\n')[0]!);
          }
        };
        // Paired: both at once, so that whatever the rest of the machine does falls on both.
        if (o.paired) await Promise.all(order.map(one));
        else for (const metrics of order) await one(metrics);
      }
    }
    const otherLoads = runs.map((r) => r.window.otherLoad);
    const command = `node dist/bench/metrics-overhead.js ${argv.join(' ')}`.trim();
    const report = [
      `## Metrics on and off, ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
      '',
      `\`${command}\``,
      '',
      formatMachine(),
      '',
      `**Load:** load average ${loadBefore} before the run; others kept ${idle.toFixed(2)} cores busy ` +
        `while it idled 2 s, and ${otherLoads.length > 0 ? summarize(otherLoads).median.toFixed(2) : 'n/a'} ` +
        `(median over the windows; ${otherLoads.length > 0 ? `${summarize(otherLoads).min.toFixed(2)}..${summarize(otherLoads).max.toFixed(2)}` : 'n/a'}) while it measured; load average ${loadAverage()} after.`,
      '',
      `Word count in process (bench/apps/word-count-looped.ts: ${(corpus.bytes / 1024 / 1024).toFixed(0)} MiB ` +
        `corpus round and round, split, keyed count, null sink), ${o.reps} fresh processes per side ` +
        `and thread count, ${o.warmupSeconds} s warm-up, ${o.seconds} s window, ` +
        (o.paired
          ? 'the two sides of each pair running at the same time (--paired: each has the cores the other and the rest of the machine leave it). '
          : 'the sides alternating rep by rep in both orders. ') +
        `Off: ROO_METRICS=off. On: metrics recorded and a report every 2 s ` +
        `to a listener in the bench process that discards it (${listener.bytes()} bytes of reports ` +
        `in all). Words/s median (min..max); target on/off ≥ ${TARGET_RATIO}. The last column: ` +
        `each process's words/s in its 90th-percentile 250 ms slice of the window (the pace of the ` +
        `slices the rest of the machine disturbed least), median over the processes, and its ratio.`,
      '',
      ...markdownTable(
        [
          'threads',
          'off words/s',
          'on words/s',
          'on/off (medians)',
          'on/off per pair',
          'CPU ns/word off / on',
          'p90 250 ms slice off / on',
          'target',
        ],
        summaryRows(runs, o.threads),
      ).split('\n'),
      '',
      `**One metered step, in the bench process** (hotPathNs: a stateless computation with and ` +
        `without its meter, minimum over 300 interleaved rounds of 200,000 messages): ` +
        `${hot.off.toFixed(2)} ns a message without, ${hot.on.toFixed(2)} ns with ` +
        `(+${(hot.on - hot.off).toFixed(2)} ns; the mask ended at ${hot.mask}: one message in ` +
        `${hot.mask + 1} timed). Word count meters about 1.2 steps a word (its source and split ` +
        `once a line of about 10 words, its count once a word; a null sink encodes nothing).`,
      ...(failures.length === 0
        ? []
        : ['', '**Failed processes:**', ...failures.map((f) => `- ${f.split('\n')[0]}`)]),
    ].join('\n');
    process.stdout.write(`${report}\n`);
    if (o.writeResults) {
      const path = join(rootDir(), 'bench', 'RESULTS.md');
      writeFileSync(path, withSection(readFileSync(path, 'utf8'), MARKERS, report));
      log(`wrote ${path}`);
    }
    return failures.length === 0 ? 0 : 1;
  } finally {
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Markers of this benchmark's block in RESULTS.md. */
const MARKERS = {
  begin: '<!-- metrics: written by node dist/bench/metrics-overhead.js --write-results -->',
  end: '<!-- metrics: end of the generated part -->',
};

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`metrics-overhead: ${err.message}\n`);
    process.exit(2);
  },
);
