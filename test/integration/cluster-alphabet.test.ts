/**
 * Alphabet (examples/alphabet, Wallaroo's) on clusters of 1, 2 and 3 real
 * workers on loopback, --ponythreads 1 each. Two votes files made by the
 * example's own generator (make-votes.ts, two seeds) go in at once, one to
 * the initializer's source and one to the last member's, so votes cross
 * between workers both ways. The letter partition declares its 26 keys, so
 * each letter is its own key group, owned by one worker.
 *
 * Checked against an independent reading of the votes files (5-byte records:
 * a letter, a 32-bit big-endian count): every letter's outputs are its
 * running totals, so they rise strictly, there is one per vote, their steps
 * are exactly that letter's votes (as a multiset: the two files interleave),
 * and the last is the letter's total, which is also what make-votes.ts
 * printed. With one file the outputs are exactly the running sums in file
 * order. Each letter's key group is on exactly one worker (partition query).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCodes,
  LineReceiver,
  ownership,
  partitionQuery,
  startCluster,
  stopClusters,
} from './helpers/cluster.js';
import { parseKeyOutputs, type KeyOutputs } from './helpers/key-outputs.js';
import { RooProcess, rooSend } from './helpers/processes.js';

const LETTERS = [...'abcdefghijklmnopqrstuvwxyz'];
const VOTES_PER_FILE = 3000;
const PARTITION = 'letter state';
const SEND_BINARY = ['--binary', '--msg-size', '5'];

/** The votes of a file, read here (not with the example's decoder): letter and count, in order. */
function readVotes(path: string): { letter: string; votes: number }[] {
  const bytes = readFileSync(path);
  expect(bytes.length % 5).toBe(0);
  const votes: { letter: string; votes: number }[] = [];
  for (let i = 0; i < bytes.length; i += 5) {
    votes.push({ letter: String.fromCharCode(bytes[i]!), votes: bytes.readUInt32BE(i + 1) });
  }
  return votes;
}

/** Runs the example's generator: writes `path`, returns the totals it printed. */
async function makeVotes(path: string, count: number, seed: number): Promise<Map<string, number>> {
  const proc = RooProcess.spawnNode('make-votes', [
    '--import',
    'tsx',
    'examples/alphabet/make-votes.ts',
    path,
    String(count),
    String(seed),
  ]);
  const exit = await proc.waitForExit();
  if (exit.code !== 0) throw proc.failure(`exited with code ${exit.code}`);
  const printed = new Map<string, number>();
  for (const [letter, n] of parseKeyOutputs(proc.stdoutText)) printed.set(letter, n[0]!);
  return printed;
}

/** Problems of alphabet outputs against the votes sent (empty when all is well). */
function alphabetProblems(
  outputs: KeyOutputs,
  files: readonly { letter: string; votes: number }[][],
): string[] {
  const problems: string[] = [];
  for (const letter of LETTERS) {
    const votes = files.flatMap((f) => f.filter((v) => v.letter === letter).map((v) => v.votes));
    const totals = outputs.get(letter) ?? [];
    if (totals.length !== votes.length) {
      problems.push(`'${letter}': ${totals.length} outputs for ${votes.length} votes`);
      continue;
    }
    const steps = totals.map((t, i) => t - (i === 0 ? 0 : totals[i - 1]!));
    if (steps.some((s) => s <= 0)) problems.push(`'${letter}': totals do not rise: ${totals}`);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b).join(',');
    if (sorted(steps) !== sorted(votes)) problems.push(`'${letter}': steps are not its votes`);
    if (files.length === 1) {
      let sum = 0;
      const running = votes.map((v) => (sum += v));
      if (running.join(',') !== totals.join(',')) {
        problems.push(`'${letter}': outputs are not the running sums in file order`);
      }
    }
  }
  for (const key of outputs.keys()) {
    if (!LETTERS.includes(key)) problems.push(`'${key}' was output but is not a letter`);
  }
  return problems;
}

let dir: string;
const files: string[] = [];
const printed: Map<string, number>[] = [];
const receivers: LineReceiver[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roo-alphabet-'));
  for (const seed of [1, 2]) {
    const path = join(dir, `votes-${seed}.msg`);
    printed.push(await makeVotes(path, VOTES_PER_FILE, seed));
    files.push(path);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('alphabet on a cluster gives exact totals', () => {
  it('the votes files are what the test means them to be', () => {
    for (const [i, path] of files.entries()) {
      const votes = readVotes(path);
      expect(votes.length).toBe(VOTES_PER_FILE);
      const totals = new Map<string, number>();
      for (const v of votes) totals.set(v.letter, (totals.get(v.letter) ?? 0) + v.votes);
      // The generator's printed totals agree with our own reading of its file.
      expect(totals).toEqual(printed[i]);
      expect(new Set(totals.keys())).toEqual(new Set(LETTERS));
    }
  });

  it.each([1, 2, 3])('on %i workers', async (n) => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({
      module: 'examples/alphabet/app.ts',
      workers: n,
      out: receiver.address,
      sources: 'all',
    });
    const { workers } = cluster;
    const votes = files.map(readVotes);
    await Promise.all([
      rooSend(cluster.initializer.source, files[0]!, SEND_BINARY),
      rooSend(workers[n - 1]!.source, files[1]!, SEND_BINARY),
    ]);
    await receiver.waitForLines(2 * VOTES_PER_FILE, 30_000);

    const owned = ownership(
      await Promise.all(workers.map((w) => partitionQuery(w.external!))),
      PARTITION,
    );
    expect(owned.problems).toEqual([]);
    expect(owned.keyGroups).toBe(LETTERS.length);
    expect(owned.groups.size).toBe(LETTERS.length);
    expect([...owned.groups.values()].filter((on) => on.length !== 1)).toEqual([]);
    expect([...owned.keys.keys()].sort()).toEqual(LETTERS);
    expect([...owned.keys.values()].filter((on) => on.length !== 1)).toEqual([]);
    const perWorker = workers.map(
      (w) => [...owned.keys.values()].filter((on) => on[0] === w.name).length,
    );
    // Round robin: 26 letters over n workers, as evenly as can be.
    expect(Math.max(...perWorker) - Math.min(...perWorker)).toBeLessThanOrEqual(1);

    const exits = await cluster.stop();
    expect(exits.map((e) => e.code)).toEqual(workers.map(() => 0));
    expect(receiver.partial).toEqual([]);
    expect(receiver.lines.length).toBe(2 * VOTES_PER_FILE);
    expect(receiver.connections).toBe(n);
    const outputs = parseKeyOutputs(receiver.text);
    expect(alphabetProblems(outputs, votes)).toEqual([]);
    for (const letter of LETTERS) {
      expect(outputs.get(letter)!.at(-1)).toBe(
        (printed[0]!.get(letter) ?? 0) + (printed[1]!.get(letter) ?? 0),
      );
    }
    for (const w of workers) expect(errorCodes(w.proc)).toEqual([]);
  });

  it('one file into a member of 2 workers: each letter gets its running sums in file order', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({
      module: 'examples/alphabet/app.ts',
      workers: 2,
      out: receiver.address,
      sources: 'all',
    });
    await rooSend(cluster.workers[1]!.source, files[0]!, SEND_BINARY);
    await receiver.waitForLines(VOTES_PER_FILE, 30_000);
    expect((await cluster.stop()).map((e) => e.code)).toEqual([0, 0]);
    expect(receiver.lines.length).toBe(VOTES_PER_FILE);
    expect(alphabetProblems(parseKeyOutputs(receiver.text), [readVotes(files[0]!)])).toEqual([]);
  });
});
