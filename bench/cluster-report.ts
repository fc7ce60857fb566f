/**
 * The cluster benchmark's report (bench/cluster.ts): the head (command,
 * flags, machine, code, corpus, load probe), the throughput table by cluster
 * size with who kept the cores busy, the latency table, the failures, and
 * the report's block in bench/RESULTS.md. Pure.
 */
import {
  clusterLatencyCommand,
  clusterReproduceCommand,
  describeClusterOptions,
  LATENCY_WARMUP_SECONDS,
  type ClusterOptions,
} from './cluster-options.js';
import {
  failedSizes,
  MACHINE_BOUND_SHARE,
  machineBound,
  summarizeClusters,
  type ClusterFailure,
  type ClusterLatency,
  type ClusterRow,
  type ClusterRun,
  workersText,
} from './cluster-summary.js';
import { tableFooter } from './report-throughput.js';
import { withSection, type SectionMarkers } from './resilience-report.js';
import type { PartLoad } from './run-load.js';
import { formatRate, formatRateRange, markdownTable, type Summary } from './stats.js';

/** Everything the report reads of a run. */
export interface ClusterResults {
  readonly options: ClusterOptions;
  /** ISO time the run started, to the second. */
  readonly startedAt: string;
  /** The command line as typed. */
  readonly command: string;
  /** Markdown lines naming the machine and Node (stats.formatMachine). */
  readonly machine: string;
  /** The machine in one line, for the foot of a table (stats.formatMachineLine). */
  readonly machineLine: string;
  /** Logical cores: what "machine busy" is out of. */
  readonly cores: number;
  /** The commit and how far the engine's folders were from it. */
  readonly code: string;
  /** The corpus every process read. */
  readonly corpus: { readonly bytes: number; readonly lines: number; readonly words: number };
  readonly seed: number;
  /** Cores others kept busy in the 1 s idle probe before the run. */
  readonly idleOtherLoad: number;
  readonly loadAverageStart: string;
  readonly loadAverageEnd: string;
  /** Wall seconds of the whole run. */
  readonly seconds: number;
  /** Per table ('throughput', 'latency'), who kept the cores busy. */
  readonly loads: PartLoad[];
  /** The throughput table's clusters; undefined when it did not run. */
  readonly runs: readonly ClusterRun[] | undefined;
  /** The latency table's runs; undefined when it did not run. */
  readonly latencies: readonly ClusterLatency[] | undefined;
  /** Every cluster that failed, of both tables. */
  readonly failures: readonly ClusterFailure[];
  /** Compiled engine files that changed during the run (another build ran). */
  readonly rebuilt: readonly string[];
}

const ratio = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(3)}x`);
const cores = (v: number): string => v.toFixed(2);
const secondsRange = (s: Summary): string =>
  s.min === s.max
    ? `${s.median.toFixed(2)} s`
    : `${s.median.toFixed(2)} s (${s.min.toFixed(2)}..${s.max.toFixed(2)})`;
/** Microseconds as milliseconds with two decimals, as the latency table always showed them. */
const ms = (us: number): string => `${(us / 1000).toFixed(2)} ms`;

/** "3" or "2 (+1 failed)". */
function clusters(row: Pick<ClusterRow, 'clusters' | 'failed'>): string {
  return row.failed > 0 ? `${row.clusters} (+${row.failed} failed)` : String(row.clusters);
}

/** The throughput table's header. */
export const THROUGHPUT_HEADER = [
  'workers',
  'clusters',
  'words/s',
  'min..max',
  'vs 1 worker',
  'worst vs 1 worker',
  'across workers/s',
  'crossed per word',
  'machine busy',
  "workers' CPU",
  "workers' CPU/word",
  'other load',
] as const;

/** One row of the throughput table. */
function throughputRow(row: ClusterRow, machineCores: number): string[] {
  const f = formatRateRange(row.rate);
  const perWorker =
    row.perWorkerCores.length > 1 ? ` (${row.perWorkerCores.map(cores).join(' + ')})` : '';
  return [
    String(row.workers),
    clusters(row),
    f.median,
    f.range,
    ratio(row.vsOne),
    ratio(row.worstVsOne),
    row.crossingRate === 0 ? '0' : formatRate(row.crossingRate),
    row.crossingPerWord.toFixed(2),
    `${cores(row.machineCores)} of ${machineCores}`,
    `${cores(row.workerCores)}${perWorker}`,
    row.cpuNsPerWord === undefined ? 'n/a' : `${row.cpuNsPerWord.toFixed(0)} ns`,
    cores(row.otherLoad),
  ];
}

/**
 * What the table says about the limit: the ratios to 1 worker, and per size
 * whether the machine kept nearly every core busy (then the machine, not
 * the cluster, sets the rate).
 */
export function limitLines(rows: readonly ClusterRow[], machineCores: number): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.workers === 1 || r.vsOne === undefined) continue;
    out.push(
      `${workersText(r.workers)} / 1 worker: ${ratio(r.vsOne)} (median), ${ratio(r.worstVsOne)} ` +
        `(worst cluster); the machine kept ${cores(r.machineCores)} of ${machineCores} cores busy ` +
        `at ${workersText(r.workers)}, ${cores(rows.find((x) => x.workers === 1)?.machineCores ?? NaN)} at 1 worker.`,
    );
  }
  const bound = rows.filter((r) => machineBound(r, machineCores)).map((r) => r.workers);
  const share = `${(MACHINE_BOUND_SHARE * 100).toFixed(0)} %`;
  out.push(
    bound.length === 0
      ? `No size kept ${share} of the machine's ${machineCores} cores busy: the rates are the clusters' own.`
      : `At ${bound.map(workersText).join(' and ')} the machine ` +
          `kept at least ${share} of its ${machineCores} cores busy (workers, roo send, the receiver ` +
          `and everyone else): there the machine, not the cluster, sets the rate.`,
  );
  return out;
}

/** The throughput table, the lines under it, and its footer. */
export function renderClusterThroughput(r: ClusterResults): string[] {
  const runs = r.runs ?? [];
  const o = r.options;
  const rows = summarizeClusters(runs, r.failures);
  const out: string[] = [
    `### Throughput: roo send --repeat --no-acks → N workers (--ponythreads 1 each) → receiver, steady state`,
    '',
    `${o.reps} fresh cluster${o.reps === 1 ? '' : 's'} per size, interleaved; ${o.warmupSeconds} s warm-up, ` +
      `then the outputs of a ${o.seconds} s window. "machine busy": cores the whole machine kept busy ` +
      `in the window (/proc/stat: the workers, roo send, the receiver in this process, everyone else); ` +
      `"workers' CPU": the worker processes alone (/proc/PID/stat), per worker in brackets; ` +
      `"crossed per word": messages the workers sent each other per word out.`,
    '',
  ];
  const dead = failedSizes(runs, r.failures).map((w) => [
    String(w),
    `0 (+${r.failures.filter((f) => f.table === 'throughput' && f.workers === w).length} failed)`,
    ...THROUGHPUT_HEADER.slice(2).map(() => 'n/a'),
  ]);
  const table = [...rows.map((row) => throughputRow(row, r.cores)), ...dead].sort(
    (a, b) => Number(a[0]) - Number(b[0]),
  );
  out.push(markdownTable(THROUGHPUT_HEADER, table), '');
  if (rows.length > 0) {
    out.push(
      `Start-up (spawn until every worker logged ready; in no rate): ` +
        rows.map((row) => `${workersText(row.workers)} ${secondsRange(row.start)}`).join(', ') +
        '.',
      '',
      ...limitLines(rows, r.cores),
      '',
    );
  }
  out.push(tableFooter(footerInputs(r), clusterReproduceCommand(o), ['throughput']), '');
  return out;
}

