import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  initializerArgs,
  INITIALIZER,
  LineReceiver,
  makeResilienceDir,
  READY,
  readyWorker,
  stopClusters,
} from './helpers/cluster.js';
import { LOCAL, RooProcess, rooSend, runRoo, stopAll } from './helpers/processes.js';

afterEach(async () => {
  await stopAll();
  await stopClusters();
});

const WORDS_A = ['apple', 'banana', 'cherry', 'damson', 'elder', 'fig', 'grape', 'hazel'];

/** Lines of `words` repeated `times`, one word per line. */
function wordsFile(dir: string, name: string, times: number): string {
  const path = join(dir, name);
  const lines: string[] = [];
  for (let i = 0; i < times; i++) lines.push(...WORDS_A);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The last count seen for each word. */
function lastCounts(lines: readonly string[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const l of lines) {
    const [w, n] = l.split(' => ');
    last.set(w!, Number(n));
  }
  return last;
}

describe('cluster restart and shutdown', () => {
  it('a SIGKILLed worker restarted with the same command rejoins; roo shutdown stops all and removes the files', async () => {
    const dir = makeResilienceDir();
    const receiver = await LineReceiver.start();
    const spec = {
      module: 'examples/word_count/app.ts',
      out: receiver.address,
      resilienceDir: dir,
    };
    const init = RooProcess.spawn(
      INITIALIZER,
      initializerArgs(
        { ...spec, name: INITIALIZER, host: LOCAL, source: true, resilienceDir: dir },
        2,
        `${LOCAL}:0`,
      ),
    );
    const control = (await init.waitForStderr(/control channel listening on (\S+:\d+);/))[1]!;
    // A restartable worker has fixed addresses, so the others find it again.
    const memberCommand = [
      'worker',
      ...['--application-module', spec.module, '--out', spec.out, '--name', 'worker2'],
      ...['--ponythreads', '1', '--resilience-dir', dir, '--control', control],
      ...[
        '--my-data',
        `${LOCAL}:${await freePort()}`,
        '--my-control',
        `${LOCAL}:${await freePort()}`,
      ],
      ...['--external', `${LOCAL}:0`],
    ];
    const member = RooProcess.spawn('worker2', memberCommand);
    const initializer = await readyWorker(INITIALIZER, init);
    await readyWorker('worker2', member);
    expect(readdirSync(dir).sort()).toEqual([
      'Word-Count-initializer.cluster.json',
      'Word-Count-worker2.cluster.json',
    ]);

    const first = wordsFile(dir, 'first.txt', 50);
    await rooSend(initializer.source, first);
    await receiver.waitForLines(WORDS_A.length * 50, 20_000);
    for (const [, n] of lastCounts(receiver.lines)) expect(n).toBe(50);

    member.child.kill('SIGKILL');
    await member.waitForExit();
    const again = RooProcess.spawn('worker2', memberCommand);
    await again.waitForStderr(/found cluster information of a previous run/);
    await again.waitForStderr(READY);
    await init.waitForStderr(/worker 'worker2' is back in the cluster/);

    const second = wordsFile(dir, 'second.txt', 30);
    await rooSend(initializer.source, second);
    await receiver.waitForLines(WORDS_A.length * 80, 20_000);
    // No output lost, none doubled: the state of worker2's keys restarted at 0
    // (no checkpoints yet, and it says so), the initializer's went on.
    const last = lastCounts(receiver.lines);
    const restarted = [...last.values()].filter((n) => n === 30).length;
    const kept = [...last.values()].filter((n) => n === 80).length;
    expect(restarted + kept).toBe(WORDS_A.length);
    expect(restarted).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
    expect(again.stderr).toMatch(/the state this worker held before it stopped is lost/);

    const shutdown = await runRoo(['shutdown', initializer.external!]);
    expect(shutdown.code).toBe(0);
    expect((await init.waitForExit()).code).toBe(0);
    expect((await again.waitForExit()).code).toBe(0);
    expect(
      existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cluster.json')) : [],
    ).toEqual([]);
    await receiver.close();
  }, 90_000);
});
