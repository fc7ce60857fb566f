import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { checkedTransition, type TransitionTable } from '../../../protocols/transition.js';

type Light = 'red' | 'green' | 'off';
const TABLE: TransitionTable<Light> = { red: ['green', 'off'], green: ['red', 'off'], off: [] };

describe('checkedTransition', () => {
  it('takes the moves its table allows', () => {
    expect(checkedTransition(TABLE, 'red', 'green', 'light')).toBe('green');
    expect(checkedTransition(TABLE, 'green', 'off', 'light')).toBe('off');
  });

  it('refuses the others with ROO_ERR_INTERNAL naming the machine', () => {
    for (const [from, to] of [
      ['off', 'red'],
      ['red', 'red'],
    ] as const) {
      let error: unknown;
      try {
        checkedTransition(TABLE, from, to, 'light');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RooError);
      expect((error as RooError).code).toBe(ErrorCode.Internal);
      expect((error as RooError).message).toBe(`light cannot move from ${from} to ${to}`);
    }
  });
});
