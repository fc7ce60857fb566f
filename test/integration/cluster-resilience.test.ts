/**
 * Crash recovery of a two-worker cluster, with real processes on
 * loopback: word count (examples/word_count, `--ponythreads 1` each,
 * resilience on, a checkpoint every 200 ms) fed by an acknowledging
 * `roo send` of a generated file (100,000 lines, 3,000 distinct words),
 * paced to last several seconds, its output printed by `roo receive`. Mid-
 * stream, on a checkpoint committed after the output has begun, a worker's
 * node process is SIGKILLed and restarted with the same command. Then:
 *  - exactly-once sink (`-- --exactly-once`): every word's outputs are
 *    exactly 1, 2, ..., n in order, n being the count of the file made with
 *    word count's own splitter, and nothing else is output;
 *  - at-least-once sink (the default): every word's highest output is n,
 *    every count 1..n is output, no output jumps ahead of what came before
 *    (repeats after the rollback allowed);
 *  - `roo send` exits 0 (every message acknowledged).
 * Also: three kills in a row; Wallaroo's resilience walkthrough (its log lines
 * in order, a second send after the recovery); a truncated snapshot refused
 * with what to do and exit code 2.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { INITIALIZER, makeResilienceDir, READY, stopClusters } from './helpers/cluster.js';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  wordCountProblems,
  type KeyOutputs,
} from './helpers/key-outputs.js';
import { type ReceiveProcess, type RooProcess, startReceive } from './helpers/processes.js';
import {
  atLeastOnceProblems,
  OutputTally,
  positionsInOrder,
  sendSucceeded,
  stackTraceLines,
  startSend,
  waitForCommitAfter,
  type WordInput,
  writeLogs,
  writeWordInput,
} from './helpers/resilience.js';
import { RestartableCluster, type WorkerName } from './helpers/restartable-cluster.js';

const MODULE = 'examples/word_count/app.ts';
/** 200 ms between checkpoints. */
const CHECKPOINT_NS = 200_000_000n;
/** Sender pacing: 50 lines every 2 ms, at most 25,000 lines/s (the file takes 4 s or more). */
const PACED = ['--batch-size', '50', '--interval', '2000000'];
/** Share of the outputs the receiver must have printed before a kill (mid-stream). */
const KILL_AFTER_SHARE = 0.15;
/** A send survives a recovery or several: it reconnects and resends what is not acknowledged. */
const SEND_MS = 120_000;
/** Wallaroo's recovery lines, in the order a restarted worker logs them. */
const RECOVERY_LINES = [
  'Recovering from recovery files!',
  'Attempting to recover...',
  '|~~ - Recovery COMPLETE - ~~|',
  '~~~Resuming message processing.~~~',
  '|~~ INIT PHASE III: Application is ready to work! ~~|',
];

let inputDir: string;
let input: WordInput;

beforeAll(() => {
  inputDir = mkdtempSync(join(tmpdir(), 'roo-resilience-input-'));
  input = writeWordInput(inputDir, 'words.txt', 100_000, 3_000, 4);
  // The splitter's count agrees with the definition (a regex written apart from it).
  const text = readFileSync(input.path, 'utf8');
  expect(referenceWordCounts(text)).toEqual(input.counts);
});

afterAll(() => {
  rmSync(inputDir, { recursive: true, force: true });
});

afterEach(async () => {
  await stopClusters();
});

/** A receiver and a running two-worker cluster writing to it. */
interface Rig {
  readonly receive: ReceiveProcess;
  readonly cluster: RestartableCluster;
  readonly dir: string;
  /** Every `roo send` started (for the logs of a failed test). */
  readonly sends: RooProcess[];
}

async function startRig(exactlyOnce: boolean): Promise<Rig> {
  const receive = await startReceive();
  const dir = makeResilienceDir();
  const cluster = await RestartableCluster.create({
    module: MODULE,
    out: receive.address,
    resilienceDir: dir,
    checkpointNs: CHECKPOINT_NS,
    ...(exactlyOnce ? { appArgs: ['--exactly-once'] } : {}),
  });
  const rig: Rig = { receive, cluster, dir, sends: [] };
  onTestFailed(() => {
    const logs = writeLogs([receive.proc, ...cluster.history, ...rig.sends]);
    console.error(`cluster-resilience: the processes' logs are in ${logs}`);
  });
  await cluster.start();
  return rig;
}

