/**
 * The throughput tables of a `roo bench` report: (a) and (c), word count in
 * process by thread count; (b), RxJS; (d), end to end by thread count; the
 * table a user reads to choose `--ponythreads`; every process one by one,
 * with its CPU profiles under `--profile`. Each table ends with the command
 * that measures it again, the machine and the load. Pure: report.ts puts
 * these lines in the report.
 */
import { describeProfiles, profilesComplete } from './profiles.js';
import type { BenchResults } from './run.js';
import { reproduceCommand, type Part } from './run-options.js';
import { formatRate, formatRateRange, markdownTable } from './stats.js';
import {
  bestRow,
  rateSummary,
  runsOf,
  summarizeSweep,
  type ProcessRun,
  type Series,
  type ThreadRow,
} from './sweep.js';

/** What the throughput tables read of a run's results. */
export type ThroughputInputs = Pick<
  BenchResults,
  | 'options'
  | 'machineLine'
  | 'cores'
  | 'idleOtherLoad'
  | 'loads'
  | 'runs'
  | 'processFailures'
  | 'rxLoop'
  | 'rx'
>;

/** How each series is named in the tables. */
const SERIES_NAMES: Record<Series, string> = {
  loop: '(a) hand-written loop',
  engine: '(c) roo engine in process',
  'tcp-roo': '(d) roo send → roo worker → receiver',
  'tcp-hand': '(d) roo send → hand-written TCP word count → receiver',
};

const ratio = (v: number | undefined): string => (v === undefined ? '' : `${v.toFixed(3)}x`);
const ns = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(0)} ns`);
const busy = (u: readonly number[] | undefined): string =>
  u === undefined ? '' : u.map((x) => `${(x * 100).toFixed(0)}%`).join(' / ');
const seconds = (v: number): string => `${v.toFixed(2)} s`;
const threadsText = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;

/** "3" or "2 (+1 failed)". */
function processes(row: Pick<ThreadRow, 'processes' | 'failed'>): string {
  return row.failed > 0 ? `${row.processes} (+${row.failed} failed)` : String(row.processes);
}

/** Other load of the first of `parts` that ran, as a number of cores. */
function partLoad(r: Pick<ThroughputInputs, 'loads'>, parts: readonly string[]): string {
  const l = r.loads.find((x) => parts.includes(x.part));
  return l === undefined ? 'n/a' : l.otherLoad.toFixed(2);
}

/**
 * The line under a table: the command that measures it again, the machine,
 * and the load during the first of `loadParts` that ran.
 */
export function tableFooter(
  r: Pick<ThroughputInputs, 'machineLine' | 'loads' | 'idleOtherLoad'>,
  command: string,
  loadParts: readonly string[],
): string {
  return (
    `Reproduce: \`${command}\`. Machine: ${r.machineLine}. ` +
    `Load: other processes kept ${partLoad(r, loadParts)} cores busy during the part ` +
    `(${r.idleOtherLoad.toFixed(2)} in the idle probe before the run).`
  );
}

/** tableFooter with the command that measures `parts` again. */
function footer(r: ThroughputInputs, parts: readonly Part[], loadParts: readonly string[]): string {
  return tableFooter(r, reproduceCommand(r.options, parts), loadParts);
}

/** One row of a by-thread-count table. */
function sweepRow(name: string, row: ThreadRow, extra: readonly string[]): string[] {
  const f = formatRateRange(row.rate);
  return [
    name,
    String(row.threads),
    processes(row),
    f.median,
    f.range,
    ratio(row.vsOne),
    ratio(row.worstVsOne),
    ...extra,
    ns(row.cpuNsPerWord),
    row.otherLoad.toFixed(2),
  ];
}

/** A row for a thread count whose every process failed (the failures are listed apart). */
function failedRow(r: ThroughputInputs, series: Series, threads: number, width: number): string[] {
  const n = r.processFailures.filter((f) => f.series === series && f.threads === threads).length;
  const cells = [SERIES_NAMES[series], String(threads), `0 (+${n} failed)`, 'n/a'];
  return [...cells, ...Array.from({ length: width - cells.length }, () => '')];
}

/**
 * The rows of `series` by thread count, with `extra` cells after the ratios
 * to 1 thread; counts whose every process failed get a row that says so.
 */
function seriesRows(
  r: ThroughputInputs,
  series: Series,
  extra: (row: ThreadRow) => readonly string[],
): string[][] {
  const rows = summarizeSweep(r.runs, series, r.processFailures);
  const failed = r.processFailures
    .filter((f) => f.series === series && !rows.some((x) => x.threads === f.threads))
    .map((f) => f.threads);
  const out = rows.map((row) => ({
    threads: row.threads,
    cells: sweepRow(SERIES_NAMES[series], row, extra(row)),
  }));
  for (const threads of new Set(failed))
    out.push({ threads, cells: failedRow(r, series, threads, 10) });
  return out.sort((a, b) => a.threads - b.threads).map((x) => x.cells);
}

