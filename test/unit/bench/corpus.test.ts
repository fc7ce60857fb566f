import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forEachWord } from '../../../examples/word_count/split.js';
import { runLoopBaseline } from '../../../bench/baseline-loop.js';
import { runRxGroupBy, runRxOneScan } from '../../../bench/baseline-rx.js';
import { checkRun, expectationOf } from '../../../bench/baselines.js';
import {
  countWords,
  generateCorpus,
  totalWords,
  vocabulary,
  VOCABULARY_SIZE,
  writeCorpusFile,
} from '../../../bench/corpus.js';

/** Word count by the shared split, to compare with the independent reference. */
function splitCount(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) forEachWord(line, (w) => counts.set(w, (counts.get(w) ?? 0) + 1));
  return counts;
}

function utf8Size(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + Buffer.byteLength(l, 'utf8') + 1, 0);
}

describe('bench corpus', () => {
  it('is deterministic: the same size and seed give the same lines', () => {
    const a = generateCorpus({ bytes: 200_000, seed: 42 });
    const b = generateCorpus({ bytes: 200_000, seed: 42 });
    expect(b).toEqual(a);
    expect(generateCorpus({ bytes: 200_000, seed: 43 })).not.toEqual(a);
    // A smaller request is a prefix of a larger one with the same seed.
    expect(a.slice(0, 100)).toEqual(generateCorpus({ bytes: 5_000, seed: 42 }).slice(0, 100));
  });

  it('is about the size requested, with 5..15 words per line', () => {
    const bytes = 1_000_000;
    const lines = generateCorpus({ bytes, seed: 1 });
    const size = utf8Size(lines);
    expect(size).toBeGreaterThanOrEqual(bytes);
    expect(size).toBeLessThan(bytes + 200);
    for (const line of lines.slice(0, 2000)) {
      let n = 0;
      forEachWord(line, () => n++);
      expect(n).toBeGreaterThanOrEqual(5);
      expect(n).toBeLessThanOrEqual(15);
      expect(line).toMatch(/^"?[A-Z]/);
    }
    // About 4.9 bytes per word, as in the corpus the machine's limits were measured with.
    const perWord = size / totalWords(countWords(lines));
    expect(perWord).toBeGreaterThan(4.5);
    expect(perWord).toBeLessThan(5.3);
  });

  it('draws Zipf-distributed words from a fixed 10 000-word vocabulary', () => {
    const vocab = vocabulary();
    expect(vocab).toHaveLength(VOCABULARY_SIZE);
    expect(new Set(vocab).size).toBe(VOCABULARY_SIZE);
    expect(vocab.slice(0, 3)).toEqual(['the', 'of', 'and']);
    for (const w of vocab) expect(w).toMatch(/^[a-z]+$/);
    const counts = countWords(generateCorpus({ bytes: 500_000, seed: 3 }));
    const known = new Set(vocab);
    for (const w of counts.keys()) expect(known.has(w)).toBe(true);
    const the = counts.get('the') ?? 0;
    const of = counts.get('of') ?? 0;
    // Zipf(s=1): rank 1 about twice rank 2, about a tenth of all words.
    expect(the / of).toBeGreaterThan(1.7);
    expect(the / of).toBeLessThan(2.3);
    expect(the / totalWords(counts)).toBeGreaterThan(0.08);
    expect(the / totalWords(counts)).toBeLessThan(0.12);
  });

  it('reference count agrees with the shared split, ASCII and non-ASCII', () => {
    const ascii = generateCorpus({ bytes: 300_000, seed: 5 });
    expect(countWords(ascii)).toEqual(splitCount(ascii));
    const unicode = generateCorpus({ bytes: 300_000, seed: 5, nonAsciiWords: 2000 });
    expect(unicode.some((l) => /[\u0080-\uffff]/.test(l))).toBe(true);
    expect(countWords(unicode)).toEqual(splitCount(unicode));
    expect(countWords(['Straße STRASSE straße', "it's Café"])).toEqual(
      new Map([
        ['straße', 2],
        ['strasse', 1],
        ['it', 1],
        ['s', 1],
        ['café', 1],
      ]),
    );
  });

  it('writes the lines joined by newlines, with a trailing newline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roo-corpus-'));
    try {
      const path = join(dir, 'words.txt');
      const file = writeCorpusFile(path, { bytes: 100_000, seed: 9, nonAsciiWords: 100 });
      const text = readFileSync(path, 'utf8');
      expect(text).toBe(file.lines.join('\n') + '\n');
      expect(file.bytes).toBe(Buffer.byteLength(text, 'utf8'));
      expect(file.lines).toEqual(generateCorpus({ bytes: 100_000, seed: 9, nonAsciiWords: 100 }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('word count baselines (smoke)', () => {
  const lines = generateCorpus({ bytes: 100_000, seed: 11 });
  const expected = expectationOf(countWords(lines));

  it('plain loop counts every word', () => {
    const run = runLoopBaseline(lines);
    checkRun('loop', run, expected);
    expect(run.seconds).toBeGreaterThan(0);
  });

  it('RxJS groupBy variant counts every word', () => {
    checkRun('rx groupBy', runRxGroupBy(lines), expected);
  });

  it('RxJS one-scan variant counts every word', () => {
    checkRun('rx one scan', runRxOneScan(lines), expected);
  });

  it('RxJS variants refuse a wrong expected total', () => {
    expect(() => runRxOneScan(lines, expected.words + 1)).toThrow(/outputs/);
  });
});
