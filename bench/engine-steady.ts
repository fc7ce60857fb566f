/**
 * One fresh process of `roo bench` parts (a) and (c): a word count run until
 * it is in a steady state, then measured over a window.
 *
 *   node dist/bench/engine-steady.js --corpus PATH --threads N --warmup-seconds W --seconds S
 *   node dist/bench/engine-steady.js --corpus PATH --loop     --warmup-seconds W --seconds S
 *   ... --threads N ... --metrics HOST:PORT   (the engine reports its metrics there every 2 s)
 *
 * With `--threads N` it starts an Engine in this process with
 * apps/word-count-looped.ts (the corpus round and round, never ending) at N
 * scheduler threads; with `--loop`, the hand-written loop of
 * baseline-loop.ts goes round the corpus the same way. Either runs for the
 * warm-up (JIT, heap sizing and the key set settle), then for the window;
 * the figures are taken at the window's two edges: outputs that reached the
 * sink (engine.stats().encoded, or the loop's counting sink), CPU of the
 * whole process (process.cpuUsage: every thread), each scheduler thread's
 * event loop utilization, and the cores the rest of the machine kept busy.
 *
 * A fresh process per measurement is the point: a process that falls into a
 * slow state stays slow, and starting threads anew within one process
 * measures warm-up rather than throughput. What it prints is
 * steady-protocol.ts; it exits 0 once the window line is out, 1 on failure.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { parseAddress } from '../protocols/index.js';
import { MetricsReporter } from '../runtime/metrics/reporter.js';
import { WorkerCollector } from '../runtime/metrics/worker-collector.js';
import { countLineRange, LoopCounter } from './baseline-loop.js';
import { BenchEngine } from './resilience-engine.js';
import { LoadProbe } from './stats.js';
import {
  formatSteadyLine,
  parseSteadyChildArgv,
  windowUtilization,
  type SteadyChildArgs,
  type SteadyLine,
} from './steady-protocol.js';

/** How often the engine is asked for its counters between the window's edges (a dead thread, errors). */
const CHECK_EVERY_MS = 250;
/** How long stopping the engine may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 5_000;
/** Lines the loop counts between two looks at the clock (about a millisecond of work). */
const LOOP_SLICE_LINES = 1_000;

