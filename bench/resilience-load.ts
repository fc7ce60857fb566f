/**
 * The throughput and state parts of the resilience benchmark: timed windows
 * of a busy engine, resilience off against checkpoints every --interval-ms,
 * interleaved round by round, and their tables. Throughput runs word count
 * over the corpus, round and round (bench/apps/word-count-looped.ts); state
 * runs a state of N keys (bench/apps/keyed-counter.ts) for each N of --keys.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointTiming } from '../runtime/checkpoint/driver.js';
import { countWords, DEFAULT_SEED, totalWords, writeCorpusFile } from './corpus.js';
import { BenchEngine, entityTotal } from './resilience-engine.js';
import type { ResilienceOptions } from './resilience-options.js';
import { fmtBytes, fmtMs, median0, msSpread, type PartReport } from './resilience-report.js';
import { formatRate, LoadProbe, markdownTable, median, summarize } from './stats.js';

/** One timed window of a running engine. */
export interface WindowRun {
  readonly resilient: boolean;
  readonly rate: number;
  readonly seconds: number;
  readonly outputs: number;
  /** Checkpoints taken (snapshot written) inside the window. */
  readonly checkpoints: CheckpointTiming[];
  readonly problems: string[];
  /** Cores others kept busy during the window. */
  readonly otherLoad: number;
  /**
   * CPU ns this process (all its threads) spent per output in the window:
   * what the work costs, whatever share of the machine it got.
   */
  readonly cpuNsPerMsg: number;
}

/**
 * Runs `app` for a warm-up (at least `warmupMs`, and until its state holds
 * `minKeys` keys), then measures outputs/s over `seconds`.
 */
async function runWindow(o: {
  app: string;
  appArgs: readonly string[];
  threads: number;
  intervalMs: number | undefined;
  warmupMs: number;
  minKeys: number;
  seconds: number;
  parent: string;
}): Promise<WindowRun> {
  const b = await BenchEngine.start(o);
  try {
    const first = await b.until(
      (s, ms) => ms >= o.warmupMs && entityTotal(s) >= o.minKeys,
      'the warm-up',
    );
    const probe = new LoadProbe();
    probe.start();
    const t0 = performance.now();
    const fromMs = t0 - b.started;
    const e0 = first.encoded;
    const end = await b.until((_s, ms) => ms - fromMs >= o.seconds * 1000, 'the end of the window');
    const t1 = performance.now();
    const load = probe.stop();
    const seconds = (t1 - t0) / 1000;
    return {
      resilient: o.intervalMs !== undefined,
      rate: (end.encoded - e0) / seconds,
      seconds,
      outputs: end.encoded - e0,
      checkpoints: b.checkpoints
        .filter((c) => c.at >= fromMs && c.at <= t1 - b.started)
        .map((c) => c.timing),
      problems: [...b.problems],
      otherLoad: load.otherLoad,
      cpuNsPerMsg: (load.ownCpu * load.wallMs * 1e6) / Math.max(1, end.encoded - e0),
    };
  } finally {
    await b.stop();
    b.remove();
  }
}

/** Off and on, interleaved (off first on odd rounds, on first on even ones). */
export interface Comparison {
  readonly off: WindowRun[];
  readonly on: WindowRun[];
}

/** Runs `o.reps` rounds of a window with resilience off and one with it on. */
async function compare(
  o: Omit<Parameters<typeof runWindow>[0], 'intervalMs'> & { intervalMs: number; reps: number },
  label: string,
  log: (line: string) => void,
): Promise<Comparison> {
  const off: WindowRun[] = [];
  const on: WindowRun[] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    const order = rep % 2 === 1 ? [false, true] : [true, false];
    for (const resilient of order) {
      const r = await runWindow({ ...o, intervalMs: resilient ? o.intervalMs : undefined });
      (resilient ? on : off).push(r);
      const cps = r.checkpoints;
      log(
        `  ${label}, resilience ${resilient ? 'on ' : 'off'}, run ${rep}: ${formatRate(r.rate)} msgs/s` +
          (resilient
            ? `, ${cps.length} checkpoints (barriers ${fmtMs(median0(cps.map((c) => c.alignMs)))}, file ${fmtMs(median0(cps.map((c) => c.writeMs)))}, ${fmtBytes(cps.at(-1)?.bytes ?? 0)})`
            : '') +
          `; ${r.cpuNsPerMsg.toFixed(0)} CPU ns/msg; other load ${r.otherLoad.toFixed(2)}` +
          (r.problems.length > 0 ? `; problems: ${r.problems.join(' / ')}` : ''),
      );
    }
  }
  return { off, on };
}

