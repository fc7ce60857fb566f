/**
 * Resilience benchmark: what checkpoints and recovery cost a worker that
 * runs alone, each figure against a baseline taken in the same run.
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
 *       [--help]
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
 *
 * This file is the entry and the order of the parts; the parts live beside
 * it: resilience-options.ts (flags), resilience-engine.ts (an engine in this
 * process), resilience-load.ts (throughput and state), resilience-idle.ts,
 * resilience-recovery.ts and resilience-report.ts (formatting, RESULTS.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootDir } from './bench-child.js';
import { idleSection, runIdleKeys, type IdleRun } from './resilience-idle.js';
import { runState, stateSection, throughputPart, type StateRun } from './resilience-load.js';
import {
  parseResilienceArgs,
  resilienceUsage,
  ResilienceUsageError,
  type ResilienceOptions,
} from './resilience-options.js';
import { recoveryPart } from './resilience-recovery.js';
import {
  changedFiles,
  compiledEngine,
  describeCode,
  fmtMs,
  loadAverage,
  withResilienceSection,
  type PartReport,
} from './resilience-report.js';
import { formatMachine } from './stats.js';

export { RESILIENCE_PARTS, type ResilienceOptions } from './resilience-options.js';
export { withResilienceSection } from './resilience-report.js';

/**
 * The state and idle parts, which share a heading on failure: state for
 * every size of --keys, then idle for every size; the first failure ends both.
 */
async function stateAndIdlePart(
  o: ResilienceOptions,
  log: (line: string) => void,
): Promise<PartReport> {
  const lines: string[] = [];
  let failed = false;
  const loaded: StateRun[] = [];
  const idle: IdleRun[] = [];
  try {
    for (const keys of o.only.has('state') ? o.keys : []) loaded.push(await runState(o, keys, log));
    for (const keys of o.only.has('idle') ? o.keys : []) idle.push(await runIdleKeys(o, keys, log));
  } catch (err) {
    failed = true;
    lines.push('', `### State: FAILED: ${(err as Error).message}`);
    log(`state failed: ${(err as Error).stack ?? (err as Error).message}`);
  }
  if (loaded.length > 0) lines.push(...stateSection(o, loaded));
  if (idle.length > 0) lines.push(...idleSection(o, idle));
  return { lines, failed };
}

/**
 * Runs the selected parts and prints (and maybe writes) the report; resolves
 * to the exit code (0 ran, 1 a part failed, 2 bad flags).
 */
export async function main(argv: string[]): Promise<number> {
  let o: ResilienceOptions;
  try {
    const parsed = parseResilienceArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(resilienceUsage());
      return 0;
    }
    o = parsed;
  } catch (err) {
    if (!(err instanceof ResilienceUsageError)) throw err;
    process.stderr.write(
      `resilience: ${err.message} (see 'node dist/bench/resilience.js --help')\n`,
    );
    return 2;
  }
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const out: string[] = [];
  const started = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const t0 = performance.now();
  const load0 = loadAverage();
  const every = `every ${fmtMs(o.intervalMs)}`;
  const command = `node dist/bench/resilience.js ${argv.join(' ')}`.trim();
  out.push(`## Resilience, ${started}`, '');
  out.push(`**Command:** \`${command}\` (after \`npm run build\`)`);
  out.push(
    `**Settings:** --threads ${o.threads}, checkpoints ${every}, ${o.seconds} s windows after ${o.warmupSeconds} s of warm-up, ${o.reps} interleaved rounds; keys ${o.keys.join(', ')}; recovery with ${o.recoveryKeys} keys × ${o.recoveryReps}; files in ${o.dir} (ext4 here; every snapshot is fsynced)`,
  );
  out.push(formatMachine());
  out.push(`**Code:** ${describeCode()}`);
  const compiled = compiledEngine();
  let failed = false;
  const parts: [boolean, () => Promise<PartReport>][] = [
    [o.only.has('throughput'), () => throughputPart(o, log)],
    [o.only.has('state') || o.only.has('idle'), () => stateAndIdlePart(o, log)],
    [o.only.has('recovery'), () => recoveryPart(o, log)],
  ];
  for (const [selected, run] of parts) {
    if (!selected) continue;
    const part = await run();
    out.push(...part.lines);
    failed ||= part.failed;
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
