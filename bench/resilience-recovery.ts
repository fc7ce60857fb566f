/**
 * The recovery part of the resilience benchmark: `roo worker` (a child
 * process) with --run-with-resilience and --recovery-keys keys starts in an
 * empty directory (the cold start, the baseline), is SIGKILLed once a
 * committed checkpoint holds every key, and the same command is started
 * again and timed from the spawn to each of Wallaroo's recovery log lines up
 * to `|~~ INIT PHASE III: Application is ready to work! ~~|`. The first
 * checkpoint after the recovery must still hold every key.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSnapshot } from '../protocols/index.js';
import { LogLine } from '../runtime/logging/log-lines.js';
import { BenchChild, BenchFailure, EACH_CHECKPOINT, stopAll } from './bench-child.js';
import { appPath } from './resilience-engine.js';
import type { ResilienceOptions } from './resilience-options.js';
import { fmtBytes, fmtMs, msSpread, type PartReport } from './resilience-report.js';
import { LoadProbe, markdownTable, median } from './stats.js';

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
  // Each commit's line (debug level): the bench waits for the one whose snapshot holds every key.
  const worker = BenchChild.roo(args, [], EACH_CHECKPOINT);
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

/** One cold start, kill and restart of a resilient `roo worker`. */
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

/** The recovery part: --recovery-reps kills and restarts, and its table. */
export async function recoveryPart(
  o: ResilienceOptions,
  log: (line: string) => void,
): Promise<PartReport> {
  const lines: string[] = [];
  let failed = false;
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
    lines.push('', `### Recovery: FAILED: ${(err as Error).message}`);
    log(`recovery failed: ${(err as Error).stack ?? (err as Error).message}`);
  }
  if (runs.length > 0) {
    const readyMedian = median(runs.map((r) => r.ready));
    const col = (f: (r: RecoveryRun) => number): string => msSpread(runs.map(f));
    lines.push(
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
            runs.map((r) => `${r.coldOtherLoad.toFixed(2)} / ${r.otherLoad.toFixed(2)}`).join(', '),
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
  return { lines, failed };
}