/** The latency table and its footer. */
export function renderClusterLatency(r: ClusterResults): string[] {
  const o = r.options;
  const rows = (r.latencies ?? []).map((l) =>
    l.summary === undefined
      ? [String(l.workers), 'failed', '', '', '']
      : [
          String(l.workers),
          ms(l.summary.p50),
          ms(l.summary.p99),
          ms(l.summary.p9999),
          ms(l.summary.max),
        ],
  );
  return [
    `### Latency at ${formatRate(o.latencyRate)} msgs/s, by cluster size`,
    '',
    `bench/apps/latency.ts (one word per frame, keyed state), 1 scheduler thread per worker, one ` +
      `fresh cluster per size; ${LATENCY_WARMUP_SECONDS} s sent unrecorded, then ${o.latencySeconds} s ` +
      `recorded. With 2 workers about half of the keys live on the other worker: the difference is ` +
      `what a hop between workers adds.`,
    '',
    markdownTable(['workers', 'p50', 'p99', 'p99.99', 'max'], rows),
    '',
    tableFooter(footerInputs(r), clusterLatencyCommand(o), ['latency']),
    '',
  ];
}

/** What tableFooter reads: the machine line, the per-table loads and the idle probe. */
function footerInputs(
  r: ClusterResults,
): Pick<ClusterResults, 'machineLine' | 'loads' | 'idleOtherLoad'> {
  return { machineLine: r.machineLine, loads: r.loads, idleOtherLoad: r.idleOtherLoad };
}

/** The markdown report of a run. */
export function renderClusterReport(r: ClusterResults): string {
  const o = r.options;
  const sizes = o.workers.map(String).join(' and ');
  const out: string[] = [
    `## Cluster: word count on ${sizes} workers, ${r.startedAt}`,
    '',
    `**Command:** \`${r.command}\``,
    `**Flags:** \`${describeClusterOptions(o)}\``,
    r.machine,
    `**Code:** ${r.code}`,
    `**Corpus:** ${(r.corpus.bytes / 1e6).toFixed(1)} MB generated (seed ${r.seed}), ` +
      `${r.corpus.lines} lines, ${r.corpus.words} words, sent round and round`,
    `**Load probe:** before the run, other processes kept ${r.idleOtherLoad.toFixed(2)} cores busy ` +
      `(1 s idle probe); load average ${r.loadAverageStart} at the start, ${r.loadAverageEnd} at ` +
      `the end; whole run ${r.seconds.toFixed(0)} s.`,
    '',
  ];
  if (r.runs !== undefined) out.push(...renderClusterThroughput(r));
  if (r.latencies !== undefined) out.push(...renderClusterLatency(r));
  if (r.rebuilt.length > 0) {
    out.push(
      `**Warning:** ${r.rebuilt.length} compiled engine files under dist/ changed during the run ` +
        `(another build): clusters started after that ran other code. For example ` +
        `${r.rebuilt.slice(0, 3).join(', ')}.`,
      '',
    );
  }
  if (r.failures.length > 0) {
    out.push('### Failures', '');
    for (const f of r.failures) out.push(`- **${f.table}**: ${f.message.replace(/\n/g, '\n  ')}`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** Markers of the cluster benchmark's block in RESULTS.md. */
export const CLUSTER_MARKERS: SectionMarkers = {
  begin: '<!-- cluster: written by node dist/bench/cluster.js --write-results -->',
  end: '<!-- cluster: end of the generated part -->',
};

/** RESULTS.md with `report` between the cluster markers (see withSection). */
export function withClusterSection(previous: string, report: string): string {
  return withSection(previous, CLUSTER_MARKERS, report);
}
