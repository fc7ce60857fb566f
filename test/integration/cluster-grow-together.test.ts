/**
 * Workers that join together, as in Wallaroo: two workers started with
 * `--join ADDR --worker-count 2` grow a running two-worker word count to four
 * in one reconfiguration (routing table version 2, not 3): the first waits
 * for the second, both then own key groups, and every word's outputs are
 * exactly 1..n against an independent count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  LineReceiver,
  ownership,
  partitionQuery,
  readyWorker,
  stopClusters,
} from './helpers/cluster.js';
import { spawnJoiner, streamingWordCount } from './helpers/grow.js';
import { parseKeyOutputs, wordCountProblems } from './helpers/key-outputs.js';
import { runRoo, type RooProcess } from './helpers/processes.js';

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('workers that join together', () => {
  it('grow 2 -> 4 in one reconfiguration with --worker-count 2, counts exact', async () => {
    const { receiver, cluster, send, reference, words } = await streamingWordCount(
      6_000,
      undefined,
      receivers,
      extra,
    );

    /** A worker joining with --worker-count `count`. */
    const joiner = async (name: string, count: number) => {
      const proc = await spawnJoiner({
        name,
        via: cluster.control as string,
        out: receiver.address,
        resilienceDir: cluster.resilienceDir,
        flags: ['--worker-count', String(count)],
      });
      extra.push(proc);
      return proc;
    };
    const first = await joiner('worker3', 2);
    const init = cluster.initializer.proc;
    // The first waits for the second: nothing is reconfigured meanwhile.
    await init.waitForStderr(
      /worker 'worker3' is waiting to join: 1 of 2 workers joining together/,
    );
    expect(init.stderr).not.toMatch(/reconfiguration \d+:/);
    // A joiner naming another count is refused, and the batch still waits.
    const odd = await joiner('worker9', 3);
    expect((await odd.waitForExit(30_000)).code).not.toBe(0);
    expect(odd.stderr).toMatch(/--worker-count 2/);
    const second = await joiner('worker4', 2);
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
