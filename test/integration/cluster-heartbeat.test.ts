/**
 * A worker that stops answering is noticed by its heartbeats: real
 * two-worker word count clusters on loopback (`--heartbeat-timeout 1500`),
 * worker2 stopped with SIGSTOP mid-stream, its sockets left open. The
 * initializer must log that it treats worker2 as lost (waited for, never
 * timed). Then:
 *  - resilience, exactly-once sink, SIGCONT: the resumed worker reads that
 *    it was dropped, rejoins, and the cluster rolls back with it; every
 *    word's outputs are exactly 1..n, n an independent count of the input;
 *  - resilience, at-least-once sink, the stopped worker SIGKILLed and
 *    restarted: totals exact, every count 1..n output;
 *  - no resilience, SIGCONT: the resumed worker does not run on beside the
 *    cluster's view of it: it says why and exits 1; restarted with the same
 *    command it is back in the cluster.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { INITIALIZER, makeResilienceDir, READY, stopClusters } from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  wordCountProblems,
  type KeyOutputs,
} from './helpers/key-outputs.js';
import { type ReceiveProcess, type RooProcess, startReceive } from './helpers/processes.js';
import {
  after,
  atLeastOnceProblems,
  OutputTally,
  sendSucceeded,
  startSend,
  waitForCommitAfter,
  type WordInput,
  writeLogs,
  writeWordInput,
} from './helpers/resilience.js';
import { RestartableCluster } from './helpers/restartable-cluster.js';

const MODULE = 'examples/word_count/app.ts';
const TIMEOUT_MS = 1_500;
const HEARTBEAT = ['--heartbeat-timeout', String(TIMEOUT_MS)];
/** Sender pacing: 50 lines every 2 ms (the file takes 4 s or more). */
const PACED = ['--batch-size', '50', '--interval', '2000000'];
const SEND_MS = 120_000;
/** The initializer's line when it gives up on a silent worker2. */
const LOST = new RegExp(
  `worker 'worker2' sent nothing for \\d+ ms \\(heartbeat timeout ${TIMEOUT_MS} ms\\): treating it as lost`,
);

let inputDir: string;
let input: WordInput;

beforeAll(() => {
  inputDir = mkdtempSync(join(tmpdir(), 'roo-heartbeat-input-'));
  input = writeWordInput(inputDir, 'words.txt', 60_000, 2_000, 7);
  expect(referenceWordCounts(readFileSync(input.path, 'utf8'))).toEqual(input.counts);
});

afterAll(() => {
  rmSync(inputDir, { recursive: true, force: true });
});

afterEach(async () => {
  await stopClusters();
});

interface Rig {
  readonly receive: ReceiveProcess;
  readonly cluster: RestartableCluster;
  readonly sends: RooProcess[];
}

async function startRig(options: { exactlyOnce: boolean; resilience: boolean }): Promise<Rig> {
  const receive = await startReceive();
  const cluster = await RestartableCluster.create({
    module: MODULE,
    out: receive.address,
    resilienceDir: makeResilienceDir(),
    checkpointNs: 200_000_000n,
    extra: HEARTBEAT,
    resilience: options.resilience,
    ...(options.exactlyOnce ? { appArgs: ['--exactly-once'] } : {}),
  });
  const rig: Rig = { receive, cluster, sends: [] };
  onTestFailed(() => {
    const logs = writeLogs([receive.proc, ...cluster.history, ...rig.sends]);
    console.error(`cluster-heartbeat: the processes' logs are in ${logs}`);
  });
  await cluster.start();
  return rig;
}

/** Starts the paced send and waits until it is mid-stream, right after a commit. */
async function midStream(rig: Rig): Promise<RooProcess> {
  const send = startSend(rig.cluster.source, input.path, PACED);
  rig.sends.push(send);
  await rig.receive.proc.waitForStdoutLines(Math.ceil(input.words * 0.15), 30_000);
  const init = rig.cluster.initializer;
  await waitForCommitAfter(init, init.stderr.length);
  expect(send.exitStatus, 'the send finished before the stop: pace it slower').toBeUndefined();
  return send;
}

