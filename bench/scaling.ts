/**
 * Scaling benchmark: a running word count cluster (`--ponythreads 1` per
 * worker) holding `--keys` distinct words of state (1 M by default) grows
 * and shrinks (`--steps`, default 1 → 2 → 4 → 2 → 1) under a constant input
 * rate (half of one worker's maximum, measured first in the same run, or
 * `--rate`). Per step: the key groups, keys and bytes moved and the input
 * pause from the initializer's `reconfiguration N complete` line, the step's
 * duration from the request to that line, the longest gap between two
 * consecutive outputs at the receiver, and when the outputs are back on the
 * input's pace. Against it, in the same run, the baseline a user of a
 * system without live rescaling has: a checkpoint, every worker killed, the
 * cluster restarted from the checkpoint and the lost window sent again.
 * After each run every output is checked against an independent count of
 * what was sent: 0 lost, 0 duplicated.
 *
 *   node dist/bench/scaling.js [--keys 1000000] [--rate N] [--steps 1,2,4,2,1]
 *       [--step-seconds 6] [--reps 3] [--resilience] [--write-results]
 *
 * Order: the maximum (unless --rate), then per rep the steps run and one
 * baseline run per size, interleaved rep by rep. The measured runs are in
 * scaling-run.ts and scaling-baseline.ts, the processes they drive in
 * scaling-cluster.ts, the input and the receiver in scaling-receiver.ts, the
 * report in scaling-report.ts, the flags in scaling-options.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { BenchFailure, rootDir } from './bench-child.js';
import { changedFiles, compiledEngine, describeCode } from './resilience-report.js';
import { idleProbe, loadAverage } from './run-load.js';
import {
  baselineSizes,
  parseScalingArgs,
  scalingUsage,
  type ScalingOptions,
} from './scaling-options.js';
import { writeInputFile } from './scaling-receiver.js';
import {
  renderScalingReport,
  withScalingSection,
  type ScalingFailure,
  type ScalingResults,
} from './scaling-report.js';
import { runBaseline, type BaselineRun } from './scaling-baseline.js';
import { measureMax, runSteps, type MaxRun, type StepsRun } from './scaling-run.js';
import { formatMachine, formatMachineLine, formatRate } from './stats.js';

/** The command line as typed, with the script relative to the package root. */
function commandLine(argv: readonly string[]): string {
  const script = process.argv[1];
  return ['node', script === undefined ? 'dist/bench/scaling.js' : relative(rootDir(), script)]
    .concat(argv)
    .join(' ');
}

/** Runs `f`; a BenchFailure is recorded in `failures` (first line logged) and gives undefined. */
async function attempt<T>(
  f: () => Promise<T>,
  failure: Omit<ScalingFailure, 'message'>,
  failures: ScalingFailure[],
  log: (line: string) => void,
): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    if (!(err instanceof BenchFailure)) throw err;
    failures.push({ ...failure, message: err.message });
    log(`  failed: ${err.message.split('\n')[0]}`);
    return undefined;
  }
}

/** Runs the parts `o` asks for and gathers what the report needs; stops every process it started. */
async function runAll(
  o: ScalingOptions,
  command: string,
  log: (line: string) => void,
): Promise<ScalingResults> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadAverageStart = loadAverage();
  const compiled = compiledEngine();
  const idleOtherLoad = await idleProbe(1000);
  log(
    `load probe: others kept ${idleOtherLoad.toFixed(2)} cores busy; load average ${loadAverageStart}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'roo-bench-scaling-input-'));
  const file = join(dir, 'keys.txt');
  const failures: ScalingFailure[] = [];
  const steps: StepsRun[] = [];
  const baselines: BaselineRun[] = [];
  let max: MaxRun | undefined;
  try {
    const input = writeInputFile(file, o.keys, o.wordsPerLine);
    log(`input: ${o.keys} keys, ${input.lines} lines, ${input.bytes} bytes in ${file}`);
    let rate = o.rate;
    if (rate === undefined) {
      log(`max: 1 worker, unpaced input`);
      max = await attempt(() => measureMax(o, file, log), { part: 'max', rep: 1 }, failures, log);
      if (max !== undefined) rate = max.rate / 2;
    }
    if (rate !== undefined) {
      const at = rate;
      log(`rate: ${formatRate(at)} words/s`);
      for (let rep = 1; rep <= o.reps; rep++) {
        if (o.only.has('steps')) {
          log(`steps ${o.steps.join(' → ')}, rep ${rep}`);
          const run = await attempt(
            () => runSteps(o, at, file, rep, log),
            { part: 'steps', rep },
            failures,
            log,
          );
          if (run !== undefined) steps.push(run);
        }
        if (o.only.has('baseline')) {
          for (const size of baselineSizes(o.steps)) {
            log(`baseline ${size} worker(s), rep ${rep}`);
            const run = await attempt(
              () => runBaseline(o, at, file, size, rep, log),
              { part: 'baseline', rep, workers: size },
              failures,
              log,
            );
            if (run !== undefined) baselines.push(run);
          }
        }
      }
    }
    return {
      options: o,
      startedAt,
      command,
      machine: formatMachine(),
      machineLine: formatMachineLine(),
      code: describeCode(),
      input,
      rate,
      max,
      steps,
      baselines,
      failures,
      idleOtherLoad,
      loadAverageStart,
      loadAverageEnd: loadAverage(),
      seconds: (performance.now() - t0) / 1000,
      rebuilt: changedFiles(compiled, compiledEngine()),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The benchmark's entry: 0 when every run ran, 1 when one failed, 2 for a bad command line. */
export async function main(argv: string[]): Promise<number> {
  let o: ScalingOptions;
  try {
    const parsed = parseScalingArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(scalingUsage());
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(
      `bench/scaling: ${(err as Error).message} (see 'node dist/bench/scaling.js --help')\n`,
    );
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const results = await runAll(o, commandLine(argv), log);
  const report = renderScalingReport(results);
  process.stdout.write(`${report}\n`);
  if (o.writeResults) {
    const path = join(rootDir(), 'bench', 'RESULTS.md');
    writeFileSync(path, withScalingSection(readFileSync(path, 'utf8'), report));
    log(`wrote ${path}`);
  }
  return results.failures.length > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