/** The rows of a hand-written baseline (1 thread), without ratios to 1 thread. */
function baselineRows(r: ThroughputInputs, series: Series, extra: readonly string[]): string[][] {
  const rows = summarizeSweep(r.runs, series, r.processFailures);
  if (rows.length === 0) return seriesRows(r, series, () => extra);
  return rows.map((row) =>
    sweepRow(SERIES_NAMES[series], { ...row, vsOne: undefined, worstVsOne: undefined }, extra),
  );
}

/** (a) and (c): the steady state in fresh processes, by thread count. */
function renderInProcess(r: ThroughputInputs): string[] {
  const o = r.options;
  const c = summarizeSweep(r.runs, 'engine', r.processFailures);
  const loop = rateSummary(r.runs, 'loop');
  const hasLoop =
    runsOf(r.runs, 'loop').length > 0 || r.processFailures.some((f) => f.series === 'loop');
  if (!hasLoop && c.length === 0 && !r.processFailures.some((f) => f.series === 'engine')) {
    return [];
  }
  const rows = [
    ...(hasLoop ? baselineRows(r, 'loop', ['']) : []),
    ...seriesRows(r, 'engine', (row) => [busy(row.utilization)]),
  ];
  const out = [
    `### (a) and (c): word count in process, steady state by thread count`,
    '',
    `Each row: ${o.reps} fresh process${o.reps === 1 ? '' : 'es'} per count, interleaved; each ran ` +
      `${o.warmupSeconds} s of warm-up, then words/s = outputs reaching the sink over a ${o.seconds} s window. ` +
      `"worst" is the slowest process; CPU per word is the whole process's, every thread.`,
    '',
    markdownTable(
      [
        'variant',
        'threads',
        'processes',
        'words/s (median)',
        'min..max',
        'median / 1 thread',
        'worst / 1 thread',
        'busy per thread',
        'CPU per word',
        'other load',
      ],
      rows,
    ),
    '',
  ];
  const c1 = c.find((x) => x.threads === 1);
  if (c1 !== undefined && loop !== undefined) {
    out.push(
      `**1 thread / (a):** ${ratio(c1.rate.median / loop.median)} ` +
        `(${formatRate(c1.rate.median)} / ${formatRate(loop.median)} words/s, medians).`,
    );
    out.push('');
  }
  if (c.length > 0) {
    const starts = c.map(
      (x) =>
        `${threadsText(x.threads)} ${seconds(x.start.median)} ` +
        `(${x.start.min.toFixed(2)}..${x.start.max.toFixed(2)})`,
    );
    out.push(
      `**Start-up** (Engine.prepare and runAlone until ready, in no rate above), median (min..max): ${starts.join('; ')}.`,
    );
    out.push('');
  }
  out.push(footer(r, o.only.has('c') ? ['a', 'c'] : ['a'], ['a,c', 'c', 'a']));
  out.push('');
  return out;
}

/** (b): RxJS against the loop measured the same way, in this process. */
function renderRx(r: ThroughputInputs): string[] {
  if (r.rxLoop === undefined) return [];
  const base = r.rxLoop.summary.median;
  const rows = [r.rxLoop, ...r.rx].map((v) => {
    const f = formatRateRange(v.summary);
    return [v.name, f.median, f.range, ratio(v.summary.median / base), v.otherLoad.toFixed(2)];
  });
  return [
    `### (b) RxJS, in this process (1 warm-up + ${r.options.reps} runs of the whole corpus each)`,
    '',
    markdownTable(
      ['variant', 'words/s (median)', 'min..max', 'vs the loop here', 'other load'],
      rows,
    ),
    '',
    footer(r, ['b'], ['b']),
    '',
  ];
}

