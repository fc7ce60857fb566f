/**
 * Every worker's lifecycle, seen from outside: `roo status` shows each
 * worker's phase and role (the initializer, a member, a joiner); while a
 * grow holds (the initializer waits ROO_RECONFIGURE_DELAY_MS between the
 * barrier and handing the groups out) the old members are `reconfiguring`
 * and `roo shutdown` is refused, through the initializer and through a
 * member, with ROO_ERR_ILLEGAL_TRANSITION and nothing stops; once the grow
 * is over, the same `roo shutdown` (relayed by a member) stops all three
 * workers with exit 0. And a SIGTERM to a restarted worker in the middle
 * of its restore (held by ROO_RESTORE_DELAY_MS) waits for the restore, then
 * stops it cleanly; restarted again, it recovers with the cluster.
 */
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import type { LifecycleStatus, WorkerStatus } from '../../runtime/cluster/status.js';
import {
  errorCodes,
  INITIALIZER,
  LineReceiver,
  makeResilienceDir,
  READY,
  readyWorker,
  startCluster,
  stopClusters,
  type ClusterWorker,
} from './helpers/cluster.js';
import { spawnJoiner, WORD_COUNT } from './helpers/grow.js';
import { runRoo, startReceive, type RooProcess } from './helpers/processes.js';
import { waitForCommitAfter, writeLogs } from './helpers/resilience.js';
import { RestartableCluster } from './helpers/restartable-cluster.js';

/** The initializer has every group shipped and now holds before handing them out. */
const HOLDING = /reconfiguration (\d+): every worker aligned barrier \d+; handing out/;

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
const restartables: RestartableCluster[] = [];
afterEach(async () => {
  for (const c of restartables.splice(0)) await Promise.all(c.history.map((p) => p.stop()));
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A worker's lifecycle, from `roo status --json`. */
async function lifecycleOf(w: ClusterWorker): Promise<LifecycleStatus | null> {
  const r = await runRoo(['status', w.external!, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as WorkerStatus).lifecycle;
}

describe("a worker's lifecycle", () => {
  it('roo status shows it; roo shutdown is refused during a grow and stops the cluster after it', async () => {
    const receiver = await LineReceiver.start();
    receivers.push(receiver);
    const cluster = await startCluster({
      module: WORD_COUNT,
      workers: 2,
      out: receiver.address,
      // Long enough for two `roo status` and two `roo shutdown` while the grow holds.
      spawn: (i) => (i === 0 ? { env: { ROO_RECONFIGURE_DELAY_MS: '8000' } } : {}),
    });
    const [init, member] = cluster.workers as [ClusterWorker, ClusterWorker];
    const running = { phase: 'running', description: 'running' };
    expect(await lifecycleOf(init)).toEqual({ ...running, role: 'initializer' });
    expect(await lifecycleOf(member)).toEqual({ ...running, role: 'member' });
    const table = await runRoo(['status', member.external!]);
    expect(table.stdout).toMatch(/^lifecycle {4}running \(member\)$/m);

    const joinerProc = await spawnJoiner({
      name: 'worker3',
      via: cluster.control!,
      out: receiver.address,
      resilienceDir: cluster.resilienceDir,
    });
    extra.push(joinerProc);
    const id = (await init.proc.waitForStderr(HOLDING, 60_000))[1]!;
    const reconfiguring = `reconfiguring (reconfiguration ${id})`;
    expect(await lifecycleOf(member)).toEqual({
      phase: 'reconfiguring',
      role: 'member',
      description: reconfiguring,
    });
    for (const [w, role] of [
      [init, 'initializer'],
      [member, 'member'],
    ] as const) {
      const refused = await runRoo(['shutdown', w.external!]);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        `refused 'shutdown': ROO_ERR_ILLEGAL_TRANSITION: refused 'shutdown-asked': this ${role} worker is ${reconfiguring}`,
      );
    }

    await init.proc.waitForStderr(/reconfiguration \d+ complete: routing table version 2/, 60_000);
    const joiner = await readyWorker('worker3', joinerProc);
    expect(await lifecycleOf(joiner)).toEqual({ ...running, role: 'joiner' });
    expect(await lifecycleOf(member)).toEqual({ ...running, role: 'member' });
    // Nothing stopped for the refused requests.
    for (const w of [init, member]) expect(w.proc.exitStatus).toBeUndefined();

    const ok = await runRoo(['shutdown', member.external!]);
    expect(ok.code, ok.stderr).toBe(0);
    for (const w of [init, member, joiner])
      expect(await w.proc.waitForExit(), w.name).toEqual({ code: 0, signal: null });
    // The refusals are the only errors any worker logged.
    expect(errorCodes(init.proc)).toEqual(['ROO_ERR_ILLEGAL_TRANSITION']);
    expect(errorCodes(member.proc)).toEqual(['ROO_ERR_ILLEGAL_TRANSITION']);
    expect(errorCodes(joiner.proc)).toEqual([]);
    expect(member.proc.stderr).toMatch(
      /external channel: shutdown refused: refused 'shutdown-asked'/,
    );
  }, 120_000);

  it('a SIGTERM during a restore waits for it, then the worker stops cleanly and can recover again', async () => {
    const receive = await startReceive();
    extra.push(receive.proc);
    const cluster = await RestartableCluster.create({
      module: WORD_COUNT,
      out: receive.address,
      resilienceDir: makeResilienceDir(),
      checkpointNs: 200_000_000n,
    });
    restartables.push(cluster);
    onTestFailed(() => {
      console.error(`cluster-lifecycle: the processes' logs are in ${writeLogs(cluster.history)}`);
    });
    await cluster.start();
    await waitForCommitAfter(cluster.initializer, 0);
    await cluster.kill('worker2');
    // Restarted, it rolls back with the cluster and holds in the middle of its restore.
    const held = cluster.spawn('worker2', { ROO_RESTORE_DELAY_MS: '5000' });
    await held.waitForStderr(/rolling back to checkpoint \d+/, 60_000);
    held.child.kill('SIGTERM');
    expect(await held.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    const log = held.stderr;
    const deferred = log.indexOf('SIGTERM: stopping once the checkpoint is restored');
    const aborted = log.indexOf('SIGTERM: stopped before the cluster formed');
    expect(deferred).toBeGreaterThan(0);
    expect(aborted).toBeGreaterThan(deferred);
    expect(log).toContain('Worker shut down cleanly.');
    // The cluster waits for it; started again it recovers, and both stop cleanly.
    const back = cluster.spawn('worker2');
    await back.waitForStderr(READY, 60_000);
    await cluster.initializer.waitForStderr(/cluster of 2 workers recovered from checkpoint \d+/);
    await cluster.stop();
    for (const p of [cluster.proc(INITIALIZER), back])
      expect(p.exitStatus, p.label).toEqual({ code: 0, signal: null });
  }, 120_000);
});
