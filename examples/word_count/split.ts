/**
 * Word splitting for word count: a word is a maximal run of Unicode letters
 * and digits, lower-cased. ASCII lines take a hand-written scanner (no regex,
 * no per-character allocation); any line with a non-ASCII character takes the
 * Unicode regex, so both paths agree on every input.
 */

const UNICODE_WORD = /[\p{L}\p{N}]+/gu;

/** True for ASCII letters and digits. */
function isAsciiWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** Calls `emit` with each word of `line`, in order. */
export function forEachWord(line: string, emit: (word: string) => void): void {
  const n = line.length;
  let start = -1;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c >= 128) {
      // Resume from the start of the word in progress (or here) with the
      // Unicode regex; ASCII word characters mean the same to both paths.
      forEachUnicodeWord(line, start >= 0 ? start : i, emit);
      return;
    }
    if (isAsciiWordChar(c)) {
      if (start < 0) start = i;
      if (c <= 90 && c >= 65) upper = true;
    } else if (start >= 0) {
      const w = line.slice(start, i);
      emit(upper ? w.toLowerCase() : w);
      start = -1;
      upper = false;
    }
  }
  if (start >= 0) {
    const w = line.slice(start);
    emit(upper ? w.toLowerCase() : w);
  }
}

function forEachUnicodeWord(line: string, from: number, emit: (word: string) => void): void {
  UNICODE_WORD.lastIndex = from;
  for (let m = UNICODE_WORD.exec(line); m !== null; m = UNICODE_WORD.exec(line)) {
    emit(m[0].toLowerCase());
  }
}

/** The words of `line`, in order. */
export function splitWords(line: string): string[] {
  // The ASCII scan of forEachWord again, pushing straight into the array: a
  // closure per line and a call per word cost about 5 % of word count's time.
  const out: string[] = [];
  const n = line.length;
  let start = -1;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c >= 128) {
      forEachUnicodeWord(line, start >= 0 ? start : i, (w) => out.push(w));
      return out;
    }
    if (isAsciiWordChar(c)) {
      if (start < 0) start = i;
      if (c <= 90 && c >= 65) upper = true;
    } else if (start >= 0) {
      const w = line.slice(start, i);
      out.push(upper ? w.toLowerCase() : w);
      start = -1;
      upper = false;
    }
  }
  if (start >= 0) {
    const w = line.slice(start);
    out.push(upper ? w.toLowerCase() : w);
  }
  return out;
}
