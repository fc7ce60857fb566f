import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { BIN, ROOT } from './helpers/processes.js';

// Regression: roo's stdout sink wrote fd 1 straight from a scheduler thread;
// the main thread makes fd 1 non-blocking, so once the reader lagged and the
// pipe was full the write failed with EAGAIN (ERR_SYSTEM_ERROR "undefined
// returned undefined"), the scheduler thread died, and the worker then hung in
// its own SIGTERM shutdown. Standard output now goes through process.stdout.
it('a stdout sink whose reader lags for a moment neither kills the worker nor hangs it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roo-stdout-'));
  const input = join(dir, 'in.txt');
  const lines = Array.from({ length: 600_000 }, (_, i) => `line ${i} of some text`);
  writeFileSync(input, lines.join('\n') + '\n');
  const child = spawn(
    process.execPath,
    [
      BIN,
      'worker',
      '--application-module',
      'test/fixtures/apps/file-connectors.ts',
      '--ponythreads',
      '2',
      '--',
      input,
      join(dir, 'out.txt'),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let newlines = 0;
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    await new Promise((r) => setTimeout(r, 8_000)); // stdout not read yet: the pipe fills
    child.stdout.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) newlines++;
    });
    const until = Date.now() + 30_000;
    while (newlines < lines.length && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    expect(err).not.toMatch(/FATAL/);
    expect(newlines).toBe(lines.length);
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('hung'), 10_000)),
    ]);
    expect(code).toBe(0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
