/**
 * What an operator reads from a running two-worker cluster: `roo status`
 * shows the other member's external address (told over the control
 * channel) and each thread's messages to other workers as the JSON record
 * has them; and a clean `roo shutdown` stops both workers with no warning
 * in either log.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  initializerArgs,
  makeResilienceDir,
  memberArgs,
  readyWorker,
  stopClusters,
  CONTROL_LISTENING,
  INITIALIZER,
} from './helpers/cluster.js';
import { LOCAL, ROOT, RooProcess, rooSend, runRoo, startReceive } from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');

afterEach(stopClusters);

/** Status JSON of the worker whose external channel is at `external`. */
async function statusJson(external: string): Promise<{
  cluster: { members: { name: string; external: string | null }[] };
  threadStats: { sentToWorkers: number; receivedFromWorkers: number }[];
}> {
  const r = await runRoo(['status', external, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe('a two-worker cluster seen by an operator', () => {
  it("roo status shows the other member's external address and the messages to other workers; roo shutdown warns nowhere", async () => {
    const receive = await startReceive();
    const resilienceDir = makeResilienceDir();
    const externals = [`${LOCAL}:${await freePort()}`, `${LOCAL}:${await freePort()}`];
    const common = {
      module: 'examples/word_count/app.ts',
      out: receive.address,
      host: LOCAL,
      resilienceDir,
      external: false,
    };
    const init = RooProcess.spawn(
      INITIALIZER,
      initializerArgs(
        { ...common, name: INITIALIZER, source: true, extra: ['--external', externals[0]!] },
        2,
        `${LOCAL}:0`,
      ),
    );
    const control = (await init.waitForStderr(CONTROL_LISTENING))[1]!;
    const member = RooProcess.spawn(
      'worker2',
      await memberArgs(
        { ...common, name: 'worker2', source: false, extra: ['--external', externals[1]!] },
        control,
      ),
    );
    const [first] = await Promise.all([
      readyWorker(INITIALIZER, init),
      readyWorker('worker2', member),
    ]);
    await rooSend(first.source, GPL);
    await receive.proc.waitForStdoutLines(1);

    for (const external of externals) {
      const s = await statusJson(external);
      expect(s.cluster.members).toEqual([
        expect.objectContaining({ name: INITIALIZER, external: externals[0] }),
        expect.objectContaining({ name: 'worker2', external: externals[1] }),
      ]);
    }
    // Words go both ways between the workers (split runs on both, keys live on both).
    const json = await statusJson(externals[0]!);
    const sent = json.threadStats[0]!.sentToWorkers;
    expect(sent).toBeGreaterThan(0);
    const table = await runRoo(['status', externals[0]!]);
    expect(table.stdout).toMatch(
      new RegExp(`^worker2 +${externals[1]!.replace(/\./g, '\\.')} `, 'm'),
    );
    const row = table.stdout.split('\n').find((l) => /^ +0 +\d/.test(l))!;
    // Columns: thread, actors, busy, delivered, to same thread, to other threads, to workers, ...
    const toWorkers = Number(row.trim().split(/ +/)[6]!.replace(/,/g, ''));
    // The JSON was taken a moment before: the table's count is at least as high.
    expect(toWorkers).toBeGreaterThanOrEqual(sent);

    // What each logs from the shutdown request on.
    const from = [init.stderr.length, member.stderr.length];
    const shutdown = await runRoo(['shutdown', externals[1]!]);
    expect(shutdown.code).toBe(0);
    expect((await init.waitForExit()).code).toBe(0);
    expect((await member.waitForExit()).code).toBe(0);
    for (const [i, p] of [init, member].entries()) {
      const tail = p.stderr.slice(from[i]);
      expect(tail).toContain('Worker shut down cleanly.');
      expect(tail.split('\n').filter((l) => /\b(WARN|ERROR)\b/.test(l))).toEqual([]);
    }
    expect(init.stderr).toMatch(/worker 'worker2' left the control channel \(cluster shutdown\)/);
  });
});
