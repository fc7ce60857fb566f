/**
 * A crash in the middle of a thread rebalance, with resilience on and the
 * exactly-once sink: word count on two scheduler threads per worker, fed by
 * an acknowledging, paced `roo send` of words whose key groups all live on
 * thread 0 of the worker asked to rebalance (so its thread 1 idles and
 * `roo rebalance` moves groups). The initializer holds the rebalance's
 * reconfiguration (ROO_RECONFIGURE_DELAY_MS) at a known moment, announced
 * by its log line: with the moving groups shipped to it but not handed back
 * (`hand-out`), or handed back and spawned on their new threads but before
 * the new routing table is installed (`rewire`). Then one process is
 * SIGKILLed and restarted with the same command:
 *  - in a two-worker cluster, worker2 rebalancing its threads and killed
 *    (at each moment); worker2 rebalancing and the initializer killed (its
 *    request to the initializer is refused when the connection closes);
 *  - a worker alone (the initializer of a cluster of one; with --control
 *    it runs the same path), which rebalances through the same
 *    reconfiguration, killed.
 * Each time the cluster recovers as it was before the rebalance, the
 * rebalance never completes, the send finishes, and every word's outputs
 * are exactly 1..n in order, n counted independently of the application.
 *
 * And the placement of a checkpoint is restored: after a rebalance that
 * completed (and a checkpoint after it committed), the rebalanced worker
 * (worker2 of two; a worker alone restores its placement the same way) is
 * killed and restarted; the
 * partition query then shows the hot groups on both of its threads, as the
 * checkpoint recorded them, not back on thread 0, and the counts stay exact.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { dynamicGrouper } from '../../runtime/topology/key-groups.js';
import { splitWords } from '../../examples/word_count/split.js';
import {
  makeResilienceDir,
  partitionQuery,
  stopClusters,
  type PartitionQueryJson,
} from './helpers/cluster.js';
import { parseKeyOutputs, wordCountProblems } from './helpers/key-outputs.js';
import { LOCAL, RooProcess, runRoo, startReceive } from './helpers/processes.js';
import { OutputTally, sendSucceeded, startSend, writeLogs } from './helpers/resilience.js';
import { RestartableCluster, type WorkerName } from './helpers/restartable-cluster.js';

const MODULE = 'examples/word_count/app.ts';
const PARTITION = 'word totals';
const CHECKPOINT_NS = 200_000_000n;
const grouper = dynamicGrouper(256);
/** What the initializer logs at each moment it can hold a reconfiguration. */
const MOMENTS = {
  'hand-out': /reconfiguration \d+: every worker aligned barrier \d+; handing out \d+ key groups/,
  rewire: /reconfiguration \d+: every member holds what it takes over; installing routing table/,
} as const;
type Moment = keyof typeof MOMENTS;
const EXTERNAL = /external channel listening on (\S+:\d+)$/m;

/** One crash: the cluster's size, the worker asked to rebalance, the one killed, and when. */
interface Crash {
  readonly workers: 1 | 2;
  /** A worker alone (no --control): with `workers: 1`. */
  readonly alone: boolean;
  readonly asked: WorkerName;
  readonly victim: WorkerName;
  readonly moment: Moment;
}
const CRASHES: readonly Crash[] = [
  { workers: 2, alone: false, asked: 'worker2', victim: 'worker2', moment: 'hand-out' },
  { workers: 2, alone: false, asked: 'worker2', victim: 'worker2', moment: 'rewire' },
  { workers: 2, alone: false, asked: 'worker2', victim: 'initializer', moment: 'hand-out' },
  // A worker alone is the initializer of a cluster of one; with --control it runs the same
  // path (and listens for joiners besides), so the one case covers both.
  { workers: 1, alone: true, asked: 'initializer', victim: 'initializer', moment: 'hand-out' },
];

let dir: string;
const procs: RooProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-rebalance-crash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  delete process.env['ROO_RECONFIGURE_DELAY_MS'];
  delete process.env['ROO_RECONFIGURE_DELAY_AT'];
  await Promise.all(procs.splice(0).map((p) => p.stop()));
  await stopClusters();
});

