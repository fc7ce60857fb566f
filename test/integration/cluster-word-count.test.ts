/**
 * Word count on clusters of 1, 2 and 3 real workers on loopback
 * (examples/word_count, --ponythreads 1 each). Every worker runs a TCP
 * source; two texts go in at once, one to the initializer and one to the
 * last member, so words cross between workers both ways. Then:
 *  - every word's outputs are exactly 1, 2, ..., n in order, n being an
 *    independent count of the texts (regex /[\p{L}\p{N}]+/gu, lower-cased),
 *    and nothing else is output;
 *  - each worker writes through its own sink connection, and the outputs
 *    the workers report add up to the words sent;
 *  - each key is owned by exactly one worker: the partition queries of all
 *    workers (`roo status --partitions --json`) list every word sent, no
 *    word and no key group on two workers, and every key group somewhere;
 *  - every worker stops cleanly (exit 0) on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  errorCodes,
  LineReceiver,
  ownership,
  partitionQuery,
  startCluster,
  stopClusters,
} from './helpers/cluster.js';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { ROOT, rooSend, runRoo } from './helpers/processes.js';

/** The GPL, version 3 (plain ASCII English). */
const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
/** TypeScript's third-party notices (a devDependency; CRLF, long lines, some non-ASCII). */
const NOTICES = join(ROOT, 'node_modules', 'typescript', 'ThirdPartyNoticeText.txt');
const PARTITION = 'word totals';

const receivers: LineReceiver[] = [];
afterEach(async () => {
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('word count on a cluster gives exact counts', () => {
  const reference = addCounts(
    referenceWordCounts(readFileSync(GPL, 'utf8')),
    referenceWordCounts(readFileSync(NOTICES, 'utf8')),
  );
  const words = total(reference);

  it.each([1, 2, 3])('on %i workers', async (n) => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({
      module: 'examples/word_count/app.ts',
      workers: n,
      out: receiver.address,
      sources: 'all',
    });
    const { workers } = cluster;
    const last = workers[n - 1]!;
    if (n > 1) {
      expect(cluster.control).toMatch(/^127\.0\.0\.1:\d+$/);
      // Members join in any order; the initializer is always worker 1.
      const names = workers.map((w) => w.name).sort();
      for (const w of workers) {
        const m = new RegExp(`joined the cluster as worker (\\d) of ${n}: (.*)$`, 'm').exec(
          w.proc.stderr,
        );
        expect(m, w.proc.stderr).not.toBeNull();
        const members = m![2]!.split(', ');
        expect(members[0]).toBe('initializer');
        expect([...members].sort()).toEqual(names);
        expect(members[Number(m![1]) - 1]).toBe(w.name);
      }
      expect(cluster.initializer.proc.stderr).toContain(`cluster of ${n} workers is running`);
    }
    // Two texts at once, into two different workers.
    const sent = await Promise.all([
      rooSend(cluster.initializer.source, GPL),
      rooSend(last.source, NOTICES),
    ]);
    for (const s of sent) expect(s.stdout).toMatch(/^sent \d+ messages/);
    await receiver.waitForLines(words, 30_000, () =>
      workers.map((w) => w.proc.failure('(still running)').message).join('\n'),
    );

    // Where the outputs were written, and where the keys are, before stopping.
    const statuses = await Promise.all(
      workers.map(async (w) => {
        const r = await runRoo(['status', w.external!, '--json']);
        expect(r.code).toBe(0);
        return JSON.parse(r.stdout) as { worker: string; totals: { written: number } };
      }),
    );
    expect(statuses.map((s) => s.worker)).toEqual(workers.map((w) => w.name));
    expect(statuses.reduce((sum, s) => sum + s.totals.written, 0)).toBe(words);
    if (n > 1) for (const s of statuses) expect(s.totals.written).toBeGreaterThan(0);

    const answers = await Promise.all(workers.map((w) => partitionQuery(w.external!)));
    const owned = ownership(answers, PARTITION);
    expect(owned.problems).toEqual([]);
    expect(owned.keyGroups).toBeGreaterThan(0);
    const twice = [...owned.keys].filter(([, on]) => on.length !== 1);
    expect(twice).toEqual([]);
    expect(new Set(owned.keys.keys())).toEqual(new Set(reference.keys()));
    const groupsTwice = [...owned.groups].filter(([, on]) => on.length !== 1);
    expect(groupsTwice).toEqual([]);
    // Every worker holds key groups (spread round robin), and no group is lost.
    for (const w of workers) {
      expect([...owned.groups.values()].some((on) => on[0] === w.name)).toBe(true);
    }
    const groupIds = [...owned.groups.keys()];
    expect(groupIds.every((g) => Number.isInteger(g) && g >= 0 && g < owned.keyGroups)).toBe(true);

    // Stopping drains every worker; anything extra would reach the receiver first.
    const exits = await cluster.stop();
    expect(exits).toEqual(workers.map((w) => ({ name: w.name, code: 0, signal: null })));
    expect(receiver.partial).toEqual([]);
    expect(receiver.lines.length).toBe(words);
    // One sink connection per worker (as Wallaroo).
    expect(receiver.connections).toBe(n);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
    for (const w of workers) expect(errorCodes(w.proc)).toEqual([]);
  });
});