/** Msgs/s of the runs, median (min..max). */
function rateSpread(runs: readonly WindowRun[]): string {
  const s = summarize(runs.map((r) => r.rate));
  return `${formatRate(s.median)} (${formatRate(s.min)}..${formatRate(s.max)})`;
}

/** Ratio of medians, and the range of the per-round ratios. */
function ratioOf(c: Comparison): { ratio: number; text: string } {
  const ratio = median(c.on.map((r) => r.rate)) / median(c.off.map((r) => r.rate));
  const pairs = c.on.map((r, i) => r.rate / (c.off[i]?.rate ?? NaN));
  const s = summarize(pairs);
  return {
    ratio,
    text: `${ratio.toFixed(3)}x (rounds ${s.min.toFixed(3)}..${s.max.toFixed(3)})`,
  };
}

/** CPU ns per message, median (min..max), and on/off of the medians. */
function cpuSpread(runs: readonly WindowRun[]): string {
  const s = summarize(runs.map((r) => r.cpuNsPerMsg));
  return `${s.median.toFixed(0)} (${s.min.toFixed(0)}..${s.max.toFixed(0)})`;
}

/** On / off of the median CPU ns per message. */
function cpuRatio(c: Comparison): string {
  const on = median(c.on.map((r) => r.cpuNsPerMsg));
  const off = median(c.off.map((r) => r.cpuNsPerMsg));
  return `${(on / off).toFixed(3)}x`;
}

/** Cores others kept busy, median (min..max) over every window. */
function otherLoad(c: Comparison): string {
  const all = [...c.off, ...c.on].map((r) => r.otherLoad);
  return `${median(all).toFixed(2)} (${Math.min(...all).toFixed(2)}..${Math.max(...all).toFixed(2)})`;
}

/** The throughput part: word count, resilience off against on. */
export async function throughputPart(
  o: ResilienceOptions,
  log: (line: string) => void,
): Promise<PartReport> {
  const lines: string[] = [];
  let failed = false;
  const every = `every ${fmtMs(o.intervalMs)}`;
  const corpusPath = join(o.dir, `roo-bench-resilience-corpus-${process.pid}.txt`);
  try {
    log(`generating a ${o.mb} MiB corpus...`);
    const corpus = writeCorpusFile(corpusPath, {
      bytes: Math.round(o.mb * 1024 * 1024),
      seed: DEFAULT_SEED,
    });
    const words = totalWords(countWords(corpus.lines));
    log(`throughput: word count, looped over ${corpus.lines.length} lines (${words} words)`);
    const c = await compare(
      {
        app: 'word-count-looped',
        appArgs: [corpusPath],
        threads: o.threads,
        intervalMs: o.intervalMs,
        warmupMs: o.warmupSeconds * 1000,
        minKeys: 0,
        seconds: o.seconds,
        parent: o.dir,
        reps: o.reps,
      },
      'word count',
      log,
    );
    const r = ratioOf(c);
    const cps = c.on.flatMap((x) => x.checkpoints);
    lines.push(
      '',
      `### Throughput: word count in process (bench/apps/word-count-looped.ts, ${o.mb} MiB corpus round and round, ${words} words a lap, 10 000 distinct), --ponythreads ${o.threads}, null sink`,
      '',
      markdownTable(
        [
          'resilience',
          'words/s, median (min..max)',
          'checkpoints per window',
          'barriers',
          'file',
          'snapshot',
          'on / off',
          'CPU ns/msg',
          'CPU on / off',
        ],
        [
          ['off', rateSpread(c.off), '', '', '', '', '1.000x', cpuSpread(c.off), '1.000x'],
          [
            `on, ${every}`,
            rateSpread(c.on),
            c.on.map((x) => x.checkpoints.length).join(', '),
            msSpread(cps.map((x) => x.alignMs)),
            msSpread(cps.map((x) => x.writeMs)),
            fmtBytes(cps.at(-1)?.bytes ?? 0),
            r.text,
            cpuSpread(c.on),
            cpuRatio(c),
          ],
        ],
      ),
      '',
      `Target on/off ≥ 0.9: **${r.ratio >= 0.9 ? 'MET' : 'MISSED'}** (${r.ratio.toFixed(3)}x). Other load (cores busy elsewhere) per window: ${otherLoad(c)}.`,
    );
  } catch (err) {
    failed = true;
    lines.push('', `### Throughput: FAILED: ${(err as Error).message}`);
    log(`throughput failed: ${(err as Error).stack ?? (err as Error).message}`);
  } finally {
    rmSync(corpusPath, { force: true });
  }
  return { lines, failed };
}

