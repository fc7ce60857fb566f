/**
 * Word count over real texts that nobody here wrote, as real processes:
 * `roo receive` ← `roo worker` (examples/word_count) ← two `roo send`s at
 * once, at --ponythreads 1, 2 and 4 (more threads than the machine has
 * cores). Every word's last output equals an independent count of the
 * texts, and each word's outputs are exactly
 * 1, 2, ..., n in order (a key sees its inputs in order, and its outputs
 * leave in order). No output is missing or extra.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { ROOT, rooSend, startReceive, startWorker, stopAll } from './helpers/processes.js';

/** The GPL, version 3 (plain ASCII English). */
const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
/** TypeScript's third-party notices (a devDependency; CRLF, long lines, some non-ASCII). */
const NOTICES = join(ROOT, 'node_modules', 'typescript', 'ThirdPartyNoticeText.txt');

afterEach(stopAll);

describe('word count over real texts gives exact counts', () => {
  const texts = [GPL, NOTICES];
  const reference = addCounts(
    new Map<string, number>(),
    referenceWordCounts(readFileSync(GPL, 'utf8')),
  );
  addCounts(reference, referenceWordCounts(readFileSync(NOTICES, 'utf8')));
  const words = total(reference);

  it('the texts are what the test means them to be', () => {
    expect(words).toBeGreaterThan(10_000);
    // Lines with non-ASCII characters take the app's Unicode path; CRLF lines get stripped.
    const notices = readFileSync(NOTICES, 'utf8');
    expect(notices).toMatch(/[^\x00-\x7f]/);
    expect(notices).toMatch(/\r\n/);
  });

  it.each([1, 2, 4])('at --ponythreads %i', async (threads) => {
    const receive = await startReceive();
    const worker = await startWorker({
      module: 'examples/word_count/app.ts',
      threads,
      out: receive.address,
    });
    // Two connections at once: each key still sees its words in order.
    const sent = await Promise.all(texts.map((file) => rooSend(worker.source, file)));
    for (const s of sent) expect(s.stdout).toMatch(/^sent \d+ messages/);

    await receive.proc.waitForStdoutLines(words);
    // Stopping drains the worker; anything extra would reach the receiver first.
    expect((await worker.proc.stop()).code).toBe(0);
    expect((await receive.proc.stop()).code).toBe(0);
    expect(receive.proc.stdoutLines).toBe(words);
    expect(receive.proc.stdoutText.endsWith('\n')).toBe(true);

    const problems = wordCountProblems(parseKeyOutputs(receive.proc.stdoutText), reference);
    expect(problems).toEqual([]);
    expect(worker.proc.stderr).not.toMatch(/ROO_ERR_/);
  });
});
