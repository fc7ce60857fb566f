import { describe, expect, it } from 'vitest';
import { chooseRollback } from '../../../runtime/checkpoint/recovery.js';

describe('chooseRollback', () => {
  it('starts empty when nothing was committed', () => {
    expect(chooseRollback([], new Map([['w2', []]]))).toEqual({ kind: 'rollback', target: 0 });
  });

  it('takes the newest committed checkpoint when no restarted worker reported', () => {
    expect(chooseRollback([6, 7], new Map())).toEqual({ kind: 'rollback', target: 7 });
  });

  it('falls back to the one before when a restarted worker cannot restore the newest', () => {
    const reported = new Map([
      ['w2', [6]],
      ['init', [6, 7]],
    ]);
    expect(chooseRollback([6, 7], reported)).toEqual({ kind: 'rollback', target: 6 });
  });

  it('refuses every restarted worker, saying who can restore what, when no checkpoint is common', () => {
    const choice = chooseRollback(
      [6, 7],
      new Map([
        ['w2', [6]],
        ['w3', [7]],
        ['w4', []],
      ]),
    );
    expect(choice.kind).toBe('refuse');
    if (choice.kind !== 'refuse') return;
    expect(choice.workers).toEqual(['w2', 'w3', 'w4']);
    expect(choice.reason).toContain("'w2' can restore 6");
    expect(choice.reason).toContain("'w4' can restore none");
    expect(choice.reason).toContain('(6, 7)');
  });
});
