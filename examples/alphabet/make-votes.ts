/**
 * Writes a file of alphabet votes for `roo send --binary --msg-size 5`, and
 * prints the totals the alphabet application should end with.
 *
 *   npx tsx examples/alphabet/make-votes.ts votes.msg [count] [seed]
 *
 * Votes are pseudo-random (a seeded xorshift, so the same arguments give the
 * same file): a letter a..z and 1 to 10 votes each.
 */
import { writeFileSync } from 'node:fs';
import { encodeVote, VOTE_BYTES } from './votes.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A small deterministic generator (xorshift32); `seed` must not be 0. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const [path, countText = '1000', seedText = '1'] = process.argv.slice(2);
if (path === undefined || !/^\d+$/.test(countText) || !/^\d+$/.test(seedText)) {
  process.stderr.write('usage: make-votes.ts FILE [COUNT] [SEED]\n');
  process.exit(2);
}
const count = Number(countText);
const next = xorshift(Number(seedText));
const file = Buffer.alloc(count * VOTE_BYTES);
const totals = new Map<string, number>();
for (let i = 0; i < count; i++) {
  const letter = LETTERS[next() % LETTERS.length]!;
  const votes = 1 + (next() % 10);
  encodeVote(letter, votes).copy(file, i * VOTE_BYTES);
  totals.set(letter, (totals.get(letter) ?? 0) + votes);
}
writeFileSync(path, file);
process.stderr.write(`wrote ${count} votes (${file.length} bytes) to ${path}; expected totals:\n`);
for (const letter of [...totals.keys()].sort()) {
  process.stdout.write(`${letter} => ${totals.get(letter)}\n`);
}
