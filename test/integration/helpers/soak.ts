/**
 * The soak's parts: a cluster of N resilient workers on fixed addresses
 * (each restartable with its exact command, like RestartableCluster's two),
 * a sampler of every worker's resident memory, a seeded schedule of kills,
 * and the block of figures the soak writes into bench/RESULTS.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INITIALIZER, READY, workerName } from './cluster.js';
import { EACH_CHECKPOINT, LOCAL, ROOT, RooProcess } from './processes.js';
import { restartablePort } from './restartable-cluster.js';

/** What a {@link SoakCluster} runs. */
export interface SoakSpec {
  readonly module: string;
  /** `--out`: the receiver. */
  readonly out: string;
  readonly resilienceDir: string;
  readonly checkpointNs: bigint;
  readonly workers: number;
  readonly appArgs?: readonly string[];
}

/** N resilient workers (`--ponythreads 1`) on fixed addresses; the initializer runs the TCP source. */
export class SoakCluster {
  /** Worker names, the initializer first. */
  readonly names: readonly string[];
  /** Every process started, in order (for the logs of a failed run). */
  readonly history: RooProcess[] = [];
  private readonly procs = new Map<string, RooProcess>();
  private readonly starts = new Map<string, number>();

  private constructor(
    /** Each worker's full `roo` command line. */
    readonly commands: ReadonlyMap<string, readonly string[]>,
    /** The TCP source's address. */
    readonly source: string,
  ) {
    this.names = [...commands.keys()];
  }

  /** Picks the addresses; starts nothing. */
  static async create(spec: SoakSpec): Promise<SoakCluster> {
    const addr = async () => `${LOCAL}:${await restartablePort()}`;
    const [source, control, data] = [await addr(), await addr(), await addr()];
    const common = (name: string) => [
      'worker',
      ...['--application-module', spec.module, '--out', spec.out, '--name', name],
      ...['--ponythreads', '1', '--run-with-resilience', '--resilience-dir', spec.resilienceDir],
      ...['--time-between-checkpoints', String(spec.checkpointNs)],
    ];
    const appArgs = spec.appArgs === undefined ? [] : ['--', ...spec.appArgs];
    const commands = new Map<string, string[]>();
    commands.set(INITIALIZER, [
      ...common(INITIALIZER),
      ...['--in', source, '--cluster-initializer', '--worker-count', String(spec.workers)],
      ...['--control', control, '--data', data],
      ...appArgs,
    ]);
    for (let i = 1; i < spec.workers; i++) {
      const name = workerName(i);
      commands.set(name, [
        ...common(name),
        ...['--control', control, '--my-data', await addr(), '--my-control', await addr()],
        ...appArgs,
      ]);
    }
    return new SoakCluster(commands, source);
  }

  /** The process of `name`'s latest start. */
  proc(name: string): RooProcess {
    const p = this.procs.get(name);
    if (p === undefined) throw new Error(`${name} was never started`);
    return p;
  }

  /** The initializer's latest process. */
  get initializer(): RooProcess {
    return this.proc(INITIALIZER);
  }

  /** Starts (or restarts) `name` with its command; does not wait. */
  spawn(name: string): RooProcess {
    const n = (this.starts.get(name) ?? 0) + 1;
    this.starts.set(name, n);
    // Every commit logged (at debug level), for the waits on them.
    const label = n === 1 ? name : `${name} (start ${n})`;
    const p = RooProcess.spawn(label, this.commands.get(name)!, EACH_CHECKPOINT);
    this.procs.set(name, p);
    this.history.push(p);
    return p;
  }

  /** Starts every worker at once and waits until each is ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    const procs = this.names.map((n) => this.spawn(n));
    await Promise.all(procs.map((p) => p.waitForStderr(READY, timeoutMs)));
  }

  /** SIGKILLs `name`'s node process and waits until it is gone. */
  async kill(name: string): Promise<void> {
    await this.proc(name).sigkill();
  }

  /** Stops every worker (SIGTERM, the members first). */
  async stop(): Promise<void> {
    for (const name of [...this.names].reverse()) await this.procs.get(name)?.stop();
  }
}

/** Resident memory (VmRSS) of process `pid` in bytes, or undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Samples the resident memory of named processes every `everyMs` (whichever
 * process holds the name now: a restarted worker is the same worker) and
 * keeps each name's peak and sample count.
 */
