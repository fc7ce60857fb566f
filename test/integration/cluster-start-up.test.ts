/**
 * How a cluster forms, with real processes on loopback (word count,
 * --ponythreads 1 each):
 *  - a member started before its initializer says the initializer is not
 *    reachable yet, keeps retrying, and joins once the initializer is up;
 *  - a worker whose --name is already taken is refused (exit 2, a clear
 *    message with ROO_ERR_DUPLICATE_WORKER), while the cluster gathers and
 *    once it runs; the cluster forms (or keeps running) and counts exactly;
 *  - a worker of another application is refused (exit 2,
 *    ROO_ERR_CLUSTER_MISMATCH) and the cluster still forms.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClusterSpec,
  clusterOf,
  CONTROL_LISTENING,
  errorCodes,
  READY,
  freePort,
  LineReceiver,
  makeResilienceDir,
  readyWorker,
  startCluster,
  startInitializer,
  startMember,
  stopClusters,
} from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { escapeRegExp, LOCAL, ROOT, rooSend, RooProcess } from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));
const words = total(reference);

const receivers: LineReceiver[] = [];
afterEach(async () => {
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(): Promise<LineReceiver> {
  const r = await LineReceiver.start();
  receivers.push(r);
  return r;
}

function spec(out: string, workers: number): ClusterSpec {
  return { module: 'examples/word_count/app.ts', workers, out };
}

/** Sends the GPL to `source` and checks that `out` gets exactly its counts. */
async function countsExactly(out: LineReceiver, source: string): Promise<void> {
  await rooSend(source, GPL);
  await out.waitForLines(words, 30_000);
  expect(wordCountProblems(parseKeyOutputs(out.text), reference)).toEqual([]);
}

/**
 * Waits for a worker that must be refused to exit, and checks exit 2 and its
 * message. Fails at once if it becomes ready instead (it was let in).
 */
async function expectRefused(proc: RooProcess, code: string, message: RegExp): Promise<void> {
  const outcome = await Promise.race([
    proc.exited.then(() => 'exited'),
    proc.waitForStderr(READY).then(
      () => 'ready',
      () => 'not ready',
    ),
  ]);
  if (proc.exitStatus === undefined) {
    throw proc.failure(
      outcome === 'ready'
        ? 'was let into the cluster (logged PHASE III) instead of being refused'
        : 'neither exited nor became ready',
    );
  }
  expect(proc.exitStatus.code, proc.stderr).toBe(2);
  expect(proc.stderr).toMatch(/the initializer refused this worker: /);
  expect(proc.stderr).toMatch(message);
  expect(proc.stderr).toContain(code);
  expect(proc.stderr).not.toMatch(READY);
}