/**
 * Which key groups live on thread 0 of `asked` (two threads per worker;
 * the groups a worker owns go round robin over its threads): with two
 * workers, worker w owns the groups g with g mod 2 = w, so its thread 0
 * hosts g mod 4 = w; alone, it owns every group and thread 0 hosts the even.
 */
function onThread0(workers: 1 | 2, asked: WorkerName): (g: number) => boolean {
  if (workers === 1) return (g) => g % 2 === 0;
  const w = asked === 'initializer' ? 0 : 1;
  return (g) => g % 4 === w;
}

/** `count` distinct words whose key groups pass `pick`. */
function wordsWhere(count: number, pick: (g: number) => boolean, prefix: string): string[] {
  const words: string[] = [];
  for (let i = 0; words.length < count; i++) {
    const w = `${prefix}${i.toString(36)}`;
    if (pick(grouper.groupOf(w))) words.push(w);
  }
  return words;
}

/**
 * Writes `lines` lines of 4 words: three hot (on thread 0 of the worker
 * asked) and one cold (anywhere), round robin; returns its path and each
 * word's count by word count's own splitter.
 */
function skewedInput(name: string, hot: readonly string[], lines: number) {
  const cold = wordsWhere(32, () => true, 'c');
  const text: string[] = [];
  for (let i = 0; i < lines; i++) {
    const h = (k: number) => hot[(3 * i + k) % hot.length]!;
    text.push(`${h(0)} ${h(1)} ${cold[i % cold.length]!} ${h(2)}`);
  }
  const path = join(dir, name);
  writeFileSync(path, `${text.join('\n')}\n`);
  const counts = new Map<string, number>();
  for (const line of text)
    for (const w of splitWords(line)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return { path, counts };
}

/** The threads hosting key groups that hold some of `words`. */
function threadsOf(answer: PartitionQueryJson, words: readonly string[]): number[] {
  const want = new Set(words);
  const p = answer.partitions.find((x) => x.name === PARTITION)!;
  const threads = new Set(
    p.groups.filter((g) => g.keys.some((k) => want.has(k))).map((g) => g.thread),
  );
  return [...threads].sort();
}

/**
 * A resilient word count of `workers` workers on two threads each, with the
 * exactly-once sink and an external channel each, fed `input` by a paced
 * acknowledging send; resolves once outputs flow. Logs are written out if
 * the test fails.
 */
async function streaming(
  workers: 1 | 2,
  input: { path: string; counts: Map<string, number> },
  alone = false,
) {
  const receive = await startReceive();
  procs.push(receive.proc);
  const cluster = await RestartableCluster.create({
    module: MODULE,
    out: receive.address,
    resilienceDir: makeResilienceDir(),
    checkpointNs: CHECKPOINT_NS,
    appArgs: ['--exactly-once'],
    threads: 2,
    workers,
    alone,
    extra: ['--external', `${LOCAL}:0`],
  });
  onTestFailed(() => {
    process.stderr.write(`logs: ${writeLogs(cluster.history)}\n`);
  });
  await cluster.start();
  const tally = new OutputTally(receive.proc, input.counts);
  // About 5 s of input (25,000 lines): 50 lines of 4 words every 10 ms.
  const send = startSend(cluster.source, input.path, [
    '--batch-size',
    '50',
    '--interval',
    '10000000',
  ]);
  procs.push(send);
  await receive.proc.waitForStdoutLines(4_000, 60_000);
  return { receive, cluster, tally, send };
}

/** The external address `name` (its latest start) listens on, once it does. */
async function externalOf(cluster: RestartableCluster, name: WorkerName): Promise<string> {
  return (await cluster.proc(name).waitForStderr(EXTERNAL, 60_000))[1]!;
}

describe('a crash in the middle of a thread rebalance recovers with exactly-once output', () => {
  it.each(CRASHES)(
    '$workers worker(s) (alone: $alone), $asked rebalancing, SIGKILL of $victim at $moment',
    async ({ workers, alone, asked, victim, moment }) => {
      const hot = wordsWhere(64, onThread0(workers, asked), 'w');
      const input = skewedInput(
        `${asked}-${victim}-${moment}-${workers}-${alone}.txt`,
        hot,
        25_000,
      );
      // The initializer (started here) holds every reconfiguration at `moment` for 1.5 s.
      process.env['ROO_RECONFIGURE_DELAY_MS'] = '1500';
      process.env['ROO_RECONFIGURE_DELAY_AT'] = moment;
      const { receive, cluster, tally, send } = await streaming(workers, input, alone);
      delete process.env['ROO_RECONFIGURE_DELAY_MS'];
      delete process.env['ROO_RECONFIGURE_DELAY_AT'];
      const external = await externalOf(cluster, asked);
      expect(threadsOf(await partitionQuery(external), hot)).toEqual([0]);

      const rebalance = RooProcess.spawn('rebalance', ['rebalance', '--external', external]);
      procs.push(rebalance);
      await cluster.initializer.waitForStderr(MOMENTS[moment], 60_000);
      await cluster.kill(victim);
      cluster.spawn(victim);
      // The rebalance fails: the worker asked is gone, or (the initializer gone) is told so at once.
      expect((await rebalance.waitForExit(60_000)).code).toBe(1);
      if (victim !== asked)
        expect(rebalance.stderr + rebalance.stdoutText).toMatch(
          /the control connection to the initializer closed before it answered/,
        );
      await cluster.initializer.waitForStderr(
        new RegExp(`cluster of ${workers} workers recovered from checkpoint`),
        60_000,
      );
      await sendSucceeded(send, 120_000);
      await tally.waitForFinalCounts(120_000);
      // Recovered as before the rebalance: the hot groups are on thread 0 again.
      const again = await externalOf(cluster, asked);
      expect(threadsOf(await partitionQuery(again), hot)).toEqual([0]);
      // The rebalance can be made again, and completes (on the loads since the rollback).
      const second = await runRoo(['rebalance', '--external', again], 60_000);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stdout).toMatch(/moved \d+ key groups/);
      expect(threadsOf(await partitionQuery(again), hot)).toEqual([0, 1]);
      await cluster.stop();
      await receive.proc.stop();
      expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), input.counts)).toEqual([]);
      // Only the second rebalance completed.
      const complete = cluster.history.flatMap(
        (p) => p.stderr.match(/reconfiguration \d+ complete/g) ?? [],
      );
      expect(complete).toHaveLength(1);
    },
    240_000,
  );
});

