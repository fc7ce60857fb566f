/**
 * Resilience benchmark (issue 4): what checkpoints and recovery cost a
 * worker that runs alone, each figure against a baseline taken in the same
 * run (STYLE.md habit 10).
 *
 *   throughput  Word count (bench/apps/word-count-looped.ts: the corpus, round
 *               and round) in this process, resilience off against checkpoints
 *               every --interval-ms, interleaved, each run a fresh engine with
 *               a --seconds window after --warmup-seconds. Target: on/off ≥ 0.9.
 *   state       A state of N keys (bench/apps/keyed-counter.ts) for each N of
 *               --keys, the pipeline busy: off against on as above, with every
 *               checkpoint's barrier time (order → snapshot in hand: barriers
 *               through the pipeline and the state encoded on the scheduler
 *               threads) and file time (snapshot encoded, written, fsynced,
 *               renamed), from CheckpointMember.last.
 *   idle        The same app, one pass of N keys, then idle: the same timings,
 *               then the in-process part of a recovery (Engine.prepare,
 *               SnapshotStore.read, Engine.runAlone with the snapshot) against
 *               a fresh start (prepare + runAlone without).
 *   recovery    `roo worker` (a child process) with --run-with-resilience and
 *               --recovery-keys keys: start in an empty directory (the cold
 *               start, the baseline), wait until a committed checkpoint holds
 *               every key, SIGKILL, start the same command again, and time
 *               from the spawn to each of Wallaroo's recovery log lines up to
 *               `|~~ INIT PHASE III: Application is ready to work! ~~|`.
 *               Then wait for a checkpoint after the recovery and check it
 *               still holds every key. Target: ≤ 2 s.
 *
 *   node dist/bench/resilience.js [--mb 20] [--seconds 10] [--warmup-seconds 3]
 *       [--reps 3] [--keys 10000,100000,1000000] [--recovery-keys 1000000]
 *       [--recovery-reps 3] [--threads 2] [--interval-ms 1000]
 *       [--only throughput,state,idle,recovery] [--dir DIR] [--write-results]
 *
 * Besides msgs/s, every window reports the CPU time of this process (all its
 * threads) per message, and every part the cores others kept busy: on a
 * shared machine the rates move with the neighbours' load, the CPU per
 * message much less.
 *
 * Run from the compiled tree (npm run build): the engine's threads and the
 * child worker load dist/. Progress goes to stderr, the markdown report to
 * stdout; --write-results puts the report in bench/RESULTS.md between its
 * resilience markers, below the notes marker (so `roo bench --write-results`
 * keeps it).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { decodeSnapshot } from '../protocols/index.js';
import { runResilientAlone, type Resilience } from '../runtime/checkpoint/alone.js';
import type { CheckpointTiming } from '../runtime/checkpoint/driver.js';
import { Engine, type EngineStats } from '../runtime/engine/engine.js';
import { LogLine } from '../runtime/logging/log-lines.js';
import type { Logger } from '../runtime/logging/logger.js';
import { countWords, DEFAULT_SEED, totalWords, writeCorpusFile } from './corpus.js';
import { BenchChild, BenchFailure, rootDir, stopAll } from './engine-tcp.js';
import { NOTES_MARKER } from './report.js';
import { formatMachine, formatRate, LoadProbe, markdownTable, median, summarize } from './stats.js';

// ---------------------------------------------------------------------------
// Flags.

/** The parts, in the order they run. */
export const RESILIENCE_PARTS = ['throughput', 'state', 'idle', 'recovery'] as const;
type Part = (typeof RESILIENCE_PARTS)[number];

/** What a run measures. */
export interface ResilienceOptions {
  readonly mb: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly reps: number;
  readonly keys: readonly number[];
  readonly recoveryKeys: number;
  readonly recoveryReps: number;
  readonly threads: number;
  readonly intervalMs: number;
  readonly only: ReadonlySet<Part>;
  readonly dir: string;
  readonly writeResults: boolean;
}

function parseOptions(argv: readonly string[]): ResilienceOptions {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      mb: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string', default: '3' },
      reps: { type: 'string', default: '3' },
      keys: { type: 'string', default: '10000,100000,1000000' },
      'recovery-keys': { type: 'string', default: '1000000' },
      'recovery-reps': { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      'interval-ms': { type: 'string', default: '1000' },
      only: { type: 'string', default: RESILIENCE_PARTS.join(',') },
      dir: { type: 'string', default: tmpdir() },
      'write-results': { type: 'boolean', default: false },
    },
  });
  const num = (flag: string, text: string): number => {
    const n = Number(text.replaceAll('_', ''));
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${flag}: expected a positive number`);
    return n;
  };
  const only = new Set<Part>();
  for (const p of v.only.split(',')) {
    if (!(RESILIENCE_PARTS as readonly string[]).includes(p))
      throw new Error(`--only: unknown part '${p}' (parts: ${RESILIENCE_PARTS.join(', ')})`);
    only.add(p as Part);
  }
  return {
    mb: num('mb', v.mb),
    seconds: num('seconds', v.seconds),
    warmupSeconds: num('warmup-seconds', v['warmup-seconds']),
    reps: Math.round(num('reps', v.reps)),
    keys: v.keys.split(',').map((k) => Math.round(num('keys', k))),
    recoveryKeys: Math.round(num('recovery-keys', v['recovery-keys'])),
    recoveryReps: Math.round(num('recovery-reps', v['recovery-reps'])),
    threads: Math.round(num('threads', v.threads)),
    intervalMs: num('interval-ms', v['interval-ms']),
    only,
    dir: v.dir,
    writeResults: v['write-results'],
  };
}

// ---------------------------------------------------------------------------
// In-process runs.

/** A benchmark application next to this module (compiled JS when run from dist). */
function appPath(name: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./apps/${name}${ext}`, import.meta.url));
}

