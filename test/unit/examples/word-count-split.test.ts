import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitWords } from '../../../examples/word_count/split.js';

/** The definition, written the slow obvious way. */
function reference(line: string): string[] {
  return Array.from(line.matchAll(/[\p{L}\p{N}]+/gu), (m) => m[0].toLowerCase());
}

describe('word count split', () => {
  it('splits ASCII on non-letters and lower-cases', () => {
    expect(splitWords("Hello, World! it's 2 o'clock")).toEqual([
      'hello',
      'world',
      'it',
      's',
      '2',
      'o',
      'clock',
    ]);
  });
  it('handles non-ASCII words after ASCII ones without repeating them', () => {
    expect(splitWords('Die Straße café Ümlaut')).toEqual(['die', 'straße', 'café', 'ümlaut']);
    expect(splitWords('abc déf')).toEqual(['abc', 'déf']);
    expect(splitWords('naïve')).toEqual(['naïve']);
  });
  it('agrees with the regex definition on any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(splitWords(s)).toEqual(reference(s));
      }),
      { numRuns: 2000 },
    );
  });
});