describe('a recovery restores the thread placement of its checkpoint', () => {
  it.each([{ workers: 2, asked: 'worker2', alone: false }] as const)(
    '$workers worker(s) (alone: $alone): $asked rebalanced, then SIGKILLed and restarted, has the hot groups on both threads',
    async ({ workers, asked, alone }) => {
      const hot = wordsWhere(64, onThread0(workers, asked), 'w');
      const input = skewedInput(`placement-${workers}-${alone}.txt`, hot, 25_000);
      const { receive, cluster, tally, send } = await streaming(workers, input, alone);
      const external = await externalOf(cluster, asked);
      expect(threadsOf(await partitionQuery(external), hot)).toEqual([0]);
      // Answered once a checkpoint after the rebalance has committed.
      const r = await runRoo(['rebalance', '--external', external], 60_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/moved \d+ key groups/);
      expect(threadsOf(await partitionQuery(external), hot)).toEqual([0, 1]);

      await cluster.kill(asked);
      cluster.spawn(asked);
      await cluster.initializer.waitForStderr(
        new RegExp(`cluster of ${workers} workers recovered from checkpoint`),
        60_000,
      );
      // Not the start-up placement (every hot group on thread 0): the checkpoint's.
      expect(threadsOf(await partitionQuery(await externalOf(cluster, asked)), hot)).toEqual([
        0, 1,
      ]);
      await sendSucceeded(send, 120_000);
      await tally.waitForFinalCounts(120_000);
      await cluster.stop();
      await receive.proc.stop();
      expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), input.counts)).toEqual([]);
    },
    240_000,
  );
});