/** A run that makes no progress for this long has stalled. */
const STALL_MS = 20_000;
/** How often a run reads the engine's counters. */
const STATS_EVERY_MS = 100;
/** How often a run looks at CheckpointMember.last for a new checkpoint. */
const TIMING_EVERY_MS = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The logger of the benchmark's engines: warnings and errors (an aborted or
 * failed checkpoint) are kept, to be reported; everything else is dropped.
 */
function quietLogger(problems: string[]): Logger {
  return pino(
    { level: 'info', base: { worker: 'bench', thread: 'main' } },
    {
      write: (line: string) => {
        const r = JSON.parse(line) as { level: number; msg: string };
        if (r.level >= 40) problems.push(r.msg);
      },
    },
  ) as unknown as Logger;
}

/** An engine in this process, with or without checkpoints. */
class BenchEngine {
  /** Every checkpoint the member took, in order, with the ms (since start) it was seen. */
  readonly checkpoints: { at: number; timing: CheckpointTiming }[] = [];
  readonly started = performance.now();
  private watcher: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    readonly engine: Engine,
    readonly resilience: Resilience | undefined,
    readonly dir: string,
    /** Warnings and errors the engine logged (an aborted checkpoint). */
    readonly problems: string[],
    /** Scheduler threads that died. */
    readonly fatal: Error[],
  ) {
    if (resilience !== undefined) {
      this.watcher = setInterval(() => {
        const last = resilience.member.last;
        if (last !== undefined && last.id !== this.checkpoints.at(-1)?.timing.id)
          this.checkpoints.push({ at: performance.now() - this.started, timing: last });
      }, TIMING_EVERY_MS);
    }
  }

  /** Starts `app` with `appArgs`; `intervalMs` undefined: resilience off. */
  static async start(o: {
    app: string;
    appArgs: readonly string[];
    threads: number;
    intervalMs: number | undefined;
    parent: string;
  }): Promise<BenchEngine> {
    const dir = mkdtempSync(join(o.parent, 'roo-bench-resilience-'));
    const problems: string[] = [];
    const fatal: Error[] = [];
    const log = quietLogger(problems);
    const level = process.env['ROO_LOG_LEVEL'];
    process.env['ROO_LOG_LEVEL'] = level ?? 'warn';
    let engine: Engine;
    try {
      engine = await Engine.prepare({
        modulePath: appPath(o.app),
        args: { in: [], out: [], workerName: 'bench', threads: o.threads, appArgs: [...o.appArgs] },
        workerName: 'bench',
        threads: o.threads,
        log,
        resilient: o.intervalMs !== undefined,
        onFatal: (err) => fatal.push(err),
      });
    } finally {
      if (level === undefined) delete process.env['ROO_LOG_LEVEL'];
    }
    let resilience: Resilience | undefined;
    try {
      if (o.intervalMs === undefined) await engine.runAlone('bench');
      else
        resilience = await runResilientAlone(engine, {
          name: 'bench',
          dir,
          intervalMs: o.intervalMs,
          log,
        });
    } catch (err) {
      await engine.terminate();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return new BenchEngine(engine, resilience, dir, problems, fatal);
  }

  /** Counters; throws on a dead thread or recorded errors. */
  async stats(): Promise<EngineStats> {
    const s = await this.engine.stats();
    if (this.fatal.length > 0)
      throw new BenchFailure(`scheduler thread failed: ${this.fatal[0]?.message}`);
    if (Object.keys(s.errors).length > 0)
      throw new BenchFailure(`engine recorded errors: ${JSON.stringify(s.errors)}`);
    return s;
  }

  /**
   * Resolves once `done(stats, ms since start)` holds; throws after STALL_MS
   * without a new output or a new checkpoint.
   */
  async until(done: (s: EngineStats, ms: number) => boolean, what: string): Promise<EngineStats> {
    let progress = -1;
    let lastChange = performance.now();
    for (;;) {
      const s = await this.stats();
      const now = performance.now();
      if (done(s, now - this.started)) return s;
      if (s.encoded + this.checkpoints.length !== progress) {
        progress = s.encoded + this.checkpoints.length;
        lastChange = now;
      }
      if (now - lastChange > STALL_MS)
        throw new BenchFailure(`engine stalled at ${s.encoded} outputs waiting for ${what}`);
      await sleep(STATS_EVERY_MS);
    }
  }

  /** Stops checkpointing and the engine (once); the files stay until `remove`. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.watcher);
    this.resilience?.driver.stop();
    await this.engine.stop(200);
  }

  /** Removes the engine's resilience directory. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One timed window of a running engine. */
interface WindowRun {
  readonly resilient: boolean;
  readonly rate: number;
  readonly seconds: number;
  readonly outputs: number;
  /** Checkpoints taken (snapshot written) inside the window. */
  readonly checkpoints: CheckpointTiming[];
  readonly problems: string[];
  /** Cores others kept busy during the window. */
  readonly otherLoad: number;
  /**
   * CPU ns this process (all its threads) spent per output in the window:
   * what the work costs, whatever share of the machine it got.
   */
  readonly cpuNsPerMsg: number;
}

/**
 * Runs `app` for a warm-up (at least `warmupMs`, and until its state holds
 * `minKeys` keys), then measures outputs/s over `seconds`.
 */
async function runWindow(o: {
  app: string;
  appArgs: readonly string[];
  threads: number;
  intervalMs: number | undefined;
  warmupMs: number;
  minKeys: number;
  seconds: number;
  parent: string;
}): Promise<WindowRun> {
  const b = await BenchEngine.start(o);
  try {
    const first = await b.until(
      (s, ms) => ms >= o.warmupMs && entityTotal(s) >= o.minKeys,
      'the warm-up',
    );
    const probe = new LoadProbe();
    probe.start();
    const t0 = performance.now();
    const fromMs = t0 - b.started;
    const e0 = first.encoded;
    const end = await b.until((_s, ms) => ms - fromMs >= o.seconds * 1000, 'the end of the window');
    const t1 = performance.now();
    const load = probe.stop();
    const seconds = (t1 - t0) / 1000;
    return {
      resilient: o.intervalMs !== undefined,
      rate: (end.encoded - e0) / seconds,
      seconds,
      outputs: end.encoded - e0,
      checkpoints: b.checkpoints
        .filter((c) => c.at >= fromMs && c.at <= t1 - b.started)
        .map((c) => c.timing),
      problems: [...b.problems],
      otherLoad: load.otherLoad,
      cpuNsPerMsg: (load.ownCpu * load.wallMs * 1e6) / Math.max(1, end.encoded - e0),
    };
  } finally {
    await b.stop();
    b.remove();
  }
}

/** Off and on, interleaved (off first on odd rounds, on first on even ones). */
interface Comparison {
  readonly off: WindowRun[];
  readonly on: WindowRun[];
}

async function compare(
  o: Omit<Parameters<typeof runWindow>[0], 'intervalMs'> & { intervalMs: number; reps: number },
  label: string,
  log: (line: string) => void,
): Promise<Comparison> {
  const off: WindowRun[] = [];
  const on: WindowRun[] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    const order = rep % 2 === 1 ? [false, true] : [true, false];
    for (const resilient of order) {
      const r = await runWindow({ ...o, intervalMs: resilient ? o.intervalMs : undefined });
      (resilient ? on : off).push(r);
      const cps = r.checkpoints;
      log(
        `  ${label}, resilience ${resilient ? 'on ' : 'off'}, run ${rep}: ${formatRate(r.rate)} msgs/s` +
          (resilient
            ? `, ${cps.length} checkpoints (barriers ${fmtMs(median0(cps.map((c) => c.alignMs)))}, file ${fmtMs(median0(cps.map((c) => c.writeMs)))}, ${fmtBytes(cps.at(-1)?.bytes ?? 0)})`
            : '') +
          `; ${r.cpuNsPerMsg.toFixed(0)} CPU ns/msg; other load ${r.otherLoad.toFixed(2)}` +
          (r.problems.length > 0 ? `; problems: ${r.problems.join(' / ')}` : ''),
      );
    }
  }
  return { off, on };
}

