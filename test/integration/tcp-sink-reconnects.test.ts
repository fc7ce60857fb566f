import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RooProcess, rooSend, startReceive, startWorker, stopAll } from './helpers/processes.js';

afterEach(stopAll);

describe('TCP sink', () => {
  it('holds outputs while its receiver is down and delivers them all after it reconnects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roo-sink-'));
    try {
      const first = await startReceive();
      const worker = await startWorker({
        module: 'examples/reverse/app.ts',
        threads: 2,
        out: first.address,
      });
      const before = Array.from({ length: 500 }, (_, i) => `before ${i}`);
      writeFileSync(join(dir, 'a.txt'), before.join('\n') + '\n');
      await rooSend(worker.source, join(dir, 'a.txt'));
      await first.proc.waitForStdoutLines(before.length);
      await first.proc.stop();

      // No receiver now: these outputs must wait in the worker, not vanish.
      const after = Array.from({ length: 500 }, (_, i) => `after ${i}`);
      writeFileSync(join(dir, 'b.txt'), after.join('\n') + '\n');
      await rooSend(worker.source, join(dir, 'b.txt'));
      await worker.proc.waitForStderr(/sink connection to \S+ failed/);

      const [, port] = first.address.split(':');
      const second = RooProcess.spawn('receive', ['receive', '--listen', `127.0.0.1:${port}`]);
      await second.waitForStderr(/^Listening on/m);
      await second.waitForStdoutLines(after.length);
      const reversed = (s: string) => [...s].reverse().join('');
      expect(second.stdoutText.split('\n').slice(0, -1)).toEqual(after.map(reversed));
      await worker.proc.waitForStderr(/is up again/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
