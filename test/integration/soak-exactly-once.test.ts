/**
 * The soak: a three-worker word count (resilience on, a checkpoint every
 * 200 ms, the exactly-once sink) under constant input from an acknowledging
 * `roo send`, its output kept by `roo receive --output FILE --ledger FILE`,
 * through SIGKILLs of random workers (the initializer included) and of the
 * receiver, each victim restarted with its own command once the cluster had
 * recovered from the kill before. Then every word's outputs in the file are
 * exactly 1..n in order, n counted independently of the application, and
 * the resident memory of every worker, sampled throughout, stayed under a
 * bound.
 *
 * `npm test` runs the short version: 3 kills (a worker, the receiver, the
 * initializer, in a seeded order), about a minute. `npm run test:soak`
 * (ROO_SOAK=1) runs 20 kills, twice the receiver, over several minutes, and
 * writes its figures into bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { INITIALIZER, makeResilienceDir, stopClusters } from './helpers/cluster.js';
import { DurableReceiver, FileFollower } from './helpers/durable-receiver.js';
import { parseKeyOutputs, wordCountProblems } from './helpers/key-outputs.js';
import { ROOT, type RooProcess } from './helpers/processes.js';
import {
  after,
  CHECKPOINT_COMMITTED,
  sendSucceeded,
  startSend,
  waitForCommitAfter,
  type WordInput,
  writeLogs,
  writeWordInput,
} from './helpers/resilience.js';
import {
  killSchedule,
  RssSampler,
  SoakCluster,
  soakBlock,
  writeSoakResults,
} from './helpers/soak.js';

const SOAK = process.env['ROO_SOAK'] === '1';
const MODULE = 'examples/word_count/app.ts';
const WORKERS = 3;
const CHECKPOINT_NS = 200_000_000n;
const KILLS = SOAK ? 20 : 3;
const RECEIVER_KILLS = SOAK ? 2 : 1;
/** The short run's victims: a member, the receiver, the initializer. */
const SHORT_VICTIMS = ['worker3', 'receiver', INITIALIZER];
/** The input file's lines, sent this many times over (`--repeat`). */
const FILE_LINES = 20_000;
const REPEATS = SOAK ? 30 : 2;
/** A constant pace: 20 lines every 10 ms (2,000 lines/s) in the soak, 15 (1,500/s) in the short run. */
const PACE = ['--batch-size', SOAK ? '20' : '15', '--interval', '10000000'];
/** No worker's resident memory may pass this. */
const RSS_BOUND = 768 * 1024 * 1024;
/** Two commits: checkpoints go on while the receiver is away. */
const TWO_COMMITS = new RegExp(`(?:${CHECKPOINT_COMMITTED.source}[\\s\\S]*?){2}`);
/** What the initializer logs once a rollback has brought every worker back. */
const RECOVERED = new RegExp(`cluster of ${WORKERS} workers recovered from checkpoint \\d+`);
const WAIT_MS = 120_000;

let inputDir: string;
let input: WordInput;
let expected: Map<string, number>;

beforeAll(() => {
  inputDir = mkdtempSync(join(tmpdir(), 'roo-soak-'));
  input = writeWordInput(inputDir, 'words.txt', FILE_LINES, 3_000, 23);
  expected = new Map([...input.counts].map(([w, n]) => [w, n * REPEATS]));
});

afterAll(() => {
  rmSync(inputDir, { recursive: true, force: true });
});

const followers: FileFollower[] = [];
afterEach(async () => {
  for (const f of followers.splice(0)) f.close();
  await stopClusters();
});