/** Checkpoints of an idle engine holding N keys, and the in-process part of a recovery. */
interface IdleRun {
  readonly keys: number;
  readonly checkpoints: CheckpointTiming[];
  /** Per round: a fresh engine, Engine.prepare then Engine.runAlone without a snapshot. */
  readonly freshMs: number[];
  /** Per round, a recovering engine: Engine.prepare (load the app, start the threads). */
  readonly prepareMs: number[];
  /** Per round: SnapshotStore.read of the newest committed checkpoint. */
  readonly readMs: number[];
  /**
   * Per round: Engine.runAlone with the snapshot: each thread finishes loading
   * the app (prepare does not wait for it), decodes its key groups, then wire, start.
   */
  readonly restoreMs: number[];
  /** Entities the restored engines held. */
  readonly restoredKeys: number[];
  readonly fileBytes: number;
  readonly problems: string[];
}

/** Checkpoints an idle engine takes once its state is whole, before it is measured. */
const IDLE_CHECKPOINTS = 3;

function entityTotal(s: EngineStats): number {
  let n = 0;
  for (const t of s.threads) for (const v of Object.values(t.entities)) n += v;
  return n;
}

/** Engine.prepare with this process's engine logs at warn (the threads read ROO_LOG_LEVEL). */
async function prepareQuiet(options: Parameters<typeof Engine.prepare>[0]): Promise<Engine> {
  const level = process.env['ROO_LOG_LEVEL'];
  process.env['ROO_LOG_LEVEL'] = level ?? 'warn';
  try {
    return await Engine.prepare(options);
  } finally {
    if (level === undefined) delete process.env['ROO_LOG_LEVEL'];
  }
}