describe('cluster start-up', () => {
  // Regression: a signal during start-up was only recorded, so an initializer
  // waiting for workers (or a member waiting for the initializer) never stopped.
  it('a member still retrying to reach its initializer stops cleanly on SIGTERM', async () => {
    const dir = makeResilienceDir();
    const port = await freePort();
    const member = RooProcess.spawn('worker2', [
      ...['worker', '--application-module', 'examples/word_count/app.ts', '--out', `${LOCAL}:9`],
      ...['--name', 'worker2', '--resilience-dir', dir, '--control', `${LOCAL}:${port}`],
      ...['--my-data', `${LOCAL}:0`],
    ]);
    await member.waitForStderr(/is not reachable yet/);
    const exit = await member.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(member.stderr).toMatch(/stopped before the cluster formed/);
  });

  it('an initializer still waiting for its workers stops cleanly on SIGTERM', async () => {
    const spec = { module: 'examples/word_count/app.ts', out: `${LOCAL}:9`, workers: 2 };
    const { proc } = await startInitializer(spec, makeResilienceDir());
    await proc.waitForStderr(/joined \(1 of 2\)/);
    const exit = await proc.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(proc.stderr).toMatch(/stopped before the cluster formed/);
  });

  it('a member started before its initializer retries, says so, and joins', async () => {
    const out = await receiver();
    const dir = makeResilienceDir();
    const s = spec(out.address, 2);
    const control = `${LOCAL}:${await freePort()}`;

    const member = await startMember(s, 1, control, dir);
    await member.waitForStderr(
      new RegExp(`initializer at ${escapeRegExp(control)} is not reachable yet .*; retrying`),
    );
    // It keeps trying for a while, not just once.
    const init = await startInitializer(s, dir, control);
    expect(init.control).toBe(control);
    const workers = await Promise.all([
      readyWorker('initializer', init.proc),
      readyWorker('worker2', member),
    ]);
    expect(member.stderr).toMatch(
      new RegExp(`connected to the initializer at ${escapeRegExp(control)}`),
    );
    expect(member.stderr).toMatch(/joined the cluster as worker 2 of 2: initializer, worker2/);
    expect(init.proc.stderr).toMatch(/worker 'worker2' joined \(2 of 2\)/);

    await countsExactly(out, workers[0].source);
    const exits = await clusterOf(workers, control, dir).stop();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(out.lines.length).toBe(words);
    for (const w of workers) expect(errorCodes(w.proc)).toEqual([]);
  });

  it('a duplicate name is refused while the cluster gathers; the cluster forms and counts', async () => {
    const out = await receiver();
    const dir = makeResilienceDir();
    const s = spec(out.address, 3);
    const init = await startInitializer(s, dir);
    const control = init.control!;
    const worker2 = await startMember(s, 1, control, dir);
    await init.proc.waitForStderr(/worker 'worker2' joined \(2 of 3\)/);

    const duplicate = await startMember(s, 2, control, dir, 'worker2');
    await expectRefused(
      duplicate,
      'ROO_ERR_DUPLICATE_WORKER',
      /a worker named 'worker2' is already in the cluster; give every worker a unique --name/,
    );
    expect(init.proc.stderr).toMatch(/refused a worker: a worker named 'worker2'/);

    // The place is still free for a third worker; the cluster forms with it.
    const worker3 = await startMember(s, 2, control, dir);
    const workers = await Promise.all([
      readyWorker('initializer', init.proc),
      readyWorker('worker2', worker2),
      readyWorker('worker3', worker3),
    ]);
    expect(init.proc.stderr).toContain('cluster of 3 workers is running');
    await countsExactly(out, workers[0].source);
    expect((await clusterOf(workers, control, dir).stop()).map((e) => e.code)).toEqual([0, 0, 0]);
    expect(out.lines.length).toBe(words);
  });

  // Regression test: this was a bug, fixed (see git log).
  it('a duplicate name is refused once the cluster runs; the cluster keeps counting', async () => {
    const out = await receiver();
    const s = spec(out.address, 2);
    const cluster = await startCluster(s);

    const duplicate = await startMember(s, 1, cluster.control!, cluster.resilienceDir, 'worker2');
    await expectRefused(duplicate, 'ROO_ERR_DUPLICATE_WORKER', /'worker2'/);

    await countsExactly(out, cluster.initializer.source);
    for (const w of cluster.workers) expect(w.proc.exitStatus).toBeUndefined();
    expect((await cluster.stop()).map((e) => e.code)).toEqual([0, 0]);
    expect(out.lines.length).toBe(words);
  });

  it('a worker of another application is refused; the cluster still forms', async () => {
    const out = await receiver();
    const dir = makeResilienceDir();
    const s = spec(out.address, 2);
    const init = await startInitializer(s, dir);
    expect(init.proc.stderr).toMatch(CONTROL_LISTENING);

    const stranger = await startMember(
      { ...s, module: 'examples/alphabet/app.ts' },
      1,
      init.control!,
      dir,
      'stranger',
    );
    await expectRefused(
      stranger,
      'ROO_ERR_CLUSTER_MISMATCH',
      /runs application 'Alphabet' .* but this cluster runs 'Word Count'/,
    );

    const worker2 = await startMember(s, 1, init.control!, dir);
    const workers = await Promise.all([
      readyWorker('initializer', init.proc),
      readyWorker('worker2', worker2),
    ]);
    await countsExactly(out, workers[0].source);
    expect((await clusterOf(workers, init.control, dir).stop()).map((e) => e.code)).toEqual([0, 0]);
  });
});