/** The figures of the state part for one state size. */
export interface StateRun {
  readonly keys: number;
  readonly c: Comparison;
}

/** The state part for a state of `keys` keys, under load: off against on. */
export async function runState(
  o: ResilienceOptions,
  keys: number,
  log: (line: string) => void,
): Promise<StateRun> {
  log(`state: ${keys} keys, under load`);
  const c = await compare(
    {
      app: 'keyed-counter',
      appArgs: [String(keys), 'inf'],
      threads: o.threads,
      intervalMs: o.intervalMs,
      warmupMs: o.warmupSeconds * 1000,
      minKeys: keys,
      seconds: o.seconds,
      parent: o.dir,
      reps: o.reps,
    },
    `${keys} keys`,
    log,
  );
  return { keys, c };
}

/** The table of the state part. */
export function stateSection(o: ResilienceOptions, loaded: readonly StateRun[]): string[] {
  const every = `every ${fmtMs(o.intervalMs)}`;
  return [
    '',
    `### Checkpoints with the pipeline busy: a state of N keys (bench/apps/keyed-counter.ts: generator → key \`k<i mod N>\` → count per key → null sink), --ponythreads ${o.threads}`,
    '',
    'Barriers: from the order to the snapshot in hand (barriers through the queues, every key group encodes its state on its thread). File: the snapshot encoded, written, fsynced and renamed on the main thread. Median (min..max) over every checkpoint in the windows. CPU ns/msg: CPU time of this process (all threads) per message in the window, which does not depend on the share of the machine the run got.',
    '',
    markdownTable(
      [
        'keys',
        'msgs/s off',
        `msgs/s on (${every})`,
        'on / off',
        'CPU ns/msg off / on',
        'checkpoints per window',
        'barriers',
        'file',
        'snapshot',
        'bytes/key',
        'other load',
      ],
      loaded.map(({ keys, c }) => {
        const cps = c.on.flatMap((x) => x.checkpoints);
        const bytes = cps.at(-1)?.bytes ?? 0;
        return [
          String(keys),
          rateSpread(c.off),
          rateSpread(c.on),
          ratioOf(c).text,
          `${median(c.off.map((r) => r.cpuNsPerMsg)).toFixed(0)} / ${median(c.on.map((r) => r.cpuNsPerMsg)).toFixed(0)} (${cpuRatio(c)})`,
          c.on.map((x) => x.checkpoints.length).join(', '),
          msSpread(cps.map((x) => x.alignMs)),
          msSpread(cps.map((x) => x.writeMs)),
          fmtBytes(bytes),
          (bytes / keys).toFixed(1),
          otherLoad(c),
        ];
      }),
    ),
  ];
}