/** (d): end to end over TCP, by thread count, against the hand-written TCP word count. */
function renderTcp(r: ThroughputInputs): string[] {
  const o = r.options;
  const d = summarizeSweep(r.runs, 'tcp-roo', r.processFailures);
  const hand = rateSummary(r.runs, 'tcp-hand');
  const hasHand = hand !== undefined || r.processFailures.some((f) => f.series === 'tcp-hand');
  if (d.length === 0 && !hasHand && !r.processFailures.some((f) => f.series === 'tcp-roo')) {
    return [];
  }
  const vsHand = (v: number): string => (hand === undefined ? 'n/a' : ratio(v / hand.median));
  const rows = [
    ...(hasHand ? baselineRows(r, 'tcp-hand', [hand === undefined ? '' : '1.000x']) : []),
    ...seriesRows(r, 'tcp-roo', (row) => [vsHand(row.rate.median)]),
  ];
  return [
    `### (d) end to end over TCP, steady state by thread count`,
    '',
    `Each row: ${o.reps} fresh worker process${o.reps === 1 ? '' : 'es'} per count (its own sender and ` +
      `receiver), interleaved; \`roo send --repeat --no-acks\` of the corpus file, ${o.warmupSeconds} s of ` +
      `warm-up, then outputs reaching the receiver over a ${o.seconds} s window. CPU per word is the ` +
      `worker process's (or the hand-written one's).`,
    '',
    markdownTable(
      [
        'variant',
        'threads',
        'processes',
        'words/s (median)',
        'min..max',
        'median / 1 thread',
        'worst / 1 thread',
        'median / hand-written',
        'CPU per word',
        'other load',
      ],
      rows,
    ),
    '',
    footer(r, ['d'], ['d']),
    '',
  ];
}

/** Each thread count against the best one, in (c) and (d): what to pass as --ponythreads. */
function renderChoice(r: ThroughputInputs): string[] {
  const c = summarizeSweep(r.runs, 'engine');
  const d = summarizeSweep(r.runs, 'tcp-roo');
  if (c.length + d.length < 2) return [];
  const counts = [...new Set([...c, ...d].map((x) => x.threads))].sort((a, b) => a - b);
  const cells = (rows: readonly ThreadRow[], threads: number): string[] => {
    const row = rows.find((x) => x.threads === threads);
    const best = bestRow(rows);
    if (row === undefined || best === undefined) return ['', ''];
    return [ratio(row.vsBest), ratio(row.rate.min / best.rate.median)];
  };
  const best = (rows: readonly ThreadRow[], name: string): string => {
    const b = bestRow(rows);
    return b === undefined
      ? ''
      : `${name}: ${threadsText(b.threads)}, ${formatRate(b.rate.median)} words/s`;
  };
  return [
    `### Choosing --ponythreads (${r.cores} cores here)`,
    '',
    markdownTable(
      [
        '--ponythreads',
        '(c) median / best',
        '(c) worst / best',
        '(d) median / best',
        '(d) worst / best',
      ],
      counts.map((t) => [String(t), ...cells(c, t), ...cells(d, t)]),
    ),
    '',
    `Best: ${[best(c, '(c)'), best(d, '(d)')].filter((s) => s !== '').join('; ')}.`,
    '',
  ];
}

/** Every measured process of (a), (c) and (d), in the order they ran within each series. */
function renderProcesses(r: ThroughputInputs): string[] {
  if (r.runs.length === 0) return [];
  const profiles = r.options.profile !== undefined;
  const cell = (p: ProcessRun): string[] => {
    const base = [
      SERIES_NAMES[p.series],
      String(p.threads),
      String(p.rep),
      seconds(p.startSeconds),
      formatRate(p.warmupRate),
      formatRate(p.rate),
      ns(p.cpuNsPerWord),
      busy(p.utilization),
      p.otherLoad.toFixed(2),
    ];
    if (!profiles) return base;
    return [...base, p.profile === undefined ? 'none' : describeProfiles(p.profile)];
  };
  const out = [
    '### The processes one by one',
    '',
    markdownTable(
      [
        'process',
        'threads',
        'rep',
        'start-up',
        'warm-up words/s',
        'window words/s',
        'CPU per word',
        'busy per thread',
        'other load',
        ...(profiles ? ['profiles'] : []),
      ],
      r.runs.map(cell),
    ),
    '',
  ];
  if (profiles) {
    const all = r.runs.map((p) => p.profile).filter((p) => p !== undefined);
    const complete = all.filter(profilesComplete).length;
    out.push(
      `**CPU profiles:** under \`${r.options.profile}\`, one directory per process ` +
        `(\`<part>-<threads>t-<rep>\`), one \`.cpuprofile\` per thread: the main thread, each ` +
        `scheduler thread, and for a TypeScript application the module-loader thread beside each ` +
        `of them. ${complete} of ${all.length} processes left every main and scheduler thread's ` +
        `profile. Open them in Chrome DevTools (Performance, Load profile) or speedscope. ` +
        `Profiled processes run a little slower: compare these figures only with other --profile runs.`,
    );
    out.push('');
  }
  return out;
}

/** The throughput sections of the report, as markdown lines. */
export function renderThroughput(r: ThroughputInputs): string[] {
  return [
    ...renderInProcess(r),
    ...renderRx(r),
    ...renderTcp(r),
    ...renderChoice(r),
    ...renderProcesses(r),
  ];
}