/** The machine, for the figures. */
function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform} ${process.arch}`;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
}

describe(`soak: exactly-once word count through ${KILLS} SIGKILLs`, () => {
  it(
    `${WORKERS} workers and the receiver killed ${KILLS} times (${RECEIVER_KILLS} the receiver): every word 1..n exactly once, memory bounded`,
    async () => {
      const t0 = performance.now();
      const dir = makeResilienceDir();
      const receiver = await DurableReceiver.create(dir);
      const file = new FileFollower(receiver.output);
      followers.push(file);
      await receiver.start();
      const cluster = await SoakCluster.create({
        module: MODULE,
        out: receiver.address,
        resilienceDir: dir,
        checkpointNs: CHECKPOINT_NS,
        workers: WORKERS,
        appArgs: ['--exactly-once'],
      });
      const sends: RooProcess[] = [];
      onTestFailed(() => {
        const logs = writeLogs([...receiver.history, ...cluster.history, ...sends]);
        console.error(`soak: the processes' logs are in ${logs}`);
      });
      const sampler = new RssSampler(
        () => new Map(cluster.names.map((n) => [n, cluster.proc(n)] as const)),
      );
      await cluster.start();
      const lines = FILE_LINES * REPEATS;
      const send = startSend(cluster.source, input.path, [
        ...['--repeat', '--messages', String(lines), ...PACE, '--stream-id', 'soak'],
      ]);
      sends.push(send);

      const victims = SOAK ? killSchedule(cluster.names, KILLS, RECEIVER_KILLS, 7) : SHORT_VICTIMS;
      expect(victims).toHaveLength(KILLS);
      expect(victims.filter((v) => v === 'receiver')).toHaveLength(RECEIVER_KILLS);
      expect(victims).toContain(INITIALIZER);
      const survived: string[] = [];
      /** Seconds from each kill until the cluster ran again (recovered, and a checkpoint committed). */
      const recoveries: number[] = [];
      const sendingAtKill: boolean[] = [];
      let total = 0;
      for (const n of expected.values()) total += n;
      for (const [i, victim] of victims.entries()) {
        // Spread over the whole input, while it flows: kill i once (i + 1)/(kills + 1) of the outputs are in.
        await file.lines(Math.floor(((i + 1) * total) / (KILLS + 1)), 600_000);
        sendingAtKill.push(send.exitStatus === undefined);
        const killedAt = performance.now();
        const init = cluster.initializer;
        const offset = init.stderr.length;
        if (victim === 'receiver') {
          await receiver.kill();
          // Checkpoints and their transactions go on without it; the sinks hold them.
          await init.waitForStderr(after(offset, TWO_COMMITS), WAIT_MS);
          await receiver.start();
        } else {
          await cluster.kill(victim);
          const again = cluster.spawn(victim);
          const coordinator = victim === INITIALIZER ? again : init;
          const from = victim === INITIALIZER ? 0 : offset;
          const m = await coordinator.waitForStderr(after(from, RECOVERED), WAIT_MS);
          // Running again: a checkpoint commits after the recovery.
          await waitForCommitAfter(coordinator, m.index + m[0].length, WAIT_MS);
        }
        survived.push(victim);
        recoveries.push((performance.now() - killedAt) / 1000);
        console.log(
          `soak: kill ${survived.length} of ${KILLS} (${victim}) survived in ${recoveries.at(-1)!.toFixed(1)} s, ${((performance.now() - t0) / 1000).toFixed(0)} s in`,
        );
      }

      // Every kill came while the input flowed.
      expect(sendingAtKill).toEqual(victims.map(() => true));
      await sendSucceeded(send, 600_000);
      await file.finalCounts(expected, WAIT_MS);
      sampler.sample();
      sampler.stop();
      await cluster.stop();
      expect(await receiver.proc.stop()).toEqual({ code: 0, signal: null });

      const outputs = parseKeyOutputs(file.text());
      expect(wordCountProblems(outputs, expected)).toEqual([]);
      let count = 0;
      for (const list of outputs.values()) count += list.length;
      expect(count).toBe(total);
      expect(survived).toEqual(victims);
      for (const name of cluster.names) {
        expect(sampler.samples.get(name) ?? 0, `RSS samples of ${name}`).toBeGreaterThan(0);
        expect(sampler.peak.get(name) ?? 0, `peak RSS of ${name}`).toBeLessThan(RSS_BOUND);
      }

      const figures = {
        command: `${SOAK ? 'ROO_SOAK=1 ' : ''}npx vitest run test/integration/soak-exactly-once.test.ts`,
        machine: machine(),
        node: `${process.version}, flags: (none) for the roo processes`,
        commit: commit(),
        workers: WORKERS,
        seconds: (performance.now() - t0) / 1000,
        lines,
        outputs: count,
        words: outputs.size,
        kills: survived,
        recoveries,
        peakRss: sampler.peak,
        rssBound: RSS_BOUND,
      };
      const block = soakBlock(figures);
      console.log(block);
      if (SOAK) console.log(`soak: figures written to ${writeSoakResults(block)}`);
    },
    SOAK ? 3_600_000 : 300_000,
  );
});
