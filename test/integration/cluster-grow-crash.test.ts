/**
 * A crash in the middle of growing a cluster, with resilience on and the
 * exactly-once sink: two workers run word count fed by an acknowledging,
 * paced `roo send`; a third joins (`--join` through worker2); once every
 * worker has aligned the reconfiguration's barrier and shipped its moving
 * key groups (the initializer then waits ROO_RECONFIGURE_DELAY_MS before
 * handing them out, so the kill lands mid-way), one process is SIGKILLed
 * (and, at two other moments, ROO_RECONFIGURE_DELAY_AT: with every member
 * prepared but before the barrier goes out, and with the groups handed
 * out but before the new routing table is installed; every victim at every
 * moment with ROO_SOAK=1):
 *  - the joiner: the cluster rolls back to its last checkpoint, as it was;
 *  - worker2, a giver, restarted with the same command;
 *  - the initializer, restarted with the same command;
 * and in each case the cluster recovers as it was before the grow (two
 * workers, the grow never completed). Also: the leaving worker SIGKILLed in
 * the middle of a shrink and restarted (the cluster recovers with three
 * workers, the shrink never completed), and a grow after a recovery. Each
 * time the send finishes, and every word's outputs
 * are exactly 1..n in order, n counted independently of the application.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { makeResilienceDir, stopClusters } from './helpers/cluster.js';
import { parseKeyOutputs, wordCountProblems } from './helpers/key-outputs.js';
import { LOCAL, RooProcess, startReceive } from './helpers/processes.js';
import {
  OutputTally,
  sendSucceeded,
  startSend,
  writeLogs,
  writeWordInput,
  type WordInput,
} from './helpers/resilience.js';
import { RestartableCluster, restartablePort } from './helpers/restartable-cluster.js';

const MODULE = 'examples/word_count/app.ts';
const CHECKPOINT_NS = 200_000_000n;
/** The barrier is aligned everywhere and the groups are shipped: the initializer is about to hand them out. */
const MID_WAY = /reconfiguration (\d+): every worker aligned barrier \d+; handing out/;
/** What the initializer logs at each moment it can hold a reconfiguration. */
const MOMENTS = {
  barrier: /reconfiguration \d+: every old member is prepared; barrier \d+ goes out/,
  'hand-out': MID_WAY,
  rewire: /reconfiguration \d+: every member holds what it takes over; installing routing table/,
} as const;
type Moment = keyof typeof MOMENTS;
type Victim = 'joiner' | 'worker2' | 'initializer';
/** Victim and moment of each crash: the whole matrix in the soak, a spread of it by default. */
const CRASHES: readonly [Victim, Moment][] =
  process.env['ROO_SOAK'] === '1'
    ? (['joiner', 'worker2', 'initializer'] as const).flatMap((v) =>
        (Object.keys(MOMENTS) as Moment[]).map((m): [Victim, Moment] => [v, m]),
      )
    : [
        ['joiner', 'hand-out'],
        ['worker2', 'hand-out'],
        ['initializer', 'hand-out'],
        ['worker2', 'barrier'],
        ['joiner', 'rewire'],
      ];

let inputDir: string;
let input: WordInput;
const procs: RooProcess[] = [];

beforeAll(() => {
  // The initializer (started by these tests) waits this long between shipping and handing out.
  process.env['ROO_RECONFIGURE_DELAY_MS'] = '2000';
  inputDir = mkdtempSync(join(tmpdir(), 'roo-grow-crash-'));
  input = writeWordInput(inputDir, 'words.txt', 40_000, 2_000, 11);
});

