/**
 * The deterministic word-count input the machine's limits were measured with: a
 * 10 000-word vocabulary with Zipf(s=1) frequencies (about 100 common English
 * words first, then synthetic words, shorter ones more frequent), 5..15 words
 * per line, capitalised first words, some punctuation and quotes.
 *
 * The vocabulary is built from a fixed seed, so every corpus draws from the
 * same 10 000 words; the text is drawn from `seed` by a seeded PRNG
 * (mulberry32, never Math.random), so the same size and seed give the same
 * bytes on every run.
 *
 * Run as a script to write a file:
 * `node dist/bench/corpus.js --mb 50 [--seed 1] --out /tmp/words.txt`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Number of distinct words in the vocabulary. */
export const VOCABULARY_SIZE = 10_000;

/** Seed of the default corpus used by the benchmarks. */
export const DEFAULT_SEED = 20_241_121;

/** What to generate. */
export interface CorpusOptions {
  /** Stop once at least this many UTF-8 bytes (lines plus newlines) exist. */
  bytes: number;
  /** PRNG seed for the text; the same bytes + seed give the same lines. */
  seed: number;
  /**
   * How many synthetic vocabulary words get a non-ASCII letter (é, ß, ü, ...),
   * spread over the ranks, to exercise Unicode paths. Default 0: the
   * benchmark corpus is ASCII, as the measured limits' corpus was.
   */
  nonAsciiWords?: number;
}

/** What `writeCorpusFile` wrote. */
export interface CorpusFile {
  /** The lines written, in order (the same as `generateCorpus` returns). */
  lines: string[];
  /** Bytes written, including the newline after every line. */
  bytes: number;
}

/**
 * mulberry32: a small, fast 32-bit PRNG, good enough for test data.
 * Returns a function giving uint32 values.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** About a hundred of the most common English words, most common first. */
const COMMON_WORDS = [
  'the', 'of', 'and', 'to', 'a', 'in', 'is', 'it', 'you', 'that',
  'he', 'was', 'for', 'on', 'are', 'with', 'as', 'i', 'his', 'they',
  'be', 'at', 'one', 'have', 'this', 'from', 'or', 'had', 'by', 'not',
  'word', 'but', 'what', 'some', 'we', 'can', 'out', 'other', 'were', 'all',
  'there', 'when', 'up', 'use', 'your', 'how', 'said', 'an', 'each', 'she',
  'which', 'do', 'their', 'time', 'if', 'will', 'way', 'about', 'many', 'then',
  'them', 'write', 'would', 'like', 'so', 'these', 'her', 'long', 'make', 'thing',
  'see', 'him', 'two', 'has', 'look', 'more', 'day', 'could', 'go', 'come',
  'did', 'number', 'sound', 'no', 'most', 'people', 'my', 'over', 'know', 'water',
  'than', 'call', 'first', 'who', 'may', 'down', 'side', 'been', 'now', 'find',
]; // prettier-ignore

const VOCABULARY_SEED = 0x5eed_0001;
const CONSONANTS = 'bcdfghjklmnprstvwz';
const RARE_CONSONANTS = 'qxy';
const VOWELS = 'aeiou';
const NON_ASCII_LETTERS = ['é', 'ü', 'ß', 'ø', 'ñ', 'å', 'ç', 'ö'];

/** The vocabulary, most frequent first, for a given number of non-ASCII words. */
const vocabularies = new Map<number, readonly string[]>();

/**
 * The corpus vocabulary, rank order (index 0 is the most frequent word).
 * Always VOCABULARY_SIZE distinct lower-case words, each a single word under
 * the word-count definition (letters only).
 */
export function vocabulary(nonAsciiWords = 0): readonly string[] {
  const cached = vocabularies.get(nonAsciiWords);
  if (cached !== undefined) return cached;
  const rand = mulberry32(VOCABULARY_SEED);
  const words: string[] = [...COMMON_WORDS];
  const seen = new Set(words);
  while (words.length < VOCABULARY_SIZE) {
    // Length grows with rank: 3-4 letters for the first synthetic words,
    // about 10 for the rarest, so frequent words are short.
    const rank = words.length - COMMON_WORDS.length;
    const length = 3 + Math.floor(Math.log2(1 + rank / 600)) + (rand() % 2);
    let w = '';
    let vowel = rand() % 3 === 0;
    while (w.length < length) {
      if (vowel) w += VOWELS[rand() % VOWELS.length];
      else if (rand() % 16 === 0) w += RARE_CONSONANTS[rand() % RARE_CONSONANTS.length];
      else w += CONSONANTS[rand() % CONSONANTS.length];
      vowel = !vowel;
    }
    if (seen.has(w)) continue;
    seen.add(w);
    words.push(w);
  }
  const synthetic = VOCABULARY_SIZE - COMMON_WORDS.length;
  const n = Math.max(0, Math.min(nonAsciiWords, synthetic));
  for (let k = 0; k < n; k++) {
    // Spread over the ranks; replace the middle letter, keep words distinct.
    const index = COMMON_WORDS.length + Math.floor((k * synthetic) / n);
    const w = words[index] as string;
    const mid = w.length >> 1;
    const letter = NON_ASCII_LETTERS[k % NON_ASCII_LETTERS.length] as string;
    const replaced = w.slice(0, mid) + letter + w.slice(mid + 1);
    if (!seen.has(replaced)) {
      seen.delete(w);
      seen.add(replaced);
      words[index] = replaced;
    }
  }
  vocabularies.set(nonAsciiWords, words);
  return words;
}

