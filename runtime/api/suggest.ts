/**
 * "Did you mean ...?": the known name nearest to a mistyped one, by edit
 * distance, for the messages that refuse an unknown flag, source or
 * partition name. Pure.
 */

/**
 * Edit distance between `a` and `b`: insertions, deletions, substitutions
 * and transpositions of two neighbouring UTF-16 code units each cost 1 (the
 * optimal string alignment distance: `--fiel` is one edit from `--file`), or
 * `limit + 1` as soon as it is known to exceed `limit`.
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let d = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (
        i > 1 &&
        j > 1 &&
        a.charCodeAt(i - 1) === b.charCodeAt(j - 2) &&
        a.charCodeAt(i - 2) === b.charCodeAt(j - 1)
      ) {
        d = Math.min(d, (before[j - 2] as number) + 1);
      }
      row.push(d);
      if (d < best) best = d;
    }
    if (best > limit) return limit + 1;
    before = previous;
    previous = row;
  }
  const d = previous[b.length] as number;
  return d > limit ? limit + 1 : d;
}

/**
 * The candidate nearest to `word`, if one is near enough to be a likely
 * typo: at most 2 edits, and at most a third of the longer name's length
 * (so that `--in` is not "corrected" to `--out`). Ties go to the first
 * candidate given. Case is ignored for the distance.
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const limit = Math.min(2, Math.floor(Math.max(w.length, c.length) / 3));
    const d = editDistance(w, c.toLowerCase(), limit);
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean 'x'?)` for the nearest candidate, or '' when none is near. */
export function didYouMean(word: string, candidates: Iterable<string>, quote = "'"): string {
  const near = nearest(word, candidates);
  return near === undefined ? '' : ` (did you mean ${quote}${near}${quote}?)`;
}