function say(line: SteadyLine): void {
  process.stdout.write(`${formatSteadyLine(line)}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The corpus as the looped application reads it: one string per line. */
function readLines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}

/** One reading of the engine: when (the middle of the stats call), outputs, per-thread utilization. */
interface Reading {
  ms: number;
  encoded: number;
  utilization: number[];
}

async function read(engine: BenchEngine): Promise<Reading> {
  const before = performance.now();
  const s = await engine.stats();
  const after = performance.now();
  return {
    ms: (before + after) / 2,
    encoded: s.encoded,
    utilization: s.threads.map((t) => t.loop.utilization),
  };
}

/** Waits until `untilMs`, reading the counters now and then so that a dead thread fails the run. */
async function runUntil(
  engine: BenchEngine,
  untilMs: number,
  /** Collects each slice's words/s between two readings (the window's slices). */
  slices?: number[],
): Promise<void> {
  let last = slices === undefined ? undefined : await read(engine);
  for (;;) {
    const left = untilMs - performance.now();
    if (left <= 0) return;
    await sleep(Math.min(left, CHECK_EVERY_MS));
    if (last === undefined || slices === undefined) {
      await engine.stats();
      continue;
    }
    const r = await read(engine);
    if (r.ms > last.ms) slices.push((r.encoded - last.encoded) / ((r.ms - last.ms) / 1000));
    last = r;
  }
}

/** The `q`-quantile (0..1) of `values` (nearest rank); NaN for none. */
function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  ] as number;
}

/** Starts reporting `engine`'s metrics to `address` every period, as a worker with --metrics does. */
function startMetrics(engine: BenchEngine, address: string): WorkerCollector {
  const log = pino({ level: 'warn' });
  const holder: { collector?: WorkerCollector } = {};
  const reporter = new MetricsReporter({
    address: parseAddress(address),
    log,
    hello: () => (holder.collector as WorkerCollector).hello(),
  });
  const collector = new WorkerCollector({
    worker: 'bench',
    engine: () => engine.engine,
    log,
    reporter,
  });
  holder.collector = collector;
  collector.start();
  return collector;
}

/** The engine at `threads` threads: start, warm-up, window. */
async function measureEngine(a: SteadyChildArgs, threads: number): Promise<void> {
  // Engine info lines would drown the protocol; warnings still show in a failure's tail.
  process.env['ROO_LOG_LEVEL'] = 'warn';
  const origin = performance.now();
  const engine = await BenchEngine.start({
    app: 'word-count-looped',
    appArgs: [a.corpusPath],
    threads,
    intervalMs: undefined,
    parent: tmpdir(),
  });
  // With --metrics: the worker's collector and reporter, as `roo worker --metrics ADDR` runs them.
  const metrics = a.metrics === undefined ? undefined : startMetrics(engine, a.metrics);
  try {
    const ready = performance.now();
    const startSeconds = (ready - origin) / 1000;
    say({ kind: 'start', threads, startSeconds });
    await runUntil(engine, ready + a.warmupSeconds * 1000);
    const probe = new LoadProbe();
    const r0 = await read(engine);
    const cpu0 = process.cpuUsage();
    probe.start();
    const warmupRate = r0.encoded / ((r0.ms - ready) / 1000);
    say({ kind: 'warmup', seconds: (r0.ms - ready) / 1000, rate: warmupRate });
    const slices: number[] = [];
    await runUntil(engine, r0.ms + a.seconds * 1000, slices);
    const r1 = await read(engine);
    const cpu = process.cpuUsage(cpu0);
    const load = probe.stop();
    const words = r1.encoded - r0.encoded;
    const seconds = (r1.ms - r0.ms) / 1000;
    say({
      kind: 'window',
      threads,
      startSeconds,
      warmupRate,
      rate: words / seconds,
      words,
      seconds,
      cpuNsPerWord: ((cpu.user + cpu.system) * 1000) / Math.max(1, words),
      utilization: r1.utilization.map((u, i) =>
        windowUtilization(
          origin,
          { ms: r0.ms, utilization: r0.utilization[i] ?? 0 },
          { ms: r1.ms, utilization: u },
        ),
      ),
      otherLoad: load.otherLoad,
      ...(slices.length === 0 ? {} : { sliceRate90: quantile(slices, 0.9) }),
    });
  } finally {
    await metrics?.stop().catch(() => undefined);
    // A normal stop: every scheduler thread ends and, under --cpu-prof, writes its profile.
    await Promise.race([engine.stop(), sleep(STOP_TIMEOUT_MS)]);
    engine.remove();
  }
}

/** The hand-written loop: the same corpus round and round, one thread. */
function measureLoop(a: SteadyChildArgs): void {
  const origin = performance.now();
  const lines = readLines(a.corpusPath);
  const n = lines.length;
  if (n === 0) throw new Error('the corpus is empty');
  const ready = performance.now();
  const startSeconds = (ready - origin) / 1000;
  say({ kind: 'start', threads: 1, startSeconds });
  const counter = new LoopCounter();
  let cursor = 0;
  const runUntilMs = (untilMs: number): void => {
    while (performance.now() < untilMs) {
      const to = Math.min(n, cursor + LOOP_SLICE_LINES);
      countLineRange(lines, cursor, to, counter);
      cursor = to === n ? 0 : to;
    }
  };
  runUntilMs(ready + a.warmupSeconds * 1000);
  const probe = new LoadProbe();
  const t0 = performance.now();
  const words0 = counter.words;
  const cpu0 = process.cpuUsage();
  probe.start();
  const warmupRate = words0 / ((t0 - ready) / 1000);
  say({ kind: 'warmup', seconds: (t0 - ready) / 1000, rate: warmupRate });
  runUntilMs(t0 + a.seconds * 1000);
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const load = probe.stop();
  const words = counter.words - words0;
  const seconds = (t1 - t0) / 1000;
  say({
    kind: 'window',
    threads: 1,
    startSeconds,
    warmupRate,
    rate: words / seconds,
    words,
    seconds,
    cpuNsPerWord: ((cpu.user + cpu.system) * 1000) / Math.max(1, words),
    otherLoad: load.otherLoad,
  });
}

/** Runs the child; resolves to its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const a = parseSteadyChildArgv(argv);
    if (a.subject.kind === 'loop') measureLoop(a);
    else await measureEngine(a, a.subject.threads);
    return 0;
  } catch (err) {
    say({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => {
    // Exit at once: a handle left by a stopped engine must not keep the
    // process (and the bench waiting for it) alive. Profiles are written on exit.
    process.exit(code);
  });
}