/** Bits of the uniform draw used to pick a rank. */
const ZIPF_BITS = 32;

/**
 * Zipf(s=1) cumulative weights over the ranks, scaled to 2^32, so a uint32
 * draw picks a rank by binary search (exact to 2^-32).
 */
function zipfThresholds(n: number): Float64Array {
  let h = 0;
  for (let k = 1; k <= n; k++) h += 1 / k;
  const out = new Float64Array(n);
  let acc = 0;
  const scale = 2 ** ZIPF_BITS;
  for (let k = 1; k <= n; k++) {
    acc += 1 / k / h;
    out[k - 1] = Math.floor(acc * scale);
  }
  out[n - 1] = scale; // Guard against rounding: every draw lands somewhere.
  return out;
}

/** First index whose threshold exceeds `u`. */
function sampleRank(thresholds: Float64Array, u: number): number {
  let lo = 0;
  let hi = thresholds.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u < (thresholds[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function capitalise(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/**
 * Generates the corpus as lines (no newline characters), in order. Stops
 * after the line that brings the UTF-8 size, counting one newline per line,
 * to at least `bytes`.
 */
export function generateCorpus(options: CorpusOptions): string[] {
  const words = vocabulary(options.nonAsciiWords ?? 0);
  const capitals = words.map(capitalise);
  const byteLengths = words.map((w) => Buffer.byteLength(w, 'utf8'));
  const thresholds = zipfThresholds(words.length);
  const rand = mulberry32(options.seed);
  const lines: string[] = [];
  let total = 0;
  while (total < options.bytes) {
    const count = 5 + (rand() % 11);
    let bytes = 0;
    let quoteOpen = false;
    let capitalNext = true;
    let line = '';
    for (let i = 0; i < count; i++) {
      const rank = sampleRank(thresholds, rand());
      const r = rand() % 1000;
      if (i > 0) {
        line += ' ';
        bytes++;
      }
      if (!quoteOpen && i < count - 1 && r < 25) {
        line += '"';
        bytes++;
        quoteOpen = true;
      }
      line += capitalNext ? (capitals[rank] as string) : (words[rank] as string);
      bytes += byteLengths[rank] as number;
      capitalNext = false;
      if (i === count - 1) break;
      if (r >= 25 && r < 95) {
        line += ',';
        bytes++;
      } else if (r >= 95 && r < 115) {
        // A sentence ends inside the line.
        line += r < 110 ? '.' : ';';
        bytes++;
        capitalNext = r < 110;
      } else if (r >= 115 && r < 120) {
        line += ' -';
        bytes += 2;
      }
      if (quoteOpen && r % 5 === 0) {
        line += '"';
        bytes++;
        quoteOpen = false;
      }
    }
    const end = rand() % 100;
    line += end < 85 ? '.' : end < 93 ? '?' : '!';
    bytes++;
    if (quoteOpen) {
      line += '"';
      bytes++;
    }
    // Reading a character flattens the rope built by +=, so the timed loops
    // never pay for it (and the next GC drops the rope's inner nodes).
    line.charCodeAt(0);
    lines.push(line);
    total += bytes + 1;
  }
  return lines;
}

/**
 * Generates the corpus and writes it to `path`: the lines joined by '\n',
 * with a trailing newline. Returns the lines and the bytes written.
 */
export function writeCorpusFile(path: string, options: CorpusOptions): CorpusFile {
  const lines = generateCorpus(options);
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    const CHUNK_LINES = 16_384;
    for (let i = 0; i < lines.length; i += CHUNK_LINES) {
      const chunk = Buffer.from(lines.slice(i, i + CHUNK_LINES).join('\n') + '\n', 'utf8');
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      bytes += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return { lines, bytes };
}

/**
 * Reference word count: the word-count definition written independently of
 * examples/word_count/split.ts (a Unicode regex and toLowerCase), for tests
 * and benchmarks to check outputs against.
 */
export function countWords(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const re = /[\p{L}\p{N}]+/gu;
  for (const line of lines) {
    for (const m of line.matchAll(re)) {
      const w = m[0].toLowerCase();
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** Sum of the counts of a word-count map: the number of words. */
export function totalWords(counts: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const c of counts.values()) n += c;
  return n;
}

function main(argv: readonly string[]): void {
  let mb = 50;
  let seed = DEFAULT_SEED;
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--mb' && value !== undefined) mb = Number(value);
    else if (flag === '--seed' && value !== undefined) seed = Number(value);
    else if (flag === '--out' && value !== undefined) out = value;
    else {
      console.error(`usage: corpus --out FILE [--mb ${mb}] [--seed ${seed}]`);
      process.exit(2);
    }
    i++;
  }
  if (out === undefined || !(mb > 0) || !Number.isInteger(seed)) {
    console.error('usage: corpus --out FILE [--mb N] [--seed N]');
    process.exit(2);
  }
  const started = performance.now();
  const file = writeCorpusFile(out, { bytes: Math.round(mb * 1024 * 1024), seed });
  const seconds = (performance.now() - started) / 1000;
  console.error(
    `wrote ${out}: ${file.bytes} bytes, ${file.lines.length} lines in ${seconds.toFixed(2)} s`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2));
}
