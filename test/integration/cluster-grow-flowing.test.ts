/**
 * Only the key groups that move pause. A two-worker word count grows to
 * three while text streams in; the initializer holds the hand-out of the
 * moved groups for 3 s (ROO_RECONFIGURE_DELAY_MS), after every worker has
 * aligned the reconfiguration's barrier. During that hold, counts keep
 * coming for words whose groups stay where they are, and none for a word
 * whose group moves to the joiner; afterwards every word's outputs are
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
import type { RooProcess } from './helpers/processes.js';

/** Outputs skipped after the hold began (what was on its way before the barrier), then watched. */
const SKIP = 100;
const WATCH = 300;

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
afterEach(async () => {
  delete process.env['ROO_RECONFIGURE_DELAY_MS'];
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('a growing cluster', () => {
  it('keeps counting the keys that stay while the moving groups wait for their state', async () => {
    process.env['ROO_RECONFIGURE_DELAY_MS'] = '3000';
    // Enough input (about 16 s of it) that it still flows when the hold begins, however slow the joiner's start.
    const { receiver, cluster, send, reference, words } = await streamingWordCount(
      40_000,
      '10_000_000',
      receivers,
      extra,
    );

    const joinerProc = await spawnJoiner({
      name: 'worker3',
      via: cluster.control as string,
      out: receiver.address,
      resilienceDir: cluster.resilienceDir,
    });
    extra.push(joinerProc);
    const ready = readyWorker('worker3', joinerProc);
    const init = cluster.initializer.proc;
    const held = await init.waitForStderr(
      /reconfiguration (\d+): every worker aligned barrier \d+; handing out (\d+) key groups/,
      60_000,
    );
    expect(Number(held[2])).toBeGreaterThan(0);
    const from = receiver.lines.length + SKIP;
    await receiver.waitForLines(from + WATCH, 20_000);
    // Counts went on while the moved groups had not been handed out.
    expect(init.stderr).not.toMatch(new RegExp(`reconfiguration ${held[1]} complete`));
    const during = receiver.text.split('\n').slice(from, from + WATCH);

    const joiner = await ready;
    const after = ownership(
      await Promise.all(
        [...cluster.workers, joiner].map((w) => partitionQuery(w.external as string)),
      ),
      'word totals',
    );
    expect(after.problems).toEqual([]);
    const moved = new Set([...after.keys].filter(([, on]) => on[0] === 'worker3').map(([k]) => k));
    expect(moved.size).toBeGreaterThan(0);
    const wordsDuring = during.map((l) => l.slice(0, l.lastIndexOf(' => ')));
    expect(wordsDuring.filter((w) => moved.has(w))).toEqual([]);

    expect((await send.waitForExit(90_000)).code).toBe(0);
    await receiver.waitForLines(words, 90_000);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 180_000);
});
