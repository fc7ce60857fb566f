/**
 * Workers that join together, as in Wallaroo: two workers started with
 * `--join ADDR --worker-count 2` grow a running two-worker word count to four
 * in one reconfiguration (routing table version 2, not 3): the first waits
 * for the second, both then own key groups, and every word's outputs are
 * exactly 1..n against an independent count.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import {
  freePort,
  LineReceiver,
  ownership,
  partitionQuery,
  readyWorker,
  startCluster,
  stopClusters,
} from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { LOCAL, ROOT, RooProcess, runRoo } from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const MODULE = 'examples/word_count/app.ts';

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A worker joining through `via`, one of `count` joining together. */
async function joiner(
  name: string,
  via: string,
  out: string,
  count: number,
  dir: string,
): Promise<RooProcess> {
  const proc = RooProcess.spawn(name, [
    'worker',
    '--application-module',
    MODULE,
    '--out',
    out,
    '--name',
    name,
    '--ponythreads',
    '1',
    '--resilience-dir',
    dir,
    '--external',
    `${LOCAL}:0`,
    '--join',
    via,
    '--worker-count',
    String(count),
    '--my-data',
    `${LOCAL}:0`,
    '--my-control',
    `${LOCAL}:${await freePort()}`,
  ]);
  extra.push(proc);
  return proc;
}

describe('workers that join together', () => {
  it('grow 2 -> 4 in one reconfiguration with --worker-count 2, counts exact', async () => {
    onTestFailed(() => {
      for (const p of extra) process.stderr.write(`--- ${p.label}\n${p.stderr.slice(-3000)}\n`);
    });
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({ module: MODULE, workers: 2, out: receiver.address });
    const messages = 6_000;
    const lines = readFileSync(GPL, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    const sent = Array.from({ length: messages }, (_, i) =>
      (lines[i % lines.length] as string).replace(/\r$/, ''),
    );
    const reference = referenceWordCounts(sent.join('\n'));
    const words = total(reference);
    const send = RooProcess.spawn('send', [
      'send',
      '--host',
      cluster.initializer.source,
      '--file',
      GPL,
      '--repeat',
      '--messages',
      String(messages),
      '--batch-size',
      '25',
      '--interval',
      '20_000_000',
    ]);
    extra.push(send);
    await receiver.waitForLines(Math.floor(words / 6), 60_000);

    const via = cluster.control as string;
    const first = await joiner('worker3', via, receiver.address, 2, cluster.resilienceDir);
    const init = cluster.initializer.proc;
    // The first waits for the second: nothing is reconfigured meanwhile.
    await init.waitForStderr(
      /worker 'worker3' is waiting to join: 1 of 2 workers joining together/,
    );
    expect(init.stderr).not.toMatch(/reconfiguration \d+:/);
    // A joiner naming another count is refused, and the batch still waits.
    const odd = await joiner('worker9', via, receiver.address, 3, cluster.resilienceDir);
    expect((await odd.waitForExit(30_000)).code).not.toBe(0);
    expect(odd.stderr).toMatch(/--worker-count 2/);
    const second = await joiner('worker4', via, receiver.address, 2, cluster.resilienceDir);
    const [w3, w4] = await Promise.all([
      readyWorker('worker3', first),
      readyWorker('worker4', second),
    ]);
    expect(init.stderr).toMatch(
      /reconfiguration \d+ complete: routing table version 2, 4 workers \(initializer, worker2, worker3, worker4\), joined: worker3, worker4;/,
    );
    const all = [...cluster.workers, w3, w4];
    const owners = ownership(
      await Promise.all(all.map((w) => partitionQuery(w.external as string))),
      'word totals',
    );
    expect(owners.problems).toEqual([]);
    for (const w of all)
      expect([...owners.groups.values()].some((on) => on[0] === w.name)).toBe(true);
    const status = await runRoo(['status', w4.external as string, '--json']);
    expect((JSON.parse(status.stdout) as { routingVersion: number }).routingVersion).toBe(2);

    expect((await send.waitForExit(90_000)).code).toBe(0);
    await receiver.waitForLines(words, 90_000);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 180_000);
});
