/**
 * Reading the `key => value` lines that word count and alphabet write, and
 * checking them against a reference.
 */

/** Outputs by key, in the order they arrived. */
export type KeyOutputs = Map<string, number[]>;

/** Parses `key => n` lines; throws on any line of another shape. */
export function parseKeyOutputs(text: string): KeyOutputs {
  const byKey: KeyOutputs = new Map();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const m = /^(.*) => (\d+)$/u.exec(line);
    if (m === null) throw new Error(`not a 'key => n' line: ${JSON.stringify(line)}`);
    const key = m[1]!;
    let list = byKey.get(key);
    if (list === undefined) {
      list = [];
      byKey.set(key, list);
    }
    list.push(Number(m[2]));
  }
  return byKey;
}

/** Counts of each word of `text`: the definition, independent of the app's split. */
export function referenceWordCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = m[0].toLowerCase();
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

/** Adds the counts of `more` into `into`. */
export function addCounts(
  into: Map<string, number>,
  more: ReadonlyMap<string, number>,
): Map<string, number> {
  for (const [k, n] of more) into.set(k, (into.get(k) ?? 0) + n);
  return into;
}

/** The sum of a map's values. */
export function total(counts: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

/**
 * Differences between word count outputs and reference counts: for every
 * word the outputs must be exactly 1, 2, ..., n in order, where n is the
 * reference count, and no other word may appear. Returns a list of problems
 * (empty when all is well), at most `limit` of them.
 */
export function wordCountProblems(
  outputs: KeyOutputs,
  reference: ReadonlyMap<string, number>,
  limit = 20,
): string[] {
  const problems: string[] = [];
  for (const [word, n] of reference) {
    const seen = outputs.get(word) ?? [];
    const last = seen.length === 0 ? 0 : Math.max(...seen);
    if (last !== n) problems.push(`'${word}': last count ${last}, expected ${n}`);
    else if (seen.length !== n || seen.some((c, i) => c !== i + 1)) {
      problems.push(`'${word}': outputs are not 1..${n} in order: ${seen.slice(0, 30).join(',')}`);
    }
    if (problems.length >= limit) return problems;
  }
  for (const word of outputs.keys()) {
    if (!reference.has(word)) problems.push(`'${word}' was output but is not in the input`);
    if (problems.length >= limit) return problems;
  }
  return problems;
}

/**
 * Like {@link wordCountProblems}, for a stream that also carried other
 * input whose counts are known only within bounds (garbage sent to a TCP
 * source is application input too): for every word the outputs must still
 * be exactly 1, 2, ..., n in order, where n lies between the reference count
 * and the reference count plus `extra(word)`, the most times the other
 * input could have held the word.
 */
export function boundedWordCountProblems(
  outputs: KeyOutputs,
  reference: ReadonlyMap<string, number>,
  extra: (word: string) => number,
  limit = 20,
): string[] {
  const problems: string[] = [];
  for (const [word, seen] of outputs) {
    if (seen.some((c, i) => c !== i + 1)) {
      problems.push(
        `'${word}': outputs are not 1..${seen.length} in order: ${seen.slice(0, 30).join(',')}`,
      );
    }
    if (problems.length >= limit) return problems;
  }
  for (const [word, n] of [...reference, ...[...outputs.keys()].map((w) => [w, 0] as const)]) {
    if (n === 0 && reference.has(word)) continue;
    const got = outputs.get(word)?.length ?? 0;
    const most = n + extra(word);
    if (got < n || got > most) {
      problems.push(`'${word}': ${got} outputs, expected ${n === most ? n : `${n} to ${most}`}`);
    }
    if (problems.length >= limit) return problems;
  }
  return problems;
}

/**
 * How many times `word` occurs (case-insensitively, overlapping) in any of
 * `streams`, decoded as UTF-8: a bound on how often a source fed those bytes
 * could have made the word (a word the source splits out of a frame's text
 * is, as letters, a run inside the stream; a frame boundary can only cut
 * words, never join them).
 */
export function occurrencesIn(streams: readonly string[], word: string): number {
  let n = 0;
  for (const text of streams) {
    for (let at = text.indexOf(word); at >= 0; at = text.indexOf(word, at + 1)) n++;
  }
  return n;
}