async function runIdle(o: {
  keys: number;
  threads: number;
  intervalMs: number;
  parent: string;
  reps: number;
}): Promise<IdleRun> {
  const common = { app: 'keyed-counter', appArgs: [String(o.keys)], threads: o.threads };
  const b = await BenchEngine.start({ ...common, intervalMs: o.intervalMs, parent: o.parent });
  try {
    await b.until(
      (s) => entityTotal(s) >= o.keys && s.threads.every((t) => t.sources.every((x) => x.finished)),
      `${o.keys} keys`,
    );
    // A checkpoint started before the source finished may hold less: skip it.
    const after = b.checkpoints.length + 1;
    await b.until(() => b.checkpoints.length >= after + IDLE_CHECKPOINTS, 'idle checkpoints');
    const checkpoints = b.checkpoints.slice(after, after + IDLE_CHECKPOINTS).map((c) => c.timing);
    await b.stop();
    const store = (b.resilience as Resilience).store;
    const newest = store.committed().at(-1);
    if (newest === undefined) throw new BenchFailure('no checkpoint committed');
    const r: IdleRun = {
      keys: o.keys,
      checkpoints,
      freshMs: [],
      prepareMs: [],
      readMs: [],
      restoreMs: [],
      restoredKeys: [],
      fileBytes: statSync(store.path(newest)).size,
      problems: [...b.problems],
    };
    const options = {
      modulePath: appPath('keyed-counter'),
      args: { in: [], out: [], workerName: 'bench', threads: o.threads, appArgs: [String(o.keys)] },
      workerName: 'bench',
      threads: o.threads,
      log: quietLogger(r.problems),
      resilient: true,
    };
    const fresh = async (): Promise<void> => {
      const t0 = performance.now();
      const engine = await prepareQuiet(options);
      try {
        await engine.runAlone('bench');
      } finally {
        await engine.terminate();
      }
      r.freshMs.push(performance.now() - t0);
    };
    const restore = async (): Promise<void> => {
      const t1 = performance.now();
      const engine = await prepareQuiet(options);
      try {
        const t2 = performance.now();
        const snapshot = store.read(newest);
        const t3 = performance.now();
        await engine.runAlone('bench', snapshot);
        const t4 = performance.now();
        r.prepareMs.push(t2 - t1);
        r.readMs.push(t3 - t2);
        r.restoreMs.push(t4 - t3);
        r.restoredKeys.push(entityTotal(await engine.stats()));
      } finally {
        await engine.terminate();
      }
    };
    // One engine at a time, so that neither's start-up slows the other's; the
    // order alternates, so that neither is always the first after a pause.
    for (let rep = 0; rep < o.reps; rep++) {
      if (rep % 2 === 0) {
        await fresh();
        await restore();
      } else {
        await restore();
        await fresh();
      }
    }
    return r;
  } finally {
    await b.stop().catch(() => undefined);
    b.remove();
  }
}

// ---------------------------------------------------------------------------
// Recovery of a `roo worker` child process.

/** One kill and restart of a resilient worker. */
interface RecoveryRun {
  /** Spawn → INIT PHASE III of the same command in an empty directory. */
  readonly coldMs: number;
  /** CPU ms of the cold start and of the restart until ready. */
  readonly coldCpuMs: number;
  readonly cpuMs: number;
  /** Cores others kept busy during the cold start and the restart. */
  readonly coldOtherLoad: number;
  readonly otherLoad: number;
  /** Spawn of the restart → each log line, ms. */
  readonly initI: number;
  readonly recovering: number;
  readonly restoring: number;
  readonly complete: number;
  readonly ready: number;
  /** The checkpoint restored, and its file. */
  readonly checkpoint: number;
  readonly fileBytes: number;
  /** Keys in the checkpoint before the kill, and in the first after the recovery. */
  readonly keysBefore: number;
  readonly keysAfter: number;
}

/** The snapshot file of checkpoint `id` in `dir`, if present. */
function snapshotFile(dir: string, id: number): string | undefined {
  const name = readdirSync(dir).find((n) => n.endsWith(`.checkpoint-${id}.snap`));
  return name === undefined ? undefined : join(dir, name);
}

/** Entities in a snapshot file (undefined if it is gone or unreadable). */
function keysInSnapshot(path: string): number | undefined {
  try {
    const s = decodeSnapshot(readFileSync(path));
    let n = 0;
    for (const p of s.partitions) for (const g of p.keyGroups) n += g.entities;
    return n;
  } catch {
    return undefined;
  }
}

/**
 * Resolves at the first `checkpoint K committed` line whose snapshot holds
 * `keys` keys; returns K and the file's size.
 */
function committedWithKeys(
  worker: BenchChild,
  dir: string,
  keys: number,
): Promise<{ id: number; keys: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let checking = false;
    const timer = setTimeout(
      () => finish(new BenchFailure(`no checkpoint with ${keys} keys committed in 120 s`)),
      120_000,
    );
    const finish = (r: { id: number; keys: number; bytes: number } | Error): void => {
      clearTimeout(timer);
      stop();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const stop = worker.onLine((line) => {
      const m = /checkpoint (\d+) committed/.exec(line);
      if (m === null || checking) return;
      const id = Number(m[1]);
      const path = snapshotFile(dir, id);
      if (path === undefined) return;
      checking = true;
      const n = keysInSnapshot(path);
      checking = false;
      if (n === keys) finish({ id, keys: n, bytes: statSync(path).size });
    });
    void worker.exited.then(() => setImmediate(() => finish(new BenchFailure(worker.describe()))));
  });
}

