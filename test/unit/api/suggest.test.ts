import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, nearest } from '../../../runtime/api/suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('orders', 'order')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
    // A transposition is one edit.
    expect(editDistance('fiel', 'file')).toBe(1);
    expect(editDistance('outptu', 'output')).toBe(1);
    // Past the limit it says limit + 1, however far past (a case fast-check found).
    expect(editDistance(' X', 'X! ', 1)).toBe(2);
  });

  it('is symmetric, bounded by the longer length, and stops early past its limit', () => {
    const word = fc.string({ maxLength: 8 });
    fc.assert(
      fc.property(word, word, (a, b) => {
        expect(editDistance(a, b)).toBe(editDistance(b, a));
        expect(editDistance(a, b)).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(editDistance(a, b) === 0).toBe(a === b);
        const d = editDistance(a, b);
        expect(editDistance(a, b, 1)).toBe(d <= 1 ? d : 2);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('nearest', () => {
  it('finds a likely typo, ignoring case, and only then', () => {
    expect(nearest('order', ['orders', 'quotes'])).toBe('orders');
    expect(nearest('PonyThread', ['ponythreads', 'ponynoblock'])).toBe('ponythreads');
    // Short names need a close match: 'in' is not a typo of 'out'.
    expect(nearest('in', ['out'])).toBeUndefined();
    expect(nearest('zzzzzz', ['listen', 'output'])).toBeUndefined();
    expect(nearest('x', [])).toBeUndefined();
  });

  it('says it as a hint, or not at all', () => {
    expect(didYouMean('wroker', ['worker', 'send'])).toBe(" (did you mean 'worker'?)");
    expect(didYouMean('qqq', ['worker'])).toBe('');
  });
});
