/**
 * Cluster benchmark: word count end to end (`roo send --repeat --no-acks` →
 * a cluster of `roo worker`s → a counting receiver in this process) on
 * clusters of each size in `--workers` (default 1 and 2), every worker with
 * `--ponythreads 1`, so that N workers run N scheduler threads. Every
 * throughput figure is a steady state of a fresh cluster, as in part (d) of
 * `roo bench`: start-up (reported apart), warm-up, then the outputs of a
 * window; `--reps` clusters per size, interleaved. Per size the report gives
 * words/s (median, min..max), the ratio to 1 worker, the messages that
 * crossed between workers, and the cores the whole machine and the workers
 * alone kept busy, so that a reader sees when the machine, not the cluster,
 * is the limit. Then the latency at a fixed rate on each size.
 *
 *   node dist/bench/cluster.js [--workers 1,2] [--reps 3] [--write-results]
 *
 * The processes are in cluster-run.ts, the figures' summary in
 * cluster-summary.ts, the report in cluster-report.ts, the flags in
 * cluster-options.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { rootDir } from './bench-child.js';
import { clusterUsage, parseClusterArgs, type ClusterOptions } from './cluster-options.js';
import { renderClusterReport, withClusterSection, type ClusterResults } from './cluster-report.js';
import { runClusterLatency, runClusterSeries } from './cluster-run.js';
import type { ClusterFailure, ClusterLatency, ClusterRun } from './cluster-summary.js';
import { countWords, DEFAULT_SEED, totalWords, writeCorpusFile } from './corpus.js';
import { changedFiles, compiledEngine, describeCode } from './resilience-report.js';
import { idleProbe, loadAverage, PartProbe, type PartLoad } from './run-load.js';
import { formatMachine, formatMachineLine } from './stats.js';

/** The command line as typed, with the script relative to the package root. */
function commandLine(argv: readonly string[]): string {
  const script = process.argv[1];
  return ['node', script === undefined ? 'dist/bench/cluster.js' : relative(rootDir(), script)]
    .concat(argv)
    .join(' ');
}

/** Runs the tables `o` asks for and gathers what the report needs; stops every process it started. */
async function runAll(
  o: ClusterOptions,
  command: string,
  log: (line: string) => void,
): Promise<ClusterResults> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadAverageStart = loadAverage();
  const compiled = compiledEngine();
  const idleOtherLoad = await idleProbe(1000);
  log(
    `load probe: others kept ${idleOtherLoad.toFixed(2)} cores busy; load average ${loadAverageStart}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'roo-bench-cluster-'));
  const corpusPath = join(dir, 'corpus.txt');
  const loads: PartLoad[] = [];
  const failures: ClusterFailure[] = [];
  let runs: ClusterRun[] | undefined;
  let latencies: ClusterLatency[] | undefined;
  try {
    log(`generating a ${o.mb} MiB corpus (seed ${DEFAULT_SEED}) in ${corpusPath}...`);
    const file = writeCorpusFile(corpusPath, {
      bytes: Math.round(o.mb * 1024 * 1024),
      seed: DEFAULT_SEED,
    });
    const corpus = {
      bytes: file.bytes,
      lines: file.lines.length,
      words: totalWords(countWords(file.lines)),
    };
    if (o.only.has('throughput')) {
      log(`throughput: ${o.reps} fresh cluster(s) per size (${o.workers.join(', ')} workers)`);
      const probe = new PartProbe('throughput');
      const series = await runClusterSeries(o, corpusPath, log);
      loads.push(probe.stop());
      runs = series.runs;
      failures.push(...series.failures);
    }
    if (o.only.has('latency')) {
      log(`latency: ${o.latencyRate} msgs/s on ${o.workers.join(', ')} workers`);
      const probe = new PartProbe('latency');
      const latency = await runClusterLatency(o, file.lines, log);
      loads.push(probe.stop());
      latencies = latency.latencies;
      failures.push(...latency.failures);
    }
    return {
      options: o,
      startedAt,
      command,
      machine: formatMachine(),
      machineLine: formatMachineLine(),
      cores: availableParallelism(),
      code: describeCode(),
      corpus,
      seed: DEFAULT_SEED,
      idleOtherLoad,
      loadAverageStart,
      loadAverageEnd: loadAverage(),
      seconds: (performance.now() - t0) / 1000,
      loads,
      runs,
      latencies,
      failures,
      rebuilt: changedFiles(compiled, compiledEngine()),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The benchmark's entry: 0 when every cluster ran, 1 when one failed, 2 for a bad command line. */
export async function main(argv: string[]): Promise<number> {
  let o: ClusterOptions;
  try {
    const parsed = parseClusterArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(clusterUsage());
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(
      `bench/cluster: ${(err as Error).message} (see 'node dist/bench/cluster.js --help')\n`,
    );
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const results = await runAll(o, commandLine(argv), log);
  const report = renderClusterReport(results);
  process.stdout.write(`${report}\n`);
  if (o.writeResults) {
    const path = join(rootDir(), 'bench', 'RESULTS.md');
    writeFileSync(path, withClusterSection(readFileSync(path, 'utf8'), report));
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
