/**
 * The targets `roo bench` reports against (never enforces): each judged on a
 * run's results as MET, MISSED or NOT RUN, with what was measured.
 */
import type { VariantResult } from './baselines.js';
import { formatMicros, summarize } from './stats.js';
import type { BenchResults } from './run.js';

/** A target and how the run did against it. */
export interface TargetCheck {
  /** What is aimed for. */
  target: string;
  /** What was measured. */
  measured: string;
  /** MET, MISSED, or NOT RUN. */
  status: 'MET' | 'MISSED' | 'NOT RUN';
}

/** Mean of the (a) medians before and after the engine runs: the baseline of (b) and (c). */
export function loopBaseline(
  r: Pick<BenchResults, 'loopBefore' | 'loopAfter'>,
): number | undefined {
  const medians = [r.loopBefore, r.loopAfter]
    .filter((v): v is VariantResult => v !== undefined)
    .map((v) => v.summary.median);
  return medians.length === 0 ? undefined : medians.reduce((a, b) => a + b, 0) / medians.length;
}

/** Median of a series of rates; undefined for none. */
export function medianOf(rates: readonly number[] | undefined): number | undefined {
  return rates === undefined || rates.length === 0 ? undefined : summarize(rates).median;
}

/** MB with one decimal. */
export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The targets of the brief, judged on `r`. */
export function evaluateTargets(r: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (
    target: string,
    value: number | undefined,
    ok: (v: number) => boolean,
    show: (v: number) => string,
  ): void => {
    checks.push(
      value === undefined || !Number.isFinite(value)
        ? { target, measured: 'n/a', status: 'NOT RUN' }
        : { target, measured: show(value), status: ok(value) ? 'MET' : 'MISSED' },
    );
  };
  const base = loopBaseline(r);
  const c1 = medianOf(r.engine.find((s) => s.threads === 1)?.rates);
  const c2 = medianOf(r.engine.find((s) => s.threads === 2)?.rates);
  const ratio = (v: number): string => `${v.toFixed(3)}x`;
  check(
    '(c) engine, 1 thread ≥ 0.5 × (a)',
    c1 !== undefined && base !== undefined ? c1 / base : undefined,
    (v) => v >= 0.5,
    ratio,
  );
  check(
    '(c) engine, 2 threads ≥ 1.5 × 1 thread',
    c1 !== undefined && c2 !== undefined ? c2 / c1 : undefined,
    (v) => v >= 1.5,
    ratio,
  );
  const dRoo = medianOf(r.tcpRoo?.rates);
  const dBase = medianOf(r.tcpBaseline?.rates);
  const dRuns = Math.min(r.tcpRoo?.rates.length ?? 0, r.tcpBaseline?.rates.length ?? 0);
  check(
    '(d) end to end ≥ 0.5 × hand-written TCP',
    dRoo !== undefined && dBase !== undefined ? dRoo / dBase : undefined,
    (v) => v >= 0.5,
    (v) => ratio(v) + (dRuns < r.options.reps ? ` (${dRuns} of ${r.options.reps} runs)` : ''),
  );
  check(
    'latency p99 ≤ 5 ms at half the maximum rate',
    r.latency?.summary.p99,
    (v) => v <= 5000,
    formatMicros,
  );
  if (r.memory === undefined) {
    checks.push({
      target: 'memory flat and peak RSS < 300 MB',
      measured: 'n/a',
      status: 'NOT RUN',
    });
  } else {
    const m = r.memory;
    const ok = m.flat && m.peakBytes < 300 * 1024 * 1024;
    checks.push({
      target: 'memory flat and peak RSS < 300 MB',
      measured: `peak ${mb(m.peakBytes)}; ${m.flat ? 'flat' : 'growing'} (first quarter peak ${mb(m.firstQuarter.peak)}, last ${mb(m.lastQuarter.peak)})`,
      status: ok ? 'MET' : 'MISSED',
    });
  }
  return checks;
}
