/**
 * What the rest of the machine did during a `roo bench` run (run.ts): per
 * part, the cores the bench process, its children and everyone else kept
 * busy ({@link PartProbe}); before the run, others' load while the bench
 * sleeps ({@link idleProbe}); and the load average. On a shared machine
 * these tell a slow figure from a busy machine.
 */
import { readFileSync } from 'node:fs';
import { LoadProbe } from './stats.js';

/** What the rest of the machine did during one part. */
export interface PartLoad {
  /** Part label. */
  part: string;
  /** Wall seconds. */
  seconds: number;
  /** Cores this process kept busy. */
  ownCpu: number;
  /** Cores the part's child processes kept busy. */
  childCpu: number;
  /** Cores everything else kept busy: other users of a shared machine. */
  otherLoad: number;
}

/** CPU ms of this process's exited children (/proc/self/stat cutime + cstime). */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields from 3 (state) on; cutime and cstime are fields 16 and 17, in USER_HZ (100) ticks.
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return 0;
  }
}

/**
 * LoadProbe plus the CPU of the part's own child processes (all stopped,
 * hence reaped and counted, by the end of the part), so that their work is
 * not mistaken for other users' load.
 */
export class PartProbe {
  private readonly probe = new LoadProbe();
  private children0 = 0;

  /** Starts measuring the part named `part`. */
  constructor(private readonly part: string) {
    this.children0 = childrenCpuMs();
    this.probe.start();
  }

  /** Ends the probe: the part's wall time and who kept the cores busy. */
  stop(): PartLoad {
    const s = this.probe.stop();
    const childCpu = (childrenCpuMs() - this.children0) / s.wallMs;
    return {
      part: this.part,
      seconds: s.wallMs / 1000,
      ownCpu: s.ownCpu,
      childCpu,
      otherLoad: Math.max(0, s.otherLoad - childCpu),
    };
  }
}

/** Cores kept busy by others over `ms` while this process sleeps. */
export async function idleProbe(ms: number): Promise<number> {
  const probe = new LoadProbe();
  probe.start();
  await new Promise((r) => setTimeout(r, ms));
  return probe.stop().otherLoad;
}

/** /proc/loadavg's 1, 5 and 15 minute figures, or 'n/a'. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}
