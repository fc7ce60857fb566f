/**
 * The resilience benchmark's report: how its figures are written, the lines
 * about the run's code and machine load, and its block in bench/RESULTS.md
 * (withSection, which the cluster benchmark's block goes through too).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rootDir } from './bench-child.js';
import { NOTES_MARKER } from './report.js';
import { median, summarize } from './stats.js';

/** What one part adds to the report, and whether it failed. */
export interface PartReport {
  readonly lines: string[];
  readonly failed: boolean;
}

/** Milliseconds, as `12.3 ms` or `1.23 s`; `n/a` when unknown. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'n/a';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}

/** Bytes, in B, KiB or MiB. */
export function fmtBytes(b: number): string {
  if (b >= 1024 * 1024) return `${(b / (1024 * 1024)).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

/** The median, or undefined for no values. */
export function median0(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : median(values);
}

/** "median (min..max)" of ms values. */
export function msSpread(values: readonly number[]): string {
  if (values.length === 0) return 'n/a';
  const s = summarize(values);
  return `${fmtMs(s.median)} (${fmtMs(s.min)}..${fmtMs(s.max)})`;
}

/** The markers around one generated block of RESULTS.md, below its notes marker. */
export interface SectionMarkers {
  readonly begin: string;
  readonly end: string;
}

/** Markers of the resilience benchmark's block in RESULTS.md. */
const RESILIENCE_MARKERS: SectionMarkers = {
  begin: '<!-- resilience: written by node dist/bench/resilience.js --write-results -->',
  end: '<!-- resilience: end of the generated part -->',
};

/**
 * Puts `section` between `markers`: in place of the block they hold, or
 * else at the end, below the notes marker (added if missing), where
 * `roo bench --write-results` keeps it. Other blocks stay where they are.
 */
export function withSection(previous: string, markers: SectionMarkers, section: string): string {
  const { begin, end } = markers;
  const block = `${begin}\n${section.trim()}\n${end}`;
  const b = previous.indexOf(begin);
  const e = previous.indexOf(end);
  if (b >= 0 && e > b) return previous.slice(0, b) + block + previous.slice(e + end.length);
  const base = previous.includes(NOTES_MARKER)
    ? previous
    : `${previous.trimEnd()}\n\n${NOTES_MARKER}\n`;
  return `${base.trimEnd()}\n\n${block}\n`;
}

/** Puts the resilience report between its markers (withSection). */
export function withResilienceSection(previous: string, section: string): string {
  return withSection(previous, RESILIENCE_MARKERS, section);
}

/**
 * The commit the run's code came from, and how many files of the engine's
 * folders differed from it: other engineers work in the same tree.
 */
export function describeCode(): string {
  try {
    const git = (args: string[]): string =>
      execFileSync('git', args, {
        cwd: rootDir(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const head = git(['rev-parse', '--short', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', 'runtime', 'actors', 'protocols'])
      .split('\n')
      .filter((l) => l.length > 0).length;
    return `commit ${head}; ${dirty === 0 ? 'runtime/, actors/, protocols/ as committed' : `${dirty} files under runtime/, actors/, protocols/ differed from it`}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** A content hash of every compiled engine file (dist/runtime, dist/actors, dist/protocols). */
export function compiledEngine(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js'))
        files.set(path, createHash('sha1').update(readFileSync(path)).digest('hex'));
    }
  };
  for (const d of ['runtime', 'actors', 'protocols']) walk(join(rootDir(), 'dist', d));
  return files;
}

/** Files of `after` that are new or differ from `before`. */
export function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([path, hash]) => before.get(path) !== hash).map(([path]) => path);
}

/** The 1, 5 and 15 minute load averages, from /proc/loadavg. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}
