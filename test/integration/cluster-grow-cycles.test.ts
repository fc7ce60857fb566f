/**
 * Growing and shrinking again and again, and the requests that are refused:
 *  - ten grow/shrink cycles in a row (worker3 joins, then leaves) under a
 *    constant paced input into the initializer, a cluster started with
 *    Wallaroo's older flag names (--topology-initializer, --control-channel):
 *    every word's outputs are exactly 1..n, every key group is owned once,
 *    the routing table's version is 1 + 2 x 10, each joiner left with exit 0;
 *  - while a grow is held mid-way (ROO_RECONFIGURE_DELAY_MS), a shrink is
 *    refused as one is under way; a shrink naming an unknown worker, or the
 *    initializer, is refused whole (exit 1) and changes nothing; --query
 *    lists who may leave; a count above it shrinks by as many as may leave.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerStatus } from '../../runtime/cluster/status.js';
import {
  CONTROL_LISTENING,
  freePort,
  LineReceiver,
  makeResilienceDir,
  ownership,
  partitionQuery,
  readyWorker,
  type ClusterWorker,
} from './helpers/cluster.js';
import { pacedSend, referenceOf, spawnJoiner, WORD_COUNT } from './helpers/grow.js';
import { parseKeyOutputs, total, wordCountProblems } from './helpers/key-outputs.js';
import { LOCAL, RooProcess, runRoo } from './helpers/processes.js';
const CYCLES = 10;

const procs: RooProcess[] = [];
const receivers: LineReceiver[] = [];
afterEach(async () => {
  delete process.env['ROO_RECONFIGURE_DELAY_MS'];
  for (const p of procs.splice(0).reverse()) await p.stop();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function common(name: string, out: string, dir: string): string[] {
  return [
    'worker',
    ...['--application-module', WORD_COUNT, '--out', out, '--name', name],
    ...['--ponythreads', '1', '--resilience-dir', dir, '--external', `${LOCAL}:0`],
  ];
}

/** A two-worker cluster started with Wallaroo's older flag names. */
async function startTwo(out: string): Promise<{ workers: ClusterWorker[]; dir: string }> {
  const dir = makeResilienceDir();
  const init = RooProcess.spawn('initializer', [
    ...common('initializer', out, dir),
    ...['--in', `${LOCAL}:0`, '--topology-initializer', '--worker-count', '2'],
    ...['--control-channel', `${LOCAL}:0`, '--data', `${LOCAL}:0`],
  ]);
  procs.push(init);
  const control = (await init.waitForStderr(CONTROL_LISTENING))[1]!;
  const member = RooProcess.spawn('worker2', [
    ...common('worker2', out, dir),
    ...['--control-channel', control, '--my-data', `${LOCAL}:0`],
    ...['--my-control', `${LOCAL}:${await freePort()}`],
  ]);
  procs.push(member);
  const workers = await Promise.all([
    readyWorker('initializer', init),
    readyWorker('worker2', member),
  ]);
  return { workers, dir };
}

/** Starts worker3 joining through `via`; resolves once it runs. */
async function join3(out: string, dir: string, via: string): Promise<ClusterWorker> {
  const proc = await spawnJoiner({ name: 'worker3', via, out, resilienceDir: dir });
  procs.push(proc);
  return readyWorker('worker3', proc);
}

