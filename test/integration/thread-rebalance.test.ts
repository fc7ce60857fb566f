/**
 * Rebalancing a worker's threads under skewed keys, with exact counts:
 * word count on two scheduler threads, fed words whose key groups all live
 * on thread 0 (key group g is on thread g mod 2), so thread 1 idles.
 *  - `roo rebalance --external` on a worker alone moves groups to thread 1
 *    (the partition query then shows hot groups on both threads), and every
 *    word's outputs stay exactly 1..n across the move;
 *  - a worker started with `--auto-rebalance` does the same by itself once
 *    the skew has lasted its three samples;
 *  - in a two-worker cluster, `roo rebalance` on the initializer runs as a
 *    reconfiguration (routing table version 2), counts exact.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dynamicGrouper } from '../../runtime/topology/key-groups.js';
import {
  LineReceiver,
  partitionQuery,
  startCluster,
  stopClusters,
  type PartitionQueryJson,
} from './helpers/cluster.js';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { LOCAL, rooSend, runRoo, startWorker, type WorkerProcess } from './helpers/processes.js';

const MODULE = 'examples/word_count/app.ts';
const PARTITION = 'word totals';
const grouper = dynamicGrouper(256);

let dir: string;
const receivers: LineReceiver[] = [];
const workers: WorkerProcess[] = [];

/** `count` distinct words whose key group g has g mod `modulo` = 0. */
function skewedWords(count: number, modulo: number): string[] {
  const words: string[] = [];
  for (let i = 0; words.length < count; i++) {
    const w = `w${i.toString(36)}`;
    if (grouper.groupOf(w) % modulo === 0) words.push(w);
  }
  return words;
}

/** A file of `lines` lines of 8 words each, drawn round robin from `words`; returns its path and text. */
function wordFile(name: string, words: readonly string[], lines: number, offset = 0) {
  const out: string[] = [];
  let k = offset;
  for (let i = 0; i < lines; i++) {
    const line: string[] = [];
    for (let j = 0; j < 8; j++) line.push(words[k++ % words.length]!);
    out.push(line.join(' '));
  }
  const text = out.join('\n') + '\n';
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, text };
}

/** The threads hosting key groups that hold some of `words`. */
function threadsOf(answer: PartitionQueryJson, words: readonly string[]): Set<number> {
  const want = new Set(words);
  const p = answer.partitions.find((x) => x.name === PARTITION)!;
  return new Set(p.groups.filter((g) => g.keys.some((k) => want.has(k))).map((g) => g.thread));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-rebalance-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.proc.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('thread rebalancing under skewed keys', () => {
  it('roo rebalance moves hot groups off the busy thread of a worker alone, counts exact', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const worker = await startWorker({
      module: MODULE,
      threads: 2,
      out: receiver.address,
      extra: ['--external', `${LOCAL}:0`],
    });
    workers.push(worker);
    const external = /external channel listening on (\S+:\d+)$/m.exec(worker.proc.stderr)![1]!;
    const words = skewedWords(64, 2);
    const first = wordFile('a.txt', words, 4_000);
    await rooSend(worker.source, first.path);
    const reference = referenceWordCounts(first.text);
    await receiver.waitForLines(total(reference), 60_000);
    expect([...threadsOf(await partitionQuery(external), words)]).toEqual([0]);

    const r = await runRoo(['rebalance', '--external', external]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/moved \d+ key groups/);
    expect([...threadsOf(await partitionQuery(external), words)].sort()).toEqual([0, 1]);
    // Balanced now: a second request moves nothing.
    const again = await runRoo(['rebalance', '--external', external]);
    expect(again.code, again.stderr).toBe(0);

    const second = wordFile('b.txt', words, 4_000, 3);
    await rooSend(worker.source, second.path);
    addCounts(reference, referenceWordCounts(second.text));
    await receiver.waitForLines(total(reference), 60_000);
    expect((await worker.proc.stop()).code).toBe(0);
    expect(receiver.lines.length).toBe(total(reference));
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 120_000);

  it('--auto-rebalance rebalances by itself under lasting skew, counts exact', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const worker = await startWorker({
      module: MODULE,
      threads: 2,
      out: receiver.address,
      extra: ['--external', `${LOCAL}:0`, '--auto-rebalance'],
    });
    workers.push(worker);
    const words = skewedWords(64, 2);
    const file = wordFile('c.txt', words, 20_000);
    // Paced: about 8 s of skewed input, past three 2 s samples.
    await rooSend(worker.source, file.path, ['--batch-size', '50', '--interval', '20_000_000']);
    await worker.proc.waitForStderr(/rebalance: .*moved \d+ key groups/, 30_000);
    expect(worker.proc.stderr).toMatch(/auto-rebalance: the busiest thread carried/);
    const reference = referenceWordCounts(file.text);
    await receiver.waitForLines(total(reference), 60_000);
    expect((await worker.proc.stop()).code).toBe(0);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 120_000);

  it('in a cluster, roo rebalance runs as a reconfiguration, counts exact', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({
      module: MODULE,
      workers: 2,
      threads: 2,
      out: receiver.address,
    });
    // The initializer owns the even groups, spread over its threads in turn: g mod 4 = 0 is its thread 0.
    const words = skewedWords(64, 4);
    const first = wordFile('d.txt', words, 3_000);
    await rooSend(cluster.initializer.source, first.path);
    const reference = referenceWordCounts(first.text);
    await receiver.waitForLines(total(reference), 60_000);
    const external = cluster.initializer.external!;
    expect([...threadsOf(await partitionQuery(external), words)]).toEqual([0]);
    const r = await runRoo(['rebalance', '--external', external]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/moved \d+ key groups/);
    expect([...threadsOf(await partitionQuery(external), words)].sort()).toEqual([0, 1]);
    expect(cluster.initializer.proc.stderr).toMatch(
      /reconfiguration \d+ complete: routing table version 2/,
    );
    const second = wordFile('e.txt', words, 3_000, 5);
    await rooSend(cluster.initializer.source, second.path);
    addCounts(reference, referenceWordCounts(second.text));
    await receiver.waitForLines(total(reference), 60_000);
    await cluster.stop();
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 120_000);
});
