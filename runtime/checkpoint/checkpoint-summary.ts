/**
 * What the checkpoint coordinator logs at INFO: not a line per checkpoint
 * (at Wallaroo's intervals that is several lines a second, each of them
 * routine), but a summary every SUMMARY_EVERY_MS and on the first commit:
 * how many committed, the newest id, how long they took (mean and max, from
 * the order to the commit) and how many bytes this worker's snapshots
 * held. Each commit is still logged at debug level, as
 * `checkpoint N committed`; the summary ends with the newest as
 * `newest: checkpoint N committed`, so a script that looks for the newest
 * committed checkpoint in the log finds it in either. Pure: facts in, a
 * line (or nothing) out; the driver owns the clock and the logger.
 */

/** How often the summary is logged while checkpoints commit, ms. */
export const SUMMARY_EVERY_MS = 30_000;

/** Counts of the checkpoints committed since the last summary. */
export class CheckpointSummary {
  private count = 0;
  private totalMs = 0;
  private maxMs = 0;
  private bytes = 0;
  private newest = 0;
  private first = true;
  private since: number;

  constructor(nowMs: number) {
    this.since = nowMs;
  }

  /**
   * Checkpoint `id` committed `durationMs` after it was ordered, with
   * `bytes` of this worker's snapshot; returns the summary to log now (on
   * the first commit, or when one is due), else undefined.
   */
  committed(id: number, durationMs: number, bytes: number, nowMs: number): string | undefined {
    this.count++;
    this.totalMs += durationMs;
    this.maxMs = Math.max(this.maxMs, durationMs);
    this.bytes += bytes;
    this.newest = Math.max(this.newest, id);
    if (this.first) {
      this.first = false;
      return this.flush(nowMs);
    }
    return this.due(nowMs);
  }

  /** The summary if one is due (SUMMARY_EVERY_MS since the last, and something committed since). */
  due(nowMs: number): string | undefined {
    if (this.count === 0 || nowMs - this.since < SUMMARY_EVERY_MS) return undefined;
    return this.flush(nowMs);
  }

  private flush(nowMs: number): string {
    const line = formatCheckpointSummary({
      count: this.count,
      seconds: (nowMs - this.since) / 1000,
      meanMs: this.totalMs / this.count,
      maxMs: this.maxMs,
      bytes: this.bytes,
      newest: this.newest,
    });
    this.count = 0;
    this.totalMs = 0;
    this.maxMs = 0;
    this.bytes = 0;
    this.since = nowMs;
    return line;
  }
}

/** What one summary line says. */
export interface SummaryFacts {
  readonly count: number;
  readonly seconds: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly bytes: number;
  readonly newest: number;
}

/** `1536` -> `1.5 KB` (binary units, one decimal). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** The summary line, e.g. `checkpoints: 60 committed in 30.0 s (mean 12.3 ms, max 40.1 ms; snapshots here 1.2 MB); newest: checkpoint 93 committed`. */
export function formatCheckpointSummary(f: SummaryFacts): string {
  return (
    `checkpoints: ${f.count} committed in ${f.seconds.toFixed(1)} s ` +
    `(mean ${f.meanMs.toFixed(1)} ms, max ${f.maxMs.toFixed(1)} ms; snapshots here ${formatBytes(f.bytes)}); ` +
    `newest: checkpoint ${f.newest} committed`
  );
}