async function status(w: ClusterWorker): Promise<WorkerStatus> {
  const r = await runRoo(['status', w.external!, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as WorkerStatus;
}

function shrink(w: ClusterWorker, ...args: string[]) {
  return runRoo(['shrink', '--external', w.external!, ...args], 90_000);
}

describe('grow and shrink, again and again', () => {
  it(`runs ${CYCLES} grow/shrink cycles under constant input with exact counts (started with the older flag names)`, async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const { workers, dir } = await startTwo(receiver.address);
    const [init] = workers as [ClusterWorker, ClusterWorker];
    const messages = 30_000;
    const reference = referenceOf(messages);
    const words = total(reference);
    const send = pacedSend(init.source, messages, '10_000_000');
    procs.push(send);
    await receiver.waitForLines(1_000, 60_000);
    // Joiners go through the initializer's control address, or worker2's, in turn.
    const vias = [
      CONTROL_LISTENING.exec(init.proc.stderr)![1]!,
      workers[1]!.proc.args[workers[1]!.proc.args.indexOf('--my-control') + 1]!,
    ];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const joiner = await join3(receiver.address, dir, vias[cycle % 2]!);
      const grown = await status(init);
      expect(grown.routingVersion).toBe(2 * cycle);
      expect(grown.cluster.members.map((m) => m.keyGroups)).toEqual([86, 85, 85]);
      const r = await shrink(init, '--count', '1');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('worker3');
      expect(await joiner.proc.waitForExit()).toMatchObject({ code: 0 });
      const shrunk = await status(init);
      expect(shrunk.routingVersion).toBe(2 * cycle + 1);
      expect(shrunk.cluster.members.map((m) => [m.name, m.keyGroups])).toEqual([
        ['initializer', 128],
        ['worker2', 128],
      ]);
    }
    expect((await send.waitForExit(120_000)).code).toBe(0);
    await receiver.waitForLines(words, 120_000);
    const owned = ownership(
      await Promise.all(workers.map((w) => partitionQuery(w.external!))),
      'word totals',
    );
    expect(owned.problems).toEqual([]);
    expect([...owned.groups.values()].every((on) => on.length === 1)).toBe(true);
    expect(owned.groups.size).toBe(256);
    for (const w of [...workers].reverse()) expect((await w.proc.stop()).code).toBe(0);
    expect(receiver.lines.length).toBe(words);
    expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
  }, 300_000);

  it('refuses a second request while one runs, unknown or ineligible workers, and shrinks by as many as may leave', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    // The initializer holds each reconfiguration 3 s between shipping and handing out.
    process.env['ROO_RECONFIGURE_DELAY_MS'] = '3000';
    const { workers, dir } = await startTwo(receiver.address);
    const [init, w2] = workers as [ClusterWorker, ClusterWorker];
    const control = CONTROL_LISTENING.exec(init.proc.stderr)![1]!;

    // Who may leave: not the initializer (it coordinates, and runs the source).
    const query = await shrink(init, '--query', '--json');
    expect(query.code, query.stderr).toBe(0);
    expect(JSON.parse(query.stdout)).toMatchObject({ ok: true, eligible: ['worker2'] });
    // Refused whole: an unknown name, or the initializer; nothing changes.
    const unknown = await shrink(init, '--workers', 'worker2,nobody');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nobody/);
    const initializer = await shrink(w2, '--workers', 'initializer');
    expect(initializer.code).toBe(1);
    expect(initializer.stderr).toMatch(/initializer/);
    expect((await status(init)).routingVersion).toBe(1);

    // A grow held mid-way: a shrink meanwhile is refused, then the grow completes.
    const joining = join3(receiver.address, dir, control);
    await init.proc.waitForStderr(/every worker aligned barrier \d+; handing out/, 60_000);
    const busy = await shrink(init, '--workers', 'worker2');
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/under way/);
    const joiner = await joining;
    expect((await status(init)).cluster.members.map((m) => m.name)).toEqual([
      'initializer',
      'worker2',
      'worker3',
    ]);
    // A count above those who may leave shrinks by as many as may, and says so.
    const many = await shrink(init, '--count', '5', '--json');
    expect(many.code, many.stderr).toBe(0);
    const outcome = JSON.parse(many.stdout) as { leaving: string[]; message: string };
    expect([...outcome.leaving].sort()).toEqual(['worker2', 'worker3']);
    expect(outcome.message).toMatch(/only 2 may/);
    expect(await joiner.proc.waitForExit()).toMatchObject({ code: 0 });
    expect(await w2.proc.waitForExit()).toMatchObject({ code: 0 });
    const alone = await status(init);
    expect(alone.cluster.members.map((m) => [m.name, m.keyGroups])).toEqual([['initializer', 256]]);
  }, 180_000);
});
