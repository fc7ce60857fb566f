/**
 * Bounded memory across workers (credit between workers, docs/architecture.md
 * section 5, rule 9): a two-worker word count with resilience on (a
 * checkpoint every 200 ms) where worker2's sink goes to a receiver that
 * reads slowly (about 16 KiB every 20 ms), while the initializer's sink goes
 * to a fast one and the initializer takes the whole input from an
 * acknowledging `roo send` as fast as the cluster lets it. Half the words
 * live on worker2, so the initializer could run far ahead of it.
 *
 * Both workers' resident memory is sampled throughout; the largest sample
 * must stay within a bound well below what holding the input's words would
 * take (no timing is asserted, only sizes). Checkpoints keep committing while
 * the slow receiver is the bottleneck, and in the end every word's outputs,
 * over both receivers, are exactly 1, 2, ..., n in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineReceiver, startCluster, stopClusters } from './helpers/cluster.js';
import { parseKeyOutputs, total, wordCountProblems } from './helpers/key-outputs.js';
import { RssSampler, rssOf } from './helpers/memory.js';
import { EACH_CHECKPOINT, LOCAL, rooSend } from './helpers/processes.js';
import { CHECKPOINT_COMMITTED, writeWordInput, type WordInput } from './helpers/resilience.js';

/** Lines of input: about 2.5 words each. */
const LINES = 200_000;
/**
 * How far a worker's RSS may rise above where it stood before the input: a
 * few windows of credit (2 MiB a lane), the mailboxes' marks and the sink's
 * buffers. Holding the words of the input that worker2 has not written yet
 * would take several times this.
 */
const RSS_GROWTH_BOUND = 160 * 1024 * 1024;
const COMMITS = new RegExp(CHECKPOINT_COMMITTED.source, 'g');

let dir: string;
let input: WordInput;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roo-slow-sink-'));
  input = writeWordInput(dir, 'words.txt', LINES, 5_000, 11);
});

afterAll(async () => {
  await stopClusters();
  rmSync(dir, { recursive: true, force: true });
});

describe('a worker whose sink reads slowly', () => {
  it('grows neither its own memory nor the other worker’s without bound; checkpoints commit; counts are exact', async () => {
    const fast = await LineReceiver.start();
    const slow = await LineReceiver.start(LOCAL, { bytes: 16 * 1024, everyMs: 20 });
    try {
      const cluster = await startCluster({
        module: 'examples/word_count/app.ts',
        workers: 2,
        out: fast.address,
        outOf: (i) => (i === 1 ? slow.address : fast.address),
        extra: ['--run-with-resilience', '--time-between-checkpoints', '200_000_000'],
        // Each commit's line (debug level): the test counts them.
        spawn: () => EACH_CHECKPOINT,
      });
      const pids = cluster.workers.map((w) => w.proc.child.pid!);
      const before = pids.map(rssOf);
      const words = total(input.counts);
      const sampler = new RssSampler(pids);
      const init = cluster.initializer.proc;
      const commitsAtStart = (init.stderr.match(COMMITS) ?? []).length;
      let commitsWhileSlow = 0;
      try {
        await rooSend(cluster.initializer.source, input.path);
        // The send is over (its frames acknowledged by committed checkpoints); worker2's
        // receiver may still be behind.
        const all = () => fast.lines.length + slow.lines.length >= words;
        await Promise.race([fast.waitUntil(all, 120_000), slow.waitUntil(all, 120_000)]);
        commitsWhileSlow = (init.stderr.match(COMMITS) ?? []).length - commitsAtStart;
      } finally {
        sampler.stop();
      }
      const exits = await cluster.stop();
      expect(exits.map((e) => e.code)).toEqual([0, 0]);

      const growth = pids.map((pid, i) => (sampler.max.get(pid) ?? 0) - before[i]!);
      console.log(
        `slow sink: ${words} words; RSS before ${before.map(mb).join(', ')}, largest ${pids.map((p) => mb(sampler.max.get(p) ?? 0)).join(', ')} (${sampler.samples} samples); ${commitsWhileSlow} checkpoints committed`,
      );
      for (const [i, w] of cluster.workers.entries()) {
        expect(growth[i], `${w.name}'s RSS growth`).toBeLessThan(RSS_GROWTH_BOUND);
      }
      // Checkpoints went on committing with the slow receiver as the bottleneck.
      expect(commitsWhileSlow).toBeGreaterThanOrEqual(3);
      // Worker2's receiver really was slow: it got its share, at its pace.
      expect(slow.lines.length).toBeGreaterThan(words / 4);
      const outputs = parseKeyOutputs(`${fast.text}${slow.text}`);
      expect(wordCountProblems(outputs, input.counts)).toEqual([]);
      expect([...fast.partial, ...slow.partial]).toEqual([]);
    } finally {
      await fast.close();
      await slow.close();
    }
  }, 240_000);
});

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
