/**
 * A joiner that installs the new routing table last. The initializer and
 * worker2 install theirs first and at once send the joiner what they held
 * for its key groups, and lines for its replica of the split; the joiner
 * itself installs 1.5 s later (ROO_INSTALL_DELAY_MS). Its actors must wait
 * for their routes: applied before, a count's output or a line's words
 * would go nowhere while the state moved on. Every word's outputs must be
 * exactly 1..n against an independent count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LineReceiver, readyWorker, stopClusters } from './helpers/cluster.js';
import { spawnJoiner, streamingWordCount } from './helpers/grow.js';
import { parseKeyOutputs, wordCountProblems } from './helpers/key-outputs.js';
import type { RooProcess } from './helpers/processes.js';

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('a joiner that installs the new table after the others', () => {
  it('applies nothing before its routes are in: every count exactly once', async () => {
    const { receiver, cluster, send, reference, words } = await streamingWordCount(
      30_000,
      '10_000_000',
      receivers,
      extra,
    );

    const joinerProc = await spawnJoiner({
      name: 'worker3',
      via: cluster.control as string,
      out: receiver.address,
      resilienceDir: cluster.resilienceDir,
      env: { ROO_INSTALL_DELAY_MS: '1500' },
    });
    extra.push(joinerProc);
    await readyWorker('worker3', joinerProc);
    // The others installed before the joiner did, with input flowing to it.
    const init = cluster.initializer.proc.stderr;
    expect(init).toMatch(/routing table version 2 installed/);
    const joinerLog = joinerProc.stderr;
    expect(joinerLog).toMatch(/took over \d+ key groups/);

    expect((await send.waitForExit(90_000)).code).toBe(0);
    await receiver.waitForLines(words, 90_000);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 180_000);
});