/** Starts an acknowledging `roo send` of `file` to the cluster's source. */
function sendFile(rig: Rig, file: string, extra: readonly string[]): RooProcess {
  const send = startSend(rig.cluster.source, file, extra);
  rig.sends.push(send);
  return send;
}

/**
 * Waits until the receiver has printed {@link KILL_AFTER_SHARE} of `words`
 * outputs, then for the next checkpoint the initializer commits (the moment
 * to kill); the send must still be running (the kill is mid-stream).
 */
async function waitForKillPoint(rig: Rig, send: RooProcess, words: number): Promise<number> {
  await rig.receive.proc.waitForStdoutLines(Math.ceil(words * KILL_AFTER_SHARE), 30_000);
  const init = rig.cluster.initializer;
  const id = await waitForCommitAfter(init, init.stderr.length);
  expect(send.exitStatus, 'the send finished before the kill: pace it slower').toBeUndefined();
  return id;
}

/** Kills `name` with SIGKILL, restarts it with the same command, waits until it is ready. */
async function killAndRestart(rig: Rig, name: WorkerName): Promise<RooProcess> {
  await rig.cluster.kill(name);
  const again = rig.cluster.spawn(name);
  await again.waitForStderr(READY, 30_000);
  return again;
}

/**
 * Waits for the send to exit 0 and every word's final count, stops the
 * cluster, then the receiver (which writes out what it holds), and returns
 * everything it printed.
 */
async function finish(
  rig: Rig,
  sends: readonly RooProcess[],
  tally: OutputTally,
): Promise<KeyOutputs> {
  for (const send of sends) await sendSucceeded(send, SEND_MS);
  await tally.waitForFinalCounts(30_000);
  await rig.cluster.stop();
  await rig.receive.proc.stop();
  return parseKeyOutputs(rig.receive.proc.stdoutText);
}

/** Runs one send of the whole input through one SIGKILL of `victim` and returns the output. */
async function oneKill(rig: Rig, victim: WorkerName): Promise<KeyOutputs> {
  const tally = new OutputTally(rig.receive.proc, input.counts);
  const send = sendFile(rig, input.path, PACED);
  await waitForKillPoint(rig, send, input.words);
  const again = await killAndRestart(rig, victim);
  expect(positionsInOrder(again.stderr, RECOVERY_LINES)).not.toContain(-1);
  return finish(rig, [send], tally);
}

/*
 * The kills come right on a `checkpoint N committed` line: the window in
 * which the coordinator has recorded commit N (and acked senders, released
 * exactly-once output) but a member has not heard of it yet. A restarted
 * member therefore reports every whole snapshot file it has, not only the
 * commits it recorded (runtime/cluster/member.ts, `helloOf`); these tests
 * found that.
 */
