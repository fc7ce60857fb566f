/**
 * An engine of the resilience benchmark, in this process, with or without
 * checkpoints: its start, its counters, the checkpoints it took, its stop.
 * The throughput, state and idle parts run their windows on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runResilientAlone, type Resilience } from './resilient-engine-alone.js';
import type { CheckpointTiming } from '../runtime/checkpoint/driver.js';
import { Engine, type EngineStats } from '../runtime/engine/engine.js';
import type { Logger } from '../runtime/logging/logger.js';
import { BenchFailure } from './bench-child.js';

/** A benchmark application next to this module (compiled JS when run from dist). */
export function appPath(name: string): string {
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
export function quietLogger(problems: string[]): Logger {
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

/** Entities (keys) the engine holds, summed over its threads. */
export function entityTotal(s: EngineStats): number {
  let n = 0;
  for (const t of s.threads) for (const v of Object.values(t.entities)) n += v;
  return n;
}

/** Engine.prepare with this process's engine logs at warn (the threads read ROO_LOG_LEVEL). */
export async function prepareQuiet(options: Parameters<typeof Engine.prepare>[0]): Promise<Engine> {
  const level = process.env['ROO_LOG_LEVEL'];
  process.env['ROO_LOG_LEVEL'] = level ?? 'warn';
  try {
    return await Engine.prepare(options);
  } finally {
    if (level === undefined) delete process.env['ROO_LOG_LEVEL'];
  }
}

/** An engine in this process, with or without checkpoints. */
export class BenchEngine {
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
    const engine = await prepareQuiet({
      modulePath: appPath(o.app),
      args: { in: [], out: [], workerName: 'bench', threads: o.threads, appArgs: [...o.appArgs] },
      workerName: 'bench',
      threads: o.threads,
      log,
      resilient: o.intervalMs !== undefined,
      onFatal: (err) => fatal.push(err),
    });
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
