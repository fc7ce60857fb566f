/**
 * The latency tables of a `roo bench` report: one per rate, the hand-written
 * floor and roo at each thread count, each percentile the median over fresh
 * processes with its min..max, roo's as a ratio to the floor's; under the
 * higher rate's table, in trace mode, what delayed the slowest messages of
 * each roo subject's first run. Pure: report.ts puts these lines in the
 * report.
 */
import { formatTail } from './latency-trace.js';
import {
  LATENCY_LEVELS,
  latencyRows,
  subjectName,
  type LatencyLevel,
  type LatencyRow,
} from './latency-summary.js';
import { tableFooter } from './report-throughput.js';
import type { BenchResults } from './run.js';
import { latencyReproduceCommand } from './run-options.js';
import { formatMicrosRange, formatRate, markdownTable, type Summary } from './stats.js';

/** What the latency tables read of a run's results. */
export type LatencyInputs = Pick<
  BenchResults,
  | 'options'
  | 'machineLine'
  | 'loads'
  | 'idleOtherLoad'
  | 'latencyRuns'
  | 'latencyFailures'
  | 'latencyRateSource'
  | 'rateSource'
>;

/** The part whose load is reported under each rate's table. */
const PARTS: Record<LatencyLevel, string> = { half: 'latency', tenth: 'latency (tenth)' };

/** How a rate is named under its table's title. */
function levelName(level: LatencyLevel, fromFlag: boolean): string {
  if (level === 'tenth') return 'a tenth of it';
  return fromFlag ? 'the rate of --latency-rate' : "half of (d)'s 2-thread frame rate";
}

/** The columns of a latency table. */
export const LATENCY_COLUMNS = [
  'subject',
  'runs',
  'p50',
  'p99',
  'p99.99',
  'max',
  'p50 / floor',
  'p99 / floor',
  'p99.99 / floor',
  'sent',
  'came back during sending',
  'sender waits',
  'other load',
] as const;

const ratio = (v: number | undefined): string => (v === undefined ? '' : `${v.toFixed(2)}x`);

/** A rate summary: "60.0 k msgs/s (59.8 k..60.0 k)", without a range that reads the same as the median. */
function rates(s: Summary): string {
  const [median, min, max] = [s.median, s.min, s.max].map(formatRate);
  return min === median && max === median
    ? `${median} msgs/s`
    : `${median} msgs/s (${min}..${max})`;
}

/** "3" or "2 (+1 failed)". */
function runsText(row: LatencyRow): string {
  return row.failed > 0 ? `${row.runs} (+${row.failed} failed)` : String(row.runs);
}

/** The cells of one row (LATENCY_COLUMNS). */
export function latencyRowCells(row: LatencyRow): string[] {
  const f = row.figures;
  if (f === undefined) {
    return [subjectName(row.subject), runsText(row), ...LATENCY_COLUMNS.slice(2).map(() => '')];
  }
  const load = f.otherLoad;
  return [
    subjectName(row.subject),
    runsText(row),
    formatMicrosRange(f.p50),
    formatMicrosRange(f.p99),
    formatMicrosRange(f.p9999),
    formatMicrosRange(f.max),
    ratio(row.vsFloor?.p50),
    ratio(row.vsFloor?.p99),
    ratio(row.vsFloor?.p9999),
    rates(f.sentRate),
    rates(f.receivedRate),
    f.senderWaits.join(', '),
    load.min === load.max
      ? load.median.toFixed(2)
      : `${load.median.toFixed(2)} (${load.min.toFixed(2)}..${load.max.toFixed(2)})`,
  ];
}

/** The latency section of the report; no lines when the part did not run. */
export function renderLatency(r: LatencyInputs): string[] {
  const o = r.options;
  const tables = LATENCY_LEVELS.map((level) => ({
    level,
    rows: latencyRows(r.latencyRuns, r.latencyFailures, level),
  })).filter((t) => t.rows.length > 0);
  if (tables.length === 0) return [];
  const out: string[] = [];
  out.push(`### Latency (send → subject → receive), ${r.latencyRateSource ?? r.rateSource ?? ''}`);
  out.push('');
  out.push(
    "The hand-written floor (bench/baseline-latency.ts) does the latency application's work " +
      'in one process and one thread: what this machine, the sender and the receiver allow any ' +
      'Node server. roo is `roo worker` running bench/apps/latency.ts at each `--ponythreads`. ' +
      `Each subject ran ${o.latencyReps} time${o.latencyReps === 1 ? '' : 's'} per rate in fresh ` +
      'processes, interleaved (floor, roo at each count, floor, ...); a percentile is the median ' +
      'over the runs (min..max), and "/ floor" is roo\'s median over the floor\'s.',
  );
  out.push('');
  const higher = r.latencyRuns.find((x) => x.level === 'half')?.result.targetRate;
  for (const { level, rows } of tables) {
    const rate = rows.find((x) => x.figures !== undefined)?.figures?.targetRate;
    out.push(
      `#### At ${rate === undefined ? 'n/a' : `${formatRate(rate)} msgs/s`}, ` +
        levelName(level, o.latencyRate !== undefined),
    );
    out.push('');
    out.push(markdownTable(LATENCY_COLUMNS, rows.map(latencyRowCells)));
    out.push('');
    out.push(
      '"came back during sending" below "sent" means the subject fell behind the rate and ' +
        'messages queued: latency then measures the queue.',
    );
    out.push('');
    const at = higher ?? (rate === undefined ? undefined : level === 'tenth' ? rate * 10 : rate);
    out.push(
      tableFooter(r, at === undefined ? 'n/a' : latencyReproduceCommand(o, at), [PARTS[level]]),
    );
    out.push('');
    if (level !== 'half') continue;
    for (const row of rows) {
      if (row.subject.kind !== 'roo' || !o.trace) continue;
      if (row.tail === undefined) {
        out.push(`${subjectName(row.subject)}: no trace breakdown (no traced run gave one).`);
        out.push('');
        continue;
      }
      out.push(
        `##### ${subjectName(row.subject)}: what delayed the messages above p99 (run ${row.tail.rep})`,
      );
      out.push('');
      out.push(...formatTail(row.tail.breakdown));
      out.push('');
    }
  }
  return out;
}
