/**
 * The examples run as their READMEs say (`roo receive`, `roo worker`,
 * `roo send`) and give exactly the outputs they document: alphabet's
 * per-letter totals (a vote for anything but a..z dropped, the others
 * counted), reverse's reversed lines, celsius's conversions (compared as a
 * multiset when its parallel step runs on two threads).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyOutputs } from './helpers/key-outputs.js';
import { rooSend, startReceive, startWorker, stopAll } from './helpers/processes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roo-examples-'));
});
afterEach(stopAll);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Runs an example: starts `roo receive` and the worker, sends `file` with
 * `roo send [sendFlags]`, waits for `lines` output lines, stops both and
 * returns the receiver's output and the worker's log.
 */
async function runExample(
  module: string,
  threads: number,
  file: string,
  lines: number,
  sendFlags: readonly string[] = [],
): Promise<{ output: string; log: string }> {
  const receive = await startReceive();
  const worker = await startWorker({ module, threads, out: receive.address });
  await rooSend(worker.source, file, sendFlags);
  await receive.proc.waitForStdoutLines(lines);
  // Stopping drains the worker first: an extra output would reach the receiver.
  expect((await worker.proc.stop()).code).toBe(0);
  expect((await receive.proc.stop()).code).toBe(0);
  expect(receive.proc.stdoutLines).toBe(lines);
  return { output: receive.proc.stdoutText, log: worker.proc.stderr };
}

describe('alphabet', () => {
  it('totals the votes of each letter a..z and drops votes for anything else', async () => {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const invalid = ['A', 'Z', '!', '{', '`', ' ', '\u00e9', '\u0000'];
    const votes: Buffer[] = [];
    const expected = new Map<string, number[]>();
    let dropped = 0;
    for (let i = 0; i < 2_000; i++) {
      const bad = i % 17 === 5;
      const letter = bad ? invalid[i % invalid.length]! : letters[(i * 11 + (i >> 3)) % 26]!;
      const count = (i * 7919) % 1000;
      // The wire format, by hand: one byte for the letter, u32 big-endian votes.
      const vote = Buffer.alloc(5);
      vote[0] = letter.charCodeAt(0);
      vote.writeUInt32BE(count, 1);
      votes.push(vote);
      if (bad) {
        dropped++;
        continue;
      }
      const totals = expected.get(letter) ?? [];
      totals.push((totals.at(-1) ?? 0) + count);
      expected.set(letter, totals);
    }
    // A big vote, to see totals pass 2^32 without wrapping.
    const big = Buffer.from([0x71, 0xff, 0xff, 0xff, 0xff]);
    votes.push(big, big);
    const q = expected.get('q') ?? [];
    q.push((q.at(-1) ?? 0) + 0xffffffff, (q.at(-1) ?? 0) + 2 * 0xffffffff);
    expected.set('q', q);

    const file = join(dir, 'votes.msg');
    await writeFile(file, Buffer.concat(votes));
    const valid = votes.length - dropped;
    const { output, log } = await runExample('examples/alphabet/app.ts', 2, file, valid, [
      '--binary',
      '--msg-size',
      '5',
    ]);
    expect(dropped).toBeGreaterThan(50);
    expect(parseKeyOutputs(output)).toEqual(expected);
    expect(expected.size).toBe(26);
    expect(log).toMatch(/ROO_ERR_UNKNOWN_KEY/);
  });
});

describe('reverse', () => {
  it('reverses each line by code point, in order', async () => {
    const lines = [
      'hello world',
      '',
      'a',
      'Wallaroo',
      'straße café',
      'thumbs 👍 up 🎉',
      'x'.repeat(5_000) + 'y',
      '  spaces  ',
    ];
    for (let i = 0; i < 1_000; i++) lines.push(`line ${i} ${'ab'.repeat(i % 7)}`);
    const file = join(dir, 'reverse.txt');
    await writeFile(file, lines.join('\n') + '\n');
    const { output } = await runExample('examples/reverse/app.ts', 2, file, lines.length);
    const outputs = output.split('\n').slice(0, -1);
    expect(outputs.slice(0, 6)).toEqual([
      'dlrow olleh',
      '',
      'a',
      'oorallaW',
      'éfac eßarts',
      '🎉 pu 👍 sbmuht',
    ]);
    const reversed = (s: string) => {
      const points: string[] = [];
      for (const p of s) points.unshift(p);
      return points.join('');
    };
    expect(outputs).toEqual(lines.map(reversed));
  });
});

describe('celsius', () => {
  /** Inputs with the outputs worked out by hand. */
  const known: [string, string][] = [
    ['-40', '-40.00'],
    ['0', '32.00'],
    ['100', '212.00'],
    ['37', '98.60'],
    ['36.6', '97.88'],
    ['1e2', '212.00'],
    ['  20  ', '68.00'],
    ['-17.7778', '0.00'],
    ['+5', '41.00'],
    ['.5', '32.90'],
  ];
  const notNumbers = ['abc', '', '12abc', 'NaN', 'Infinity', '0x10', '1,5', '--3'];

  async function celsiusRun(threads: number): Promise<{ got: string[]; want: string[] }> {
    const inputs = known.map(([c]) => c);
    const want = known.map(([, f]) => f);
    for (let i = 0; i < 2_000; i++) {
      const c = -100 + i * 0.125;
      inputs.push(String(c));
      const f = (c * 1.8 + 32).toFixed(2);
      want.push(f === '-0.00' ? '0.00' : f);
      if (i % 250 === 0) inputs.push(notNumbers[(i / 250) % notNumbers.length]!);
    }
    const file = join(dir, `celsius-${threads}.txt`);
    await writeFile(file, inputs.join('\n') + '\n');
    const { output, log } = await runExample('examples/celsius/app.ts', threads, file, want.length);
    expect(log).toMatch(/ROO_ERR_DECODER_FAILED/);
    return { got: output.split('\n').slice(0, -1), want };
  }

  it('converts each temperature, in order, on one thread', async () => {
    const { got, want } = await celsiusRun(1);
    expect(got).toEqual(want);
  });

  it('converts each temperature exactly once on two threads (any order)', async () => {
    const { got, want } = await celsiusRun(2);
    expect([...got].sort()).toEqual([...want].sort());
  });
});
