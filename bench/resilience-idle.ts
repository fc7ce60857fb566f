/**
 * The idle part of the resilience benchmark: an engine with a state of N
 * keys (bench/apps/keyed-counter.ts, one pass) takes checkpoints while idle,
 * then the in-process part of a recovery (Engine.prepare,
 * SnapshotStore.read, Engine.runAlone with the snapshot) is timed against a
 * fresh start (prepare + runAlone without), and its table.
 */
import { statSync } from 'node:fs';
import type { Resilience } from './resilient-engine-alone.js';
import type { CheckpointTiming } from '../runtime/checkpoint/driver.js';
import { BenchFailure } from './bench-child.js';
import {
  appPath,
  BenchEngine,
  entityTotal,
  prepareQuiet,
  quietLogger,
} from './resilience-engine.js';
import type { ResilienceOptions } from './resilience-options.js';
import { fmtBytes, fmtMs, msSpread } from './resilience-report.js';
import { markdownTable, median } from './stats.js';

/** Checkpoints of an idle engine holding N keys, and the in-process part of a recovery. */
export interface IdleRun {
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

/**
 * Fills an engine with `o.keys` keys, times its idle checkpoints, then `o.reps`
 * rounds of a fresh start and a restore from its newest checkpoint.
 */
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

/** The idle part for a state of `keys` keys; throws if a restore lost keys. */
export async function runIdleKeys(
  o: ResilienceOptions,
  keys: number,
  log: (line: string) => void,
): Promise<IdleRun> {
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
  return r;
}

/** The table of the idle part. */
export function idleSection(o: ResilienceOptions, idle: readonly IdleRun[]): string[] {
  return [
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
  ];
}