/** CPU ms (user + system, all threads) process `pid` has used so far; NaN if unreadable. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 (from 1), in USER_HZ (100) ticks.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** A worker started and timed up to INIT PHASE III. */
interface TimedStart {
  readonly worker: BenchChild;
  /** ms from the spawn to the first line containing each awaited text. */
  readonly at: Map<string, number>;
  /** ms to `restoring checkpoint K`, and K (NaN without one). */
  readonly restoring: number;
  readonly restored: number;
  /** CPU ms the process (all its threads) had used when it was ready. */
  readonly cpuMs: number;
  /** Cores others kept busy meanwhile (not this process, not the worker). */
  readonly otherLoad: number;
}

/** Starts the worker; resolves when it logs INIT PHASE III. */
async function startTimed(args: readonly string[], lines: readonly string[]): Promise<TimedStart> {
  const probe = new LoadProbe();
  probe.start();
  const t0 = performance.now();
  const worker = BenchChild.roo(args);
  const at = new Map<string, number>();
  let restoring = NaN;
  let restored = NaN;
  let cpuMs = NaN;
  worker.onLine((line) => {
    const now = performance.now() - t0;
    if (line.includes(LogLine.InitPhaseIII) && Number.isNaN(cpuMs))
      cpuMs = processCpuMs(worker.pid);
    for (const l of lines) if (line.includes(l) && !at.has(l)) at.set(l, now);
    const m = /restoring checkpoint (\d+)/.exec(line);
    if (m !== null) {
      restoring = now;
      restored = Number(m[1]);
    }
  });
  await worker.waitForLine(/INIT PHASE III/, 'that it is ready');
  // waitForLine resolves from the same line event: the map is filled by now.
  const load = probe.stop();
  const otherLoad = Math.max(0, load.otherLoad - cpuMs / load.wallMs);
  return { worker, at, restoring, restored, cpuMs, otherLoad };
}

async function runRecovery(o: {
  keys: number;
  threads: number;
  intervalMs: number;
  parent: string;
  log: (line: string) => void;
  rep: number;
}): Promise<RecoveryRun> {
  const dir = mkdtempSync(join(o.parent, 'roo-bench-recovery-'));
  const args = [
    ...['worker', '--application-module', appPath('keyed-counter'), '--name', 'bench'],
    ...['--ponythreads', String(o.threads), '--run-with-resilience', '--resilience-dir', dir],
    ...['--time-between-checkpoints', String(Math.round(o.intervalMs * 1e6))],
    ...['--', String(o.keys)],
  ];
  const lines = [
    LogLine.InitPhaseI,
    LogLine.RecoveringFromFiles,
    LogLine.RecoveryComplete,
    LogLine.InitPhaseIII,
  ];
  const children: BenchChild[] = [];
  try {
    const cold = await startTimed(args, lines);
    children.push(cold.worker);
    const coldMs = cold.at.get(LogLine.InitPhaseIII) ?? NaN;
    const before = await committedWithKeys(cold.worker, dir, o.keys);
    cold.worker.proc.kill('SIGKILL');
    await cold.worker.exited;
    const again = await startTimed(args, lines);
    children.push(again.worker);
    const checkpoint = again.restored;
    const after = await committedWithKeys(again.worker, dir, o.keys);
    const r: RecoveryRun = {
      coldMs,
      coldCpuMs: cold.cpuMs,
      cpuMs: again.cpuMs,
      coldOtherLoad: cold.otherLoad,
      otherLoad: again.otherLoad,
      initI: again.at.get(LogLine.InitPhaseI) ?? NaN,
      recovering: again.at.get(LogLine.RecoveringFromFiles) ?? NaN,
      restoring: again.restoring,
      complete: again.at.get(LogLine.RecoveryComplete) ?? NaN,
      ready: again.at.get(LogLine.InitPhaseIII) ?? NaN,
      checkpoint,
      fileBytes: before.bytes,
      keysBefore: before.keys,
      keysAfter: after.keys,
    };
    o.log(
      `  recovery run ${o.rep}: cold start ${fmtMs(r.coldMs)}; after SIGKILL, checkpoint ${before.id} ` +
        `(${fmtBytes(before.bytes)}, ${before.keys} keys): restart → ready ${fmtMs(r.ready)} ` +
        `(INIT PHASE I ${fmtMs(r.initI)}, recovering ${fmtMs(r.recovering)}, restoring ${fmtMs(r.restoring)}, ` +
        `complete ${fmtMs(r.complete)}); CPU cold ${fmtMs(r.coldCpuMs)}, restart ${fmtMs(r.cpuMs)}; other load cold ${r.coldOtherLoad.toFixed(2)}, restart ${r.otherLoad.toFixed(2)}; restored checkpoint ${checkpoint}; next checkpoint ${after.id} holds ${after.keys} keys`,
    );
    return r;
  } finally {
    await stopAll(children);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Formatting.

function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'n/a';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}

function fmtBytes(b: number): string {
  if (b >= 1024 * 1024) return `${(b / (1024 * 1024)).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

function median0(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : median(values);
}

/** "median (min..max)" of ms values. */
function msSpread(values: readonly number[]): string {
  if (values.length === 0) return 'n/a';
  const s = summarize(values);
  return `${fmtMs(s.median)} (${fmtMs(s.min)}..${fmtMs(s.max)})`;
}

function rateSpread(runs: readonly WindowRun[]): string {
  const s = summarize(runs.map((r) => r.rate));
  return `${formatRate(s.median)} (${formatRate(s.min)}..${formatRate(s.max)})`;
}

/** Ratio of medians, and the range of the per-round ratios. */
function ratioOf(c: Comparison): { ratio: number; text: string } {
  const ratio = median(c.on.map((r) => r.rate)) / median(c.off.map((r) => r.rate));
  const pairs = c.on.map((r, i) => r.rate / (c.off[i]?.rate ?? NaN));
  const s = summarize(pairs);
  return {
    ratio,
    text: `${ratio.toFixed(3)}x (rounds ${s.min.toFixed(3)}..${s.max.toFixed(3)})`,
  };
}

/** CPU ns per message, median (min..max), and on/off of the medians. */
function cpuSpread(runs: readonly WindowRun[]): string {
  const s = summarize(runs.map((r) => r.cpuNsPerMsg));
  return `${s.median.toFixed(0)} (${s.min.toFixed(0)}..${s.max.toFixed(0)})`;
}

function cpuRatio(c: Comparison): string {
  const on = median(c.on.map((r) => r.cpuNsPerMsg));
  const off = median(c.off.map((r) => r.cpuNsPerMsg));
  return `${(on / off).toFixed(3)}x`;
}

function otherLoad(c: Comparison): string {
  const all = [...c.off, ...c.on].map((r) => r.otherLoad);
  return `${median(all).toFixed(2)} (${Math.min(...all).toFixed(2)}..${Math.max(...all).toFixed(2)})`;
}

// ---------------------------------------------------------------------------
// The run.

/** Markers of the generated section in RESULTS.md. */
const BEGIN = '<!-- resilience: written by node dist/bench/resilience.js --write-results -->';
const END = '<!-- resilience: end of the generated part -->';

/** Puts `section` between the markers, below the notes marker (added if missing). */
export function withResilienceSection(previous: string, section: string): string {
  const block = `${BEGIN}\n${section.trim()}\n${END}`;
  const b = previous.indexOf(BEGIN);
  const e = previous.indexOf(END);
  if (b >= 0 && e > b) return previous.slice(0, b) + block + previous.slice(e + END.length);
  const base = previous.includes(NOTES_MARKER)
    ? previous
    : `${previous.trimEnd()}\n\n${NOTES_MARKER}\n`;
  return `${base.trimEnd()}\n\n${block}\n`;
}

/**
 * The commit the run's code came from, and how many files of the engine's
 * folders differed from it: other engineers work in the same tree.
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
    const dirty = git(['status', '--porcelain', '--', 'runtime', 'actors', 'protocols'])
      .split('\n')
      .filter((l) => l.length > 0).length;
    return `commit ${head}; ${dirty === 0 ? 'runtime/, actors/, protocols/ as committed' : `${dirty} files under runtime/, actors/, protocols/ differed from it`}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** A content hash of every compiled engine file (dist/runtime, dist/actors, dist/protocols). */
function compiledEngine(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js'))
        files.set(path, createHash('sha1').update(readFileSync(path)).digest('hex'));
    }
  };
  for (const d of ['runtime', 'actors', 'protocols']) walk(join(rootDir(), 'dist', d));
  return files;
}