/** SIGSTOPs worker2 and waits for the initializer to give up on it; returns where its log was. */
async function stopUntilLost(rig: Rig): Promise<number> {
  const init = rig.cluster.initializer;
  const from = init.stderr.length;
  rig.cluster.proc('worker2').child.kill('SIGSTOP');
  await init.waitForStderr(after(from, LOST), 30_000);
  return from;
}

async function finish(rig: Rig, send: RooProcess, tally: OutputTally): Promise<KeyOutputs> {
  await sendSucceeded(send, SEND_MS);
  await tally.waitForFinalCounts(30_000);
  await rig.cluster.stop();
  await rig.receive.proc.stop();
  return parseKeyOutputs(rig.receive.proc.stdoutText);
}

describe('a worker stopped with SIGSTOP is declared lost by its heartbeats', () => {
  it('resilience, exactly-once: resumed with SIGCONT, it rejoins through a rollback; every word 1..n', async () => {
    const rig = await startRig({ exactlyOnce: true, resilience: true });
    const tally = new OutputTally(rig.receive.proc, input.counts);
    const send = await midStream(rig);
    const worker2 = rig.cluster.proc('worker2');
    const from = await stopUntilLost(rig);
    const init = rig.cluster.initializer;
    // Lost exactly as a closed connection: the same line follows.
    await init.waitForStderr(after(from, /worker 'worker2' disconnected from the control channel/));
    worker2.child.kill('SIGCONT');
    await worker2.waitForStderr(
      /the initializer treated this worker as lost: nothing came from it for \d+ ms \(heartbeat timeout 1500 ms.*rejoining/,
      30_000,
    );
    await init.waitForStderr(after(from, /rolling the cluster back to checkpoint \d+/), 30_000);
    await init.waitForStderr(after(from, /cluster of 2 workers recovered from checkpoint/), 30_000);
    const outputs = await finish(rig, send, tally);
    // The same process all along: it was never restarted.
    expect(rig.cluster.starts.worker2).toBe(1);
    expect(worker2.exitStatus).toEqual({ code: 0, signal: null });
    expect(wordCountProblems(outputs, input.counts)).toEqual([]);
  }, 150_000);

  it('resilience, at-least-once: killed while stopped and restarted, it rejoins; totals exact', async () => {
    const rig = await startRig({ exactlyOnce: false, resilience: true });
    const tally = new OutputTally(rig.receive.proc, input.counts);
    const send = await midStream(rig);
    await stopUntilLost(rig);
    await rig.cluster.kill('worker2');
    const again = rig.cluster.spawn('worker2');
    await again.waitForStderr(READY, 30_000);
    const outputs = await finish(rig, send, tally);
    expect(atLeastOnceProblems(outputs, input.counts).problems).toEqual([]);
  }, 150_000);

  it('no resilience: resumed with SIGCONT, it exits 1 saying why; restarted, it is back', async () => {
    const rig = await startRig({ exactlyOnce: false, resilience: false });
    const worker2 = rig.cluster.proc('worker2');
    const from = await stopUntilLost(rig);
    worker2.child.kill('SIGCONT');
    const exit = await worker2.waitForExit(30_000);
    expect(exit.code, worker2.stderr).toBe(1);
    expect(worker2.stderr).toMatch(
      /the initializer treated this worker as lost: nothing came from it for \d+ ms .*exiting; restart it with the same command/,
    );
    expect(worker2.stderr).toContain('ROO_ERR_WORKER_LOST');
    const again = rig.cluster.spawn('worker2');
    await again.waitForStderr(READY, 30_000);
    const init = rig.cluster.initializer;
    await init.waitForStderr(after(from, /worker 'worker2' is back in the cluster/));
    expect(init.exitStatus).toBeUndefined();
    expect(init.stderr.slice(from)).not.toContain(INITIALIZER + "' sent nothing");
  }, 120_000);
});
