/**
 * Shared helpers for the benchmarks: summaries of repeated runs, rate
 * formatting, markdown tables, the machine description every result is
 * printed with, and an HDR latency recorder.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { build, type Histogram } from 'hdr-histogram-js';

/** Median, minimum and maximum of a set of measurements. */
export interface Summary {
  /** Middle value (mean of the two middle values for an even count). */
  median: number;
  /** Smallest value. */
  min: number;
  /** Largest value. */
  max: number;
}

/** Median of `values`; throws on an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Median, min and max of `values`; throws on an empty list. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no values');
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Divisor and suffix for a value's SI unit. */
function unitOf(value: number): { div: number; suffix: string } {
  const abs = Math.abs(value);
  if (abs >= 1e9) return { div: 1e9, suffix: ' G' };
  if (abs >= 1e6) return { div: 1e6, suffix: ' M' };
  if (abs >= 1e3) return { div: 1e3, suffix: ' k' };
  return { div: 1, suffix: '' };
}

/** Two decimals for M and G; for smaller units fewer as the number grows. */
function digits(scaled: number, suffix: string): string {
  if (suffix === ' M' || suffix === ' G') return scaled.toFixed(2);
  const abs = Math.abs(scaled);
  return scaled.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

/**
 * A rate (or any count) with an SI suffix: 12_330_000 → "12.33 M",
 * 741_000 → "741 k", 950 → "950".
 */
export function formatRate(value: number): string {
  const { div, suffix } = unitOf(value);
  return digits(value / div, suffix) + suffix;
}

/** A rate summary as `{ median: "11.88 M", range: "11.67..11.91 M" }`, in the median's unit. */
export function formatRateRange(s: Summary): { median: string; range: string } {
  const { div, suffix } = unitOf(s.median);
  return {
    median: digits(s.median / div, suffix) + suffix,
    range: `${digits(s.min / div, suffix)}..${digits(s.max / div, suffix)}${suffix}`,
  };
}

/** A ratio to a baseline, three decimals: 0.118 → "0.118x". */
export function formatRatio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(3)}x`;
}

/** A GitHub-flavoured markdown table; cells are escaped for '|'. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** What the figures were measured on. */
export interface MachineInfo {
  /** CPU model of the first core. */
  cpu: string;
  /** Logical cores the OS reports. */
  cores: number;
  /** Total memory in bytes. */
  memoryBytes: number;
  /** OS name, release and architecture. */
  os: string;
  /** Node version, e.g. "v20.20.2". */
  node: string;
  /** Node flags of this process (process.execArgv). */
  execArgv: readonly string[];
}

/** Describes the machine and Node process the benchmark runs in. */
export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    execArgv: [...process.execArgv],
  };
}

/** The machine description as markdown lines, for the head of a report. */
export function formatMachine(info: MachineInfo = describeMachine()): string {
  const gib = (info.memoryBytes / 1024 ** 3).toFixed(1);
  const flags = info.execArgv.length > 0 ? info.execArgv.join(' ') : '(none)';
  return [
    `**Machine:** ${info.cpu}, ${info.cores} cores, ${gib} GiB RAM, ${info.os}`,
    `**Node:** ${info.node}, flags: ${flags}`,
  ].join('\n');
}

/** The machine in one short line, for the foot of a table: "AMD EPYC, 2 cores, Node v20.20.2". */
export function formatMachineLine(info: MachineInfo = describeMachine()): string {
  return `${info.cpu}, ${info.cores} cores, Node ${info.node}`;
}

/** Busy CPU time of the whole machine (all cores, all processes), in ms. */
function machineBusyMs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

/** What a LoadProbe saw over one measured interval. */
export interface LoadSample {
  /** Wall time of the interval, in ms. */
  wallMs: number;
  /** This process's CPU time over wall time (above 1 with busy helper threads). */
  ownCpu: number;
  /**
   * Cores kept busy by everything else on the machine (other processes,
   * the kernel) during the interval: about 0 on a quiet machine, near 1
   * when another process used a whole core. Tick-resolution (10 ms) data,
   * so only meaningful for intervals of a few hundred ms or more.
   */
  otherLoad: number;
}

/**
 * CPU time of process `pid` so far, in ms (utime + stime of /proc/PID/stat,
 * 10 ms ticks), or undefined once it is gone (or off Linux).
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields from 3 (state) on; utime and stime are fields 14 and 15, in USER_HZ (100) ticks.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Measures how busy the rest of the machine was while a benchmark ran, so a
 * result taken on a shared machine can be told from a quiet one. The
 * processes `pids` (a part's running children) count as the benchmark's own,
 * not as the rest of the machine.
 */
export class LoadProbe {
  private wall0 = 0;
  private cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };
  private busy0 = 0;
  private pids0: (number | undefined)[] = [];

  /** A probe; `pids` are processes whose CPU is not "other load". */
  constructor(private readonly pids: readonly number[] = []) {}

  /** Starts an interval. */
  start(): void {
    this.busy0 = machineBusyMs();
    this.pids0 = this.pids.map(processCpuMs);
    this.cpu0 = process.cpuUsage();
    this.wall0 = performance.now();
  }

  /** Ends the interval started by `start()`. */
  stop(): LoadSample {
    const wallMs = performance.now() - this.wall0;
    const cpu = process.cpuUsage(this.cpu0);
    let pidsMs = 0;
    this.pids.forEach((pid, i) => {
      const before = this.pids0[i];
      const after = processCpuMs(pid);
      if (before !== undefined && after !== undefined) pidsMs += after - before;
    });
    const busyMs = machineBusyMs() - this.busy0;
    const ownMs = (cpu.user + cpu.system) / 1000;
    return {
      wallMs,
      ownCpu: ownMs / wallMs,
      otherLoad: Math.max(0, (busyMs - ownMs - pidsMs) / wallMs),
    };
  }
}

/** Latency percentiles, in microseconds. */
export interface LatencySummary {
  /** Values recorded. */
  count: number;
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** 99.99th percentile. */
  p9999: number;
  /** Largest value recorded. */
  max: number;
  /** Arithmetic mean. */
  mean: number;
}

/**
 * Records latencies in microseconds in an HDR histogram (3 significant
 * digits, pure JS build, auto-resizing so no value is out of range) and
 * reports p50 / p99 / p99.99.
 */
export class LatencyRecorder {
  private readonly histogram: Histogram;

  constructor() {
    this.histogram = build({
      useWebAssembly: false,
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
      autoResize: true,
    });
  }

  /** Records one latency in microseconds (rounded; negatives count as 0). */
  record(micros: number): void {
    this.histogram.recordValue(micros > 0 ? Math.round(micros) : 0);
  }

  /** Values recorded so far. */
  get count(): number {
    return this.histogram.totalCount;
  }

  /** Value at `percentile` (0..100), in microseconds. */
  percentile(percentile: number): number {
    return this.histogram.getValueAtPercentile(percentile);
  }

  /** p50 / p99 / p99.99 / max / mean, in microseconds. */
  summary(): LatencySummary {
    const h = this.histogram;
    return {
      count: h.totalCount,
      p50: h.getValueAtPercentile(50),
      p99: h.getValueAtPercentile(99),
      p9999: h.getValueAtPercentile(99.99),
      max: h.maxValue,
      mean: h.mean,
    };
  }

  /** Forgets every recorded value. */
  reset(): void {
    this.histogram.reset();
  }
}

/** Divisor and unit of a latency in microseconds. */
function microsUnit(micros: number): { div: number; unit: string } {
  if (micros >= 1_000_000) return { div: 1_000_000, unit: 's' };
  if (micros >= 1000) return { div: 1000, unit: 'ms' };
  return { div: 1, unit: 'µs' };
}

/** A number of `unit`: two decimals for ms and s, fewer for µs as the number grows. */
function microsDigits(value: number, unit: string): string {
  return unit === 'µs' ? digits(value, '') : value.toFixed(2);
}

/** A latency in microseconds for a table: "850 µs", "1.25 ms". */
export function formatMicros(micros: number): string {
  const { div, unit } = microsUnit(micros);
  return `${microsDigits(micros / div, unit)} ${unit}`;
}

/**
 * A summary of latencies in microseconds, the range in the median's unit:
 * "2.40 ms (1.90..3.70)"; just the median when min and max are equal.
 */
export function formatMicrosRange(s: Summary): string {
  if (s.min === s.max) return formatMicros(s.median);
  const { div, unit } = microsUnit(s.median);
  const n = (x: number): string => microsDigits(x / div, unit);
  return `${formatMicros(s.median)} (${n(s.min)}..${n(s.max)})`;
}