export class RssSampler {
  readonly peak = new Map<string, number>();
  readonly samples = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly current: () => ReadonlyMap<string, RooProcess>,
    everyMs = 500,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  /** Takes one sample of every process now. */
  sample(): void {
    for (const [name, p] of this.current()) {
      const pid = p.child.pid;
      if (pid === undefined || p.exitStatus !== undefined) continue;
      const rss = residentBytes(pid);
      if (rss === undefined) continue;
      this.samples.set(name, (this.samples.get(name) ?? 0) + 1);
      if (rss > (this.peak.get(name) ?? 0)) this.peak.set(name, rss);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** mulberry32: a small seeded generator, so that a soak's schedule can be run again. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `kills` victims drawn from `workers` with `receiverKills` of them the
 * receiver (`'receiver'`), the initializer at least once, never the receiver
 * twice in a row, in a seeded random order.
 */
export function killSchedule(
  workers: readonly string[],
  kills: number,
  receiverKills: number,
  seed: number,
): string[] {
  const random = seeded(seed);
  const pick = (): string => workers[Math.floor(random() * workers.length)]!;
  const victims: string[] = [INITIALIZER];
  while (victims.length < kills - receiverKills) victims.push(pick());
  for (let i = victims.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [victims[i], victims[j]] = [victims[j]!, victims[i]!];
  }
  // The receiver's kills go between worker kills, spread out.
  for (let r = 0; r < receiverKills; r++) {
    const at = Math.round(((r + 1) * (victims.length + r)) / (receiverKills + 1));
    victims.splice(at, 0, 'receiver');
  }
  return victims;
}

/** The figures of one soak run. */
export interface SoakFigures {
  readonly command: string;
  readonly machine: string;
  readonly node: string;
  readonly commit: string;
  readonly workers: number;
  readonly seconds: number;
  readonly lines: number;
  readonly outputs: number;
  readonly words: number;
  readonly kills: readonly string[];
  /** Seconds from each kill until the cluster ran again (for the receiver: until it listened again). */
  readonly recoveries: readonly number[];
  readonly peakRss: ReadonlyMap<string, number>;
  readonly rssBound: number;
}

/** The median of `xs` (0 for none). */
function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const START = '<!-- soak: written by ROO_SOAK=1 test/integration/soak-exactly-once.test.ts -->';
const END = '<!-- soak: end of the generated part -->';

/** The soak's block of bench/RESULTS.md. */
export function soakBlock(f: SoakFigures): string {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  const byVictim = new Map<string, number>();
  for (const v of f.kills) byVictim.set(v, (byVictim.get(v) ?? 0) + 1);
  return [
    START,
    `## Soak: exactly-once word count through ${f.kills.length} SIGKILLs, ${new Date().toISOString()}`,
    '',
    `**Command:** \`${f.command}\` (after \`npm run build\`; \`npm run test:soak\` runs it among the rest; without ROO_SOAK=1, in \`npm test\`, it makes 3 kills)`,
    `**Machine:** ${f.machine}`,
    `**Node:** ${f.node}`,
    `**Code:** commit ${f.commit}`,
    '',
    `${f.workers} workers (\`--ponythreads 1\`, resilience on, a checkpoint every 200 ms, the exactly-once sink), an acknowledging \`roo send\` of ${f.lines} lines at a constant pace, \`roo receive --output FILE --ledger FILE\`. ${f.kills.length} SIGKILLs in ${f.seconds.toFixed(0)} s, each victim restarted with its own command once the cluster had recovered from the one before: ${[...byVictim].map(([v, n]) => `${v} ×${n}`).join(', ')}.`,
    '',
    `| kills survived | kill → running again, median (max) | outputs in the file | distinct words | every word 1..n, once, in order | totals = independent count |`,
    `| --- | --- | --- | --- | --- | --- |`,
    `| ${f.kills.length} of ${f.kills.length} | ${median(f.recoveries).toFixed(1)} s (${Math.max(...f.recoveries).toFixed(1)} s) | ${f.outputs} | ${f.words} | yes | yes |`,
    '',
    `| process | peak RSS (any of its starts) |`,
    `| --- | --- |`,
    ...[...f.peakRss].map(([name, b]) => `| ${name} | ${mib(b)} |`),
    '',
    `Bound checked: every worker's peak below ${mib(f.rssBound)}.`,
    END,
  ].join('\n');
}

/** Writes `block` into bench/RESULTS.md in place of the soak's previous block (or at the end). */
export function writeSoakResults(block: string): string {
  const path = join(ROOT, 'bench', 'RESULTS.md');
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  const next =
    from >= 0 && to > from
      ? text.slice(0, from) + block + text.slice(to + END.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, next);
  return path;
}