/** Files of `after` that are new or differ from `before`. */
function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([path, hash]) => before.get(path) !== hash).map(([path]) => path);
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** Runs the selected parts and prints (and maybe writes) the report. */
export async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const out: string[] = [];
  const started = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const t0 = performance.now();
  const load0 = loadAverage();
  const every = `every ${fmtMs(o.intervalMs)}`;
  const command = `node dist/bench/resilience.js ${argv.join(' ')}`.trim();
  out.push(`## Resilience (issue 4), ${started}`, '');
  out.push(`**Command:** \`${command}\` (after \`npm run build\`)`);
  out.push(
    `**Settings:** --threads ${o.threads}, checkpoints ${every}, ${o.seconds} s windows after ${o.warmupSeconds} s of warm-up, ${o.reps} interleaved rounds; keys ${o.keys.join(', ')}; recovery with ${o.recoveryKeys} keys × ${o.recoveryReps}; files in ${o.dir} (ext4 here; every snapshot is fsynced)`,
  );
  out.push(formatMachine());
  out.push(`**Code:** ${describeCode()}`);
  const compiled = compiledEngine();
  let failed = false;

  if (o.only.has('throughput')) {
    const corpusPath = join(o.dir, `roo-bench-resilience-corpus-${process.pid}.txt`);
    try {
      log(`generating a ${o.mb} MiB corpus...`);
      const corpus = writeCorpusFile(corpusPath, {
        bytes: Math.round(o.mb * 1024 * 1024),
        seed: DEFAULT_SEED,
      });
      const words = totalWords(countWords(corpus.lines));
      log(`throughput: word count, looped over ${corpus.lines.length} lines (${words} words)`);
      const c = await compare(
        {
          app: 'word-count-looped',
          appArgs: [corpusPath],
          threads: o.threads,
          intervalMs: o.intervalMs,
          warmupMs: o.warmupSeconds * 1000,
          minKeys: 0,
          seconds: o.seconds,
          parent: o.dir,
          reps: o.reps,
        },
        'word count',
        log,
      );
      const r = ratioOf(c);
      const cps = c.on.flatMap((x) => x.checkpoints);
      out.push(
        '',
        `### Throughput: word count in process (bench/apps/word-count-looped.ts, ${o.mb} MiB corpus round and round, ${words} words a lap, 10 000 distinct), --ponythreads ${o.threads}, null sink`,
        '',
        markdownTable(
          [
            'resilience',
            'words/s, median (min..max)',
            'checkpoints per window',
            'barriers',
            'file',
            'snapshot',
            'on / off',
            'CPU ns/msg',
            'CPU on / off',
          ],
          [
            ['off', rateSpread(c.off), '', '', '', '', '1.000x', cpuSpread(c.off), '1.000x'],
            [
              `on, ${every}`,
              rateSpread(c.on),
              c.on.map((x) => x.checkpoints.length).join(', '),
              msSpread(cps.map((x) => x.alignMs)),
              msSpread(cps.map((x) => x.writeMs)),
              fmtBytes(cps.at(-1)?.bytes ?? 0),
              r.text,
              cpuSpread(c.on),
              cpuRatio(c),
            ],
          ],
        ),
        '',
        `Target on/off ≥ 0.9: **${r.ratio >= 0.9 ? 'MET' : 'MISSED'}** (${r.ratio.toFixed(3)}x). Other load (cores busy elsewhere) per window: ${otherLoad(c)}.`,
      );
    } catch (err) {
      failed = true;
      out.push('', `### Throughput: FAILED: ${(err as Error).message}`);
      log(`throughput failed: ${(err as Error).stack ?? (err as Error).message}`);
    } finally {
      rmSync(corpusPath, { force: true });
    }
  }

  if (o.only.has('state') || o.only.has('idle')) {
    const loaded: { keys: number; c: Comparison }[] = [];
    const idle: IdleRun[] = [];
    try {
      for (const keys of o.only.has('state') ? o.keys : []) {
        log(`state: ${keys} keys, under load`);
        const c = await compare(
          {
            app: 'keyed-counter',
            appArgs: [String(keys), 'inf'],
            threads: o.threads,
            intervalMs: o.intervalMs,
            warmupMs: o.warmupSeconds * 1000,
            minKeys: keys,
            seconds: o.seconds,
            parent: o.dir,
            reps: o.reps,
          },
          `${keys} keys`,
          log,
        );
        loaded.push({ keys, c });
      }
      for (const keys of o.only.has('idle') ? o.keys : []) {
        log(`state: ${keys} keys, idle, and the in-process restore`);
        const r = await runIdle({
          keys,
          threads: o.threads,
          intervalMs: o.intervalMs,
          parent: o.dir,
          reps: o.reps,
        });
        log(
          `  ${keys} keys idle: barriers ${msSpread(r.checkpoints.map((x) => x.alignMs))}, file ${msSpread(r.checkpoints.map((x) => x.writeMs))}, ` +
            `${fmtBytes(r.fileBytes)}; fresh prepare + runAlone ${msSpread(r.freshMs)}; restore: prepare ${msSpread(r.prepareMs)}, read ${msSpread(r.readMs)}, runAlone ${msSpread(r.restoreMs)}; keys restored ${r.restoredKeys.join(', ')}` +
            (r.problems.length > 0 ? `; problems: ${r.problems.join(' / ')}` : ''),
        );
        if (r.restoredKeys.some((n) => n !== keys))
          throw new BenchFailure(`restored ${r.restoredKeys.join(', ')} keys of ${keys}`);
        idle.push(r);
      }
    } catch (err) {
      failed = true;
      out.push('', `### State: FAILED: ${(err as Error).message}`);
      log(`state failed: ${(err as Error).stack ?? (err as Error).message}`);
    }
    if (loaded.length > 0)
      out.push(
        '',
        `### Checkpoints with the pipeline busy: a state of N keys (bench/apps/keyed-counter.ts: generator → key \`k<i mod N>\` → count per key → null sink), --ponythreads ${o.threads}`,
        '',
        'Barriers: from the order to the snapshot in hand (barriers through the queues, every key group encodes its state on its thread). File: the snapshot encoded, written, fsynced and renamed on the main thread. Median (min..max) over every checkpoint in the windows. CPU ns/msg: CPU time of this process (all threads) per message in the window, which does not depend on the share of the machine the run got.',
        '',
        markdownTable(
          [
            'keys',
            'msgs/s off',
            `msgs/s on (${every})`,
            'on / off',
            'CPU ns/msg off / on',
            'checkpoints per window',
            'barriers',
            'file',
            'snapshot',
            'bytes/key',
            'other load',
          ],
          loaded.map(({ keys, c }) => {
            const cps = c.on.flatMap((x) => x.checkpoints);
            const bytes = cps.at(-1)?.bytes ?? 0;
            return [
              String(keys),
              rateSpread(c.off),
              rateSpread(c.on),
              ratioOf(c).text,
              `${median(c.off.map((r) => r.cpuNsPerMsg)).toFixed(0)} / ${median(c.on.map((r) => r.cpuNsPerMsg)).toFixed(0)} (${cpuRatio(c)})`,
              c.on.map((x) => x.checkpoints.length).join(', '),
              msSpread(cps.map((x) => x.alignMs)),
              msSpread(cps.map((x) => x.writeMs)),
              fmtBytes(bytes),
              (bytes / keys).toFixed(1),
              otherLoad(c),
            ];
          }),
        ),
      );
    if (idle.length > 0)
      out.push(
        '',
        `### Idle checkpoints and the in-process restore (the same app, one pass of N keys, then idle; ${IDLE_CHECKPOINTS} checkpoints after the state is whole; then ${o.reps} rounds of a fresh start and a restore, median (min..max))`,
        '',
        '`Engine.prepare` loads the app and starts the threads; the threads finish loading the app on their own, so `runAlone` includes waiting for that. `SnapshotStore.read`: read, checksum and decode the file of the newest committed checkpoint. `runAlone` with the snapshot: each thread decodes its key groups into Maps, then wire, start. The fresh engine (no snapshot) is the baseline; one engine runs at a time, fresh and restore alternate which goes first.',
        '',
        markdownTable(
          [
            'keys',
            'barriers',
            'file',
            'snapshot file',
            'bytes/key',
            'fresh: prepare + runAlone',
            'restore: prepare',
            'SnapshotStore.read',
            'runAlone with snapshot',
            'restore total',
            'restore − fresh',
          ],
          idle.map((r) => {
            const totals = r.prepareMs.map(
              (p, i) => p + (r.readMs[i] ?? NaN) + (r.restoreMs[i] ?? NaN),
            );
            return [
              String(r.keys),
              msSpread(r.checkpoints.map((x) => x.alignMs)),
              msSpread(r.checkpoints.map((x) => x.writeMs)),
              fmtBytes(r.fileBytes),
              (r.fileBytes / r.keys).toFixed(1),
              msSpread(r.freshMs),
              msSpread(r.prepareMs),
              msSpread(r.readMs),
              msSpread(r.restoreMs),
              msSpread(totals),
              fmtMs(median(totals) - median(r.freshMs)),
            ];
          }),
        ),
      );
  }

  if (o.only.has('recovery')) {
    const runs: RecoveryRun[] = [];
    try {
      log(`recovery: roo worker with ${o.recoveryKeys} keys, SIGKILL, restart`);
      for (let rep = 1; rep <= o.recoveryReps; rep++)
        runs.push(
          await runRecovery({
            keys: o.recoveryKeys,
            threads: o.threads,
            intervalMs: o.intervalMs,
            parent: o.dir,
            log,
            rep,
          }),
        );
    } catch (err) {
      failed = true;
      out.push('', `### Recovery: FAILED: ${(err as Error).message}`);
      log(`recovery failed: ${(err as Error).stack ?? (err as Error).message}`);
    }
    if (runs.length > 0) {
      const readyMedian = median(runs.map((r) => r.ready));
      const col = (f: (r: RecoveryRun) => number): string => msSpread(runs.map(f));
      out.push(
        '',
        `### Recovery of \`roo worker\` with ${o.recoveryKeys} keys of state (SIGKILL, then the same command again), ${runs.length} runs`,
        '',
        `\`roo worker --application-module dist/bench/apps/keyed-counter.js --name bench --ponythreads ${o.threads} --run-with-resilience --resilience-dir DIR --time-between-checkpoints ${Math.round(o.intervalMs * 1e6)} -- ${o.recoveryKeys}\`: killed once a committed checkpoint holds every key, restarted; ms from the spawn of the process to each log line as the bench reads it from the child's stderr. The cold start is the same command in an empty directory, in the same round.`,
        '',
        markdownTable(
          ['', 'median (min..max)'],
          [
            ['cold start (empty dir): spawn → `INIT PHASE III`', col((r) => r.coldMs)],
            ['restart: spawn → `INIT PHASE I`', col((r) => r.initI)],
            ['restart: spawn → `Recovering from recovery files!`', col((r) => r.recovering)],
            [
              'restart: spawn → `restoring checkpoint K` (file read and checked)',
              col((r) => r.restoring),
            ],
            ['restart: spawn → `Recovery COMPLETE` (threads restored)', col((r) => r.complete)],
            [
              '**restart: spawn → `INIT PHASE III: Application is ready to work!`**',
              col((r) => r.ready),
            ],
            ['restart − cold start', col((r) => r.ready - r.coldMs)],
            ['CPU time to ready (all threads): cold start', col((r) => r.coldCpuMs)],
            ['CPU time to ready (all threads): restart', col((r) => r.cpuMs)],
            [
              'other load (cores busy elsewhere): cold start / restart',
              runs
                .map((r) => `${r.coldOtherLoad.toFixed(2)} / ${r.otherLoad.toFixed(2)}`)
                .join(', '),
            ],
            ['snapshot file', runs.map((r) => fmtBytes(r.fileBytes)).join(', ')],
            [
              'keys in the checkpoint restored / in the first checkpoint after',
              runs.map((r) => `${r.keysBefore} / ${r.keysAfter}`).join(', '),
            ],
          ],
        ),
        '',
        `Target restart → ready ≤ 2 s: **${readyMedian <= 2000 ? 'MET' : 'MISSED'}** (median ${fmtMs(readyMedian)}).`,
      );
    }
  }

  const rebuilt = changedFiles(compiled, compiledEngine());
  if (rebuilt.length > 0) {
    out.push(
      '',
      `**Warning:** ${rebuilt.length} compiled engine files under dist/ changed during the run (rebuilt from other code): engines started after that ran it. For example ${rebuilt.slice(0, 3).join(', ')}.`,
    );
    log(`warning: dist/ changed during the run (${rebuilt.length} files)`);
  }
  out.push(
    '',
    `Load average ${load0} at the start, ${loadAverage()} at the end; ${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
  );
  const report = out.join('\n');
  process.stdout.write(report + '\n');
  if (o.writeResults) {
    const path = join(rootDir(), 'bench', 'RESULTS.md');
    writeFileSync(path, withResilienceSection(readFileSync(path, 'utf8'), report));
    log(`wrote ${path}`);
  }
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exitCode = 2;
    },
  );
}