afterAll(() => {
  delete process.env['ROO_RECONFIGURE_DELAY_MS'];
  rmSync(inputDir, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
  await stopClusters();
});

describe('a crash in the middle of a grow recovers with exactly-once output', () => {
  it.each(CRASHES)(
    'SIGKILL of the %s (the initializer holding at %s)',
    async (victim, moment) => {
      process.env['ROO_RECONFIGURE_DELAY_AT'] = moment;
      const { receive, resilienceDir, cluster, joiners, tally, send } = await streamingCluster();
      delete process.env['ROO_RECONFIGURE_DELAY_AT'];
      const joinerArgs = await joiner3(cluster, receive.address, resilienceDir);

      const joiner = RooProcess.spawn('worker3', joinerArgs);
      joiners.push(joiner);
      procs.push(joiner);
      await cluster.initializer.waitForStderr(MOMENTS[moment], 60_000);
      if (victim === 'joiner') {
        joiner.child.kill('SIGKILL');
        await joiner.waitForExit();
      } else {
        await cluster.kill(victim);
        cluster.spawn(victim);
      }
      // The cluster comes back as it was: the grow never completed.
      await cluster.initializer.waitForStderr(
        /cluster of 2 workers recovered from checkpoint/,
        60_000,
      );
      if (victim !== 'joiner') {
        // The joiner is sent away (or refused by a restarted initializer that never knew it).
        const exit = await joiner.waitForExit(60_000);
        expect(exit.signal).toBeNull();
      }
      await sendSucceeded(send, 120_000);
      await tally.waitForFinalCounts(120_000);
      await cluster.stop();
      await receive.proc.stop();
      expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), input.counts)).toEqual([]);
      expect(cluster.initializer.stderr).not.toMatch(/reconfiguration \d+ complete/);
    },
    240_000,
  );

  it('a SIGKILL of the leaving worker in the middle of a shrink recovers the cluster before it', async () => {
    process.env['ROO_RECONFIGURE_DELAY_MS'] = '2000';
    const { receive, resilienceDir, cluster, joiners, tally, send } = await streamingCluster();
    const args = await joiner3(cluster, receive.address, resilienceDir, [
      '--external',
      `${LOCAL}:0`,
    ]);
    const first = RooProcess.spawn('worker3', args);
    joiners.push(first);
    procs.push(first);
    await cluster.initializer.waitForStderr(
      /reconfiguration (\d+) complete: routing table version 2, 3 workers/,
      60_000,
    );
    // Shrink worker3 out through its own external channel; kill it mid-way.
    const external = (await first.waitForStderr(/external channel listening on (\S+:\d+)$/m))[1]!;
    const shrink = RooProcess.spawn('shrink', [
      'shrink',
      '--external',
      external,
      '--workers',
      'worker3',
    ]);
    procs.push(shrink);
    await cluster.initializer.waitForStderr(
      /reconfiguration \d+: every worker aligned barrier \d+; handing out \d+ key groups[\s\S]*reconfiguration \d+: every worker aligned barrier \d+; handing out/,
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.waitForExit();
    // Restarted with the same command, it rejoins and the cluster rolls back to its last checkpoint.
    const again = RooProcess.spawn('worker3 (start 2)', args);
    joiners.push(again);
    procs.push(again);
    await cluster.initializer.waitForStderr(
      /cluster of 3 workers recovered from checkpoint/,
      60_000,
    );
    await sendSucceeded(send, 120_000);
    await tally.waitForFinalCounts(120_000);
    await again.stop();
    await cluster.stop();
    await receive.proc.stop();
    expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), input.counts)).toEqual([]);
    // The shrink never completed.
    expect(cluster.initializer.stderr).not.toMatch(/complete: routing table version 3/);
  }, 240_000);

  it("grows after a recovery: the joiner gets the cluster's rollback generation", async () => {
    delete process.env['ROO_RECONFIGURE_DELAY_MS'];
    const { receive, resilienceDir, cluster, joiners, tally, send } = await streamingCluster();
    await cluster.kill('worker2');
    cluster.spawn('worker2');
    await cluster.initializer.waitForStderr(
      /cluster of 2 workers recovered from checkpoint/,
      60_000,
    );
    const joiner = RooProcess.spawn(
      'worker3',
      await joiner3(cluster, receive.address, resilienceDir),
    );
    joiners.push(joiner);
    procs.push(joiner);
    await cluster.initializer.waitForStderr(
      /reconfiguration \d+ complete: routing table version 2, 3 workers/,
      60_000,
    );
    await sendSucceeded(send, 120_000);
    await tally.waitForFinalCounts(120_000);
    // The joiner took data: nothing of its was dropped as another generation's.
    expect(joiner.stderr).not.toMatch(/dropped a connection of rollback generation/);
    await joiner.stop();
    await cluster.stop();
    await receive.proc.stop();
    expect(wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), input.counts)).toEqual([]);
  }, 240_000);
});

/** The value following `flag` in a command line. */
function argOf(args: readonly string[], flag: string): string {
  return args[args.indexOf(flag) + 1] as string;
}

/** `roo worker` arguments of worker3, joining through worker2's control address with resilience. */
async function joiner3(
  cluster: RestartableCluster,
  out: string,
  resilienceDir: string,
  extra: readonly string[] = [],
): Promise<string[]> {
  return [
    'worker',
    ...['--application-module', MODULE, '--out', out, '--name', 'worker3'],
    ...['--ponythreads', '1', '--run-with-resilience', '--resilience-dir', resilienceDir],
    ...['--time-between-checkpoints', String(CHECKPOINT_NS)],
    ...['--join', argOf(cluster.commands.worker2, '--my-control')],
    ...['--my-data', `${LOCAL}:${await restartablePort()}`],
    ...['--my-control', `${LOCAL}:${await restartablePort()}`],
    ...extra,
    ...['--', '--exactly-once'],
  ];
}

/**
 * Two resilient workers with the exactly-once sink, their outputs printed by
 * `roo receive` and tallied, fed by a paced acknowledging `roo send`;
 * resolves once outputs flow. Its processes' logs are written out if the
 * test fails (with those of the joiners the test adds to `joiners`).
 */
async function streamingCluster() {
  const receive = await startReceive();
  procs.push(receive.proc);
  const resilienceDir = makeResilienceDir();
  const cluster = await RestartableCluster.create({
    module: MODULE,
    out: receive.address,
    resilienceDir,
    checkpointNs: CHECKPOINT_NS,
    appArgs: ['--exactly-once'],
  });
  const joiners: RooProcess[] = [];
  onTestFailed(() => {
    process.stderr.write(`logs: ${writeLogs([...cluster.history, ...joiners])}\n`);
  });
  await cluster.start();
  const tally = new OutputTally(receive.proc, input.counts);
  const send = startSend(cluster.source, input.path, [
    '--batch-size',
    '50',
    '--interval',
    '5000000',
  ]);
  procs.push(send);
  await receive.proc.waitForStdoutLines(2_000);
  return { receive, resilienceDir, cluster, joiners, tally, send };
}
