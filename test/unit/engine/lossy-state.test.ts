import { expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import { decodeEntities, encodeEntities } from '../../../runtime/engine/thread-checkpoint.js';

class Tally {
  n = 1;
  add(): void {
    this.n++;
  }
}

it('a state msgpackr cannot carry as it is is refused at the checkpoint, not changed silently', () => {
  const dict = Object.create(null) as Record<string, number>;
  dict['__proto__'] = 1; // a word-count dictionary that met the word "__proto__"
  const cases: [string, unknown][] = [
    ['class instance', new Tally()],
    ['function field', { n: 1, f: () => 1 }],
    ['null-prototype dictionary', dict],
  ];
  for (const [what, state] of cases) {
    let back: unknown;
    try {
      back = decodeEntities(
        encodeEntities(new Map([['k', state]]), undefined, 'p'),
        undefined,
        'p',
      ).get('k');
    } catch (e) {
      expect((e as RooError).code, what).toBe(ErrorCode.SnapshotEncodeFailed);
      expect((e as RooError).message, what).toContain("partition 'p' (key 'k')");
      continue;
    }
    expect(back, what).toStrictEqual(state);
  }
});
