/**
 * Resident memory of processes for the tests that bound it: read from Linux's
 * /proc/PID/status (VmRSS), now, or sampled on an interval while something
 * runs. The interval only paces the sampling; tests assert on the largest
 * value seen, never on when it was seen.
 */
import { readFileSync } from 'node:fs';

/** Resident memory of process `pid` in bytes. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples the resident memory of some processes until stopped; keeps the largest per process. */
export class RssSampler {
  /** The largest RSS seen per pid, in bytes. */
  readonly max = new Map<number, number>();
  /** Samples taken. */
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: readonly number[],
    everyMs = 50,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Takes one more sample and stops. */
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    this.samples++;
    for (const pid of this.pids) {
      let rss: number;
      try {
        rss = rssOf(pid);
      } catch {
        continue; // gone: its exit is the test's to report
      }
      if (rss > (this.max.get(pid) ?? 0)) this.max.set(pid, rss);
    }
  }
}
