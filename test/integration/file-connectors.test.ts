import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RooProcess, stopAll } from './helpers/processes.js';

afterEach(stopAll);

/** Waits until `path` holds at least `lines` lines, or fails after `ms`. */
async function waitForFileLines(path: string, lines: number, ms = 20_000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const got = text.split('\n').filter((l) => l !== '');
    if (got.length >= lines) return got;
    if (Date.now() > until) throw new Error(`${path} has ${got.length} of ${lines} lines`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('file source, file sink and stdout sink', () => {
  for (const threads of [1, 2]) {
    it(`read every line and write every output, in key order (--ponythreads ${threads})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'roo-file-'));
      try {
        const input = join(dir, 'in.txt');
        const output = join(dir, 'out.txt');
        const words = ['alpha', 'beta', 'gamma', 'délta'];
        const lines: string[] = [];
        for (let i = 0; i < 3000; i++)
          lines.push(`${words[i % 4]} ${words[(i * 7) % 4]} x${i % 10}`);
        // CRLF line ends and no newline at the end: both must be handled.
        writeFileSync(input, lines.join('\r\n'));
        const worker = RooProcess.spawn('worker', [
          'worker',
          '--application-module',
          'test/fixtures/apps/file-connectors.ts',
          '--ponythreads',
          String(threads),
          '--',
          input,
          output,
        ]);
        await worker.waitForStdoutLines(lines.length);
        expect(worker.stdoutText.split('\n').slice(0, -1)).toEqual(
          lines.map((l) => l.toUpperCase()),
        );
        const expected = new Map<string, number>();
        for (const l of lines)
          for (const w of l.split(' ')) expected.set(w, (expected.get(w) ?? 0) + 1);
        const total = [...expected.values()].reduce((a, b) => a + b, 0);
        const got = await waitForFileLines(output, total);
        expect(got).toHaveLength(total);
        const seen = new Map<string, number[]>();
        for (const g of got) {
          const [w, n] = g.split(' => ');
          seen.set(w!, [...(seen.get(w!) ?? []), Number(n)]);
        }
        for (const [w, n] of expected)
          expect(seen.get(w)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        await worker.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