describe('a two-worker cluster recovers from SIGKILL', () => {
  it('worker2 killed and restarted, exactly-once sink: every word output exactly 1..n', async () => {
    const rig = await startRig(true);
    const outputs = await oneKill(rig, 'worker2');
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
  }, 90_000);

  it('worker2 killed and restarted, at-least-once sink: totals exact, every 1..n output', async () => {
    const rig = await startRig(false);
    const outputs = await oneKill(rig, 'worker2');
    const report = atLeastOnceProblems(outputs, input.counts);
    expect(report.problems).toEqual([]);
  }, 90_000);

  it('the initializer killed and restarted, exactly-once sink: every word output exactly 1..n', async () => {
    const rig = await startRig(true);
    const outputs = await oneKill(rig, INITIALIZER);
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
  }, 90_000);

  it('three kills in a row (worker2, the initializer, worker2), exactly-once: every word output exactly 1..n', async () => {
    const rig = await startRig(true);
    const tally = new OutputTally(rig.receive.proc, input.counts);
    // Slower: 20 lines every 2 ms (the file takes 10 s or more), so that every kill is mid-stream.
    const send = sendFile(rig, input.path, ['--batch-size', '20', '--interval', '2000000']);
    await waitForKillPoint(rig, send, input.words);
    const victims: WorkerName[] = ['worker2', INITIALIZER, 'worker2'];
    const stillSending: boolean[] = [];
    for (const victim of victims) {
      stillSending.push(send.exitStatus === undefined);
      const again = await killAndRestart(rig, victim);
      expect(positionsInOrder(again.stderr, RECOVERY_LINES)).not.toContain(-1);
      // Recovered: a checkpoint commits after the restarted worker is ready.
      const init = rig.cluster.initializer;
      await waitForCommitAfter(init, victim === INITIALIZER ? 0 : init.stderr.length, 30_000);
    }
    expect(stillSending).toEqual(victims.map(() => true));
    const outputs = await finish(rig, [send], tally);
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
  }, 150_000);

  it("Wallaroo's walkthrough: send, kill worker2, restart, send more; recovery lines in order, totals exact", async () => {
    const rig = await startRig(false);
    const more = writeWordInput(rig.dir, 'more.txt', 20_000, 1_000, 11);
    const reference = addCounts(new Map(input.counts), more.counts);
    const tally = new OutputTally(rig.receive.proc, reference);
    const first = sendFile(rig, input.path, [...PACED, '--stream-id', 'first']);
    await waitForKillPoint(rig, first, input.words);
    const again = await killAndRestart(rig, 'worker2');
    const second = sendFile(rig, more.path, [...PACED, '--stream-id', 'second']);
    const outputs = await finish(rig, [first, second], tally);

    const log = again.stderr;
    const at = positionsInOrder(log, RECOVERY_LINES);
    expect(
      RECOVERY_LINES.filter((_, i) => at[i] === -1),
      `restarted worker2's log:\n${log}`,
    ).toEqual([]);
    const report = atLeastOnceProblems(outputs, reference);
    expect(report.problems).toEqual([]);
  }, 90_000);

  it('a truncated snapshot: the restarted worker refuses to start, says what to do, exits 2', async () => {
    const rig = await startRig(false);
    const send = sendFile(rig, input.path, ['--messages', '20000']);
    await sendSucceeded(send, SEND_MS);
    const init = rig.cluster.initializer;
    await waitForCommitAfter(init, init.stderr.length);
    await rig.cluster.kill('worker2');

    const snapshots = readdirSync(rig.dir).filter((f) => /^Word-Count-worker2\..*\.snap$/.test(f));
    expect(snapshots.length).toBeGreaterThan(0);
    for (const f of snapshots) {
      const path = join(rig.dir, f);
      truncateSync(path, Math.floor(statSync(path).size / 2));
    }
    const again = rig.cluster.spawn('worker2');
    const exit = await again.waitForExit(30_000);
    const out = again.stderr + again.stdoutText;
    expect(exit, out).toEqual({ code: 2, signal: null });
    // Each file is refused, then the worker as a whole.
    expect(out).toMatch(/checkpoint-\d+\.snap is refused: snapshot file is corrupt: truncated/);
    expect(out).toMatch(/cannot recover/);
    expect(out).toContain('rm ');
    expect(out).toContain('ROO_ERR_SNAPSHOT_CORRUPT');
    expect(stackTraceLines(out)).toEqual([]);
    // The initializer refuses the worker and stays up.
    expect(init.exitStatus).toBeUndefined();
    expect(stackTraceLines(init.stderr)).toEqual([]);
  }, 90_000);

  it('a member waiting for a lost initializer stops at once on SIGTERM', async () => {
    const rig = await startRig(false);
    await rig.cluster.kill(INITIALIZER);
    const member = rig.cluster.proc('worker2');
    await member.waitForStderr(/the control connection to the initializer closed/, 20_000);
    member.child.kill('SIGTERM');
    // It used to log a clean shutdown and go on retrying for minutes.
    const exit = await member.waitForExit(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(member.stderr).toContain('Worker shut down cleanly.');
  }, 60_000);
});
