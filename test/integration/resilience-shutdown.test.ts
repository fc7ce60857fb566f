/**
 * A clean shutdown (`roo shutdown`) with resilience takes a last checkpoint
 * first: with the exactly-once sink, output is released only when a
 * checkpoint commits, so without it everything made since the last periodic
 * checkpoint would never reach the receiver. The checkpoint interval here is
 * a minute: only the shutdown's last checkpoint can release anything.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXTERNAL_LISTENING, makeResilienceDir } from './helpers/cluster.js';
import { parseKeyOutputs, referenceWordCounts, wordCountProblems } from './helpers/key-outputs.js';
import { LOCAL, rooSend, runRoo, startReceive, startWorker, stopAll } from './helpers/processes.js';

const tmp = mkdtempSync(join(tmpdir(), 'roo-shutdown-'));
afterAll(async () => {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
});

describe('roo shutdown with resilience', () => {
  it('commits a last checkpoint, so an exactly-once sink releases everything before the worker stops', async () => {
    const text = Array.from({ length: 2_000 }, (_, i) => `alpha beta w${i % 50} gamma`).join('\n');
    const file = join(tmp, 'in.txt');
    writeFileSync(file, text + '\n');
    const receive = await startReceive();
    const dir = makeResilienceDir();
    const worker = await startWorker({
      module: 'examples/word_count/app.ts',
      threads: 1,
      out: receive.address,
      extra: [
        '--run-with-resilience',
        '--resilience-dir',
        dir,
        '--time-between-checkpoints',
        '60000000000',
        '--external',
        `${LOCAL}:0`,
        '--',
        '--exactly-once',
      ],
    });
    const external = EXTERNAL_LISTENING.exec(worker.proc.stderr)?.[1];
    expect(external).toBeDefined();
    await rooSend(worker.source, file, ['--no-acks']);
    // Let the worker take everything in; nothing is released yet (no commit).
    await new Promise((r) => setTimeout(r, 1_500));
    expect(receive.proc.stdoutText).toBe('');
    const shutdown = await runRoo(['shutdown', external!]);
    expect(shutdown.code).toBe(0);
    const exit = await worker.proc.waitForExit(20_000);
    expect(exit.code).toBe(0);
    expect(worker.proc.stderr).toMatch(/checkpoint \d+ committed/);
    await receive.proc.waitForStderr(/closed/, 5_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const outputs = parseKeyOutputs(receive.proc.stdoutText);
    expect(wordCountProblems(outputs, referenceWordCounts(text))).toEqual([]);
    // A clean shutdown leaves nothing to recover.
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});
