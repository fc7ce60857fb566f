/**
 * Exactly once to the receiver through its own crashes, with real processes
 * on loopback: word count on two workers (resilience on, a checkpoint every
 * 200 ms, the exactly-once sink), an acknowledging `roo send` of a generated
 * file (100,000 lines, 3,000 distinct words), and `roo receive --output FILE
 * --ledger FILE` on a fixed port. Mid-stream the receiver is SIGKILLed and
 * started again with the same command, after its sinks have noticed it gone,
 * or after ten checkpoints have committed without it. Then every word's
 * outputs in the file are exactly 1, 2, ..., n in order, n being the count
 * made independently of the input, nothing else is in the file, and the send
 * exits 0.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { makeResilienceDir, stopClusters } from './helpers/cluster.js';
import { DurableReceiver, FileFollower } from './helpers/durable-receiver.js';
import { parseKeyOutputs, referenceWordCounts, wordCountProblems } from './helpers/key-outputs.js';
import {
  after,
  CHECKPOINT_COMMITTED,
  sendSucceeded,
  startSend,
  type WordInput,
  writeLogs,
  writeWordInput,
} from './helpers/resilience.js';
import { RestartableCluster } from './helpers/restartable-cluster.js';
import type { RooProcess } from './helpers/processes.js';

const MODULE = 'examples/word_count/app.ts';
/** 200 ms between checkpoints. */
const CHECKPOINT_NS = 200_000_000n;
/** Sender pacing: 20 lines every 2 ms (the file takes 10 s or more): the kill is mid-stream. */
const PACED = ['--batch-size', '20', '--interval', '2000000'];
/** Share of the outputs in the file before the receiver is killed. */
const KILL_AFTER_SHARE = 0.15;
/** The line a worker's sink logs when its receiver went away. */
const SINK_DOWN = /sink connection to \S+ failed/;
/** Ten `checkpoint N committed` lines. */
const TEN_COMMITS = new RegExp(`(?:${CHECKPOINT_COMMITTED.source}[\\s\\S]*?){10}`);

let inputDir: string;
let input: WordInput;

beforeAll(() => {
  inputDir = mkdtempSync(join(tmpdir(), 'roo-receiver-restart-'));
  input = writeWordInput(inputDir, 'words.txt', 100_000, 3_000, 7);
  expect(referenceWordCounts(readFileSync(input.path, 'utf8'))).toEqual(input.counts);
});

afterAll(() => {
  rmSync(inputDir, { recursive: true, force: true });
});

const followers: FileFollower[] = [];
afterEach(async () => {
  for (const f of followers.splice(0)) f.close();
  await stopClusters();
});

interface Rig {
  readonly receiver: DurableReceiver;
  readonly file: FileFollower;
  readonly cluster: RestartableCluster;
  readonly send: RooProcess;
}

async function startRig(): Promise<Rig> {
  const dir = makeResilienceDir();
  const receiver = await DurableReceiver.create(dir);
  const file = new FileFollower(receiver.output);
  followers.push(file);
  await receiver.start();
  const cluster = await RestartableCluster.create({
    module: MODULE,
    out: receiver.address,
    resilienceDir: dir,
    checkpointNs: CHECKPOINT_NS,
    appArgs: ['--exactly-once'],
  });
  const sends: RooProcess[] = [];
  onTestFailed(() => {
    const logs = writeLogs([...receiver.history, ...cluster.history, ...sends]);
    console.error(`receiver-restart: the processes' logs are in ${logs}`);
  });
  await cluster.start();
  const send = startSend(cluster.source, input.path, PACED);
  sends.push(send);
  return { receiver, file, cluster, send };
}

/** Waits for the send to exit 0 and every final count, stops everything, returns the file's outputs. */
async function finish(rig: Rig): Promise<ReturnType<typeof parseKeyOutputs>> {
  await sendSucceeded(rig.send, 120_000);
  await rig.file.finalCounts(input.counts, 60_000);
  await rig.cluster.stop();
  const exit = await rig.receiver.proc.stop();
  expect(exit).toEqual({ code: 0, signal: null });
  return parseKeyOutputs(rig.file.text());
}

describe('roo receive --output --ledger survives SIGKILL: exactly once to the file', () => {
  it('killed mid-stream and restarted with the same command: every word output exactly 1..n', async () => {
    const rig = await startRig();
    await rig.file.lines(Math.ceil(input.words * KILL_AFTER_SHARE), 60_000);
    const killedAt = rig.cluster.initializer.stderr.length;
    await rig.receiver.kill();
    expect(
      rig.send.exitStatus,
      'the send finished before the kill: pace it slower',
    ).toBeUndefined();
    // Back once a sink has noticed it gone (and held what it could not write).
    await rig.cluster.initializer.waitForStderr(after(killedAt, SINK_DOWN), 20_000);
    const again = await rig.receiver.start();
    const outputs = await finish(rig);
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
    // It recovered from its files and its sinks resent what it had not acknowledged.
    expect(again.stderr).not.toMatch(/ROO_ERR_/);
    expect(again.stderr).toMatch(/exactly-once sink "initializer\/tcp sink" connected/);
  }, 180_000);

  it('away for ten checkpoints: checkpoints go on without it, and every word is output exactly 1..n', async () => {
    const rig = await startRig();
    await rig.file.lines(Math.ceil(input.words * KILL_AFTER_SHARE), 60_000);
    const init = rig.cluster.initializer;
    const killedAt = init.stderr.length;
    await rig.receiver.kill();
    // Ten checkpoints commit while the receiver is away: the sinks hold their transactions.
    await init.waitForStderr(after(killedAt, TEN_COMMITS), 30_000);
    await rig.receiver.start();
    const outputs = await finish(rig);
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
  }, 180_000);
});
