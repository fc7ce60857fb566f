/**
 * Who may say what on the control channel (runtime/cluster/control-sender.ts):
 * a message naming a member only from that member's connection, `shutdown`
 * and `shrink-request` only from a member's, `hello` and the rest from anyone.
 * Regression: the initializer obeyed a stranger's `shutdown`, `shrink-request`
 * and `checkpoint-done` naming a member (found by the port fuzz test).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ControlMessage } from '../../../protocols/index.js';
import { checkSender } from '../../../runtime/cluster/control-sender.js';

const names = new Map([
  ['initializer', 0],
  ['worker2', 7],
]);
const v = 1 as const;
const hello: ControlMessage = {
  type: 'hello',
  version: v,
  name: 'worker2',
  application: 'a',
  applicationHash: 'h',
  threads: 1,
  control: { host: '127.0.0.1', port: 1 },
  data: { host: '127.0.0.1', port: 2 },
  rejoin: false,
  joinRunning: false,
  joinCount: 1,
  restorable: [],
};
const naming = (name: string): ControlMessage[] => [
  { type: 'wired', version: v, name },
  { type: 'ready', version: v, name },
  { type: 'checkpoint-done', version: v, name, id: 3, error: '' },
  { type: 'migrate-prepared', version: v, name, id: 1 },
  { type: 'reconfigured', version: v, name, id: 1 },
  { type: 'rebalance-request', version: v, nonce: 1, name, moves: [] },
];
const membersOnly: ControlMessage[] = [
  { type: 'shutdown', version: v, reason: 'x' },
  { type: 'shutdown-request', version: v, nonce: 1, reason: 'x' },
  { type: 'shrink-request', version: v, nonce: 1, workers: ['worker2'], count: 0, query: false },
];

describe('who may say what on the control channel', () => {
  it('a message naming a member is obeyed only from the connection it joined on', () => {
    for (const m of naming('worker2')) {
      expect(checkSender(m, 7, names), m.type).toEqual({ kind: 'ok' });
      expect(checkSender(m, 9, names), m.type).toMatchObject({ kind: 'refused', stranger: true });
      // Another member naming worker2: refused, but that member's connection stays.
      expect(checkSender(m, 0, names), m.type).toMatchObject({ kind: 'refused', stranger: false });
    }
    expect(checkSender(naming('nobody')[0]!, 7, names)).toMatchObject({
      kind: 'refused',
      stranger: false,
      reason: "a 'wired' naming worker 'nobody' from connection #7, which is worker 'worker2''s",
    });
  });

  it('shutdown and shrink requests only from a member, whichever', () => {
    for (const m of membersOnly) {
      expect(checkSender(m, 0, names), m.type).toEqual({ kind: 'ok' });
      expect(checkSender(m, 7, names), m.type).toEqual({ kind: 'ok' });
      expect(checkSender(m, 8, names), m.type).toEqual({
        kind: 'refused',
        stranger: true,
        reason: `a '${m.type}' from connection #8, which is no member's`,
      });
    }
  });

  it('hello, ping and pong from anyone', () => {
    const anyone: ControlMessage[] = [
      hello,
      { type: 'ping', version: v, nonce: 1 },
      { type: 'pong', version: v, nonce: 1 },
    ];
    for (const m of anyone) expect(checkSender(m, 42, names), m.type).toEqual({ kind: 'ok' });
  });

  it('is obeyed exactly when the sender is entitled (any members, any connection)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 4 }),
        fc.nat({ max: 5 }),
        fc.constantFrom('a', 'b', 'c', 'd'),
        fc.boolean(),
        (members, connection, named, relay) => {
          const map = new Map(members.map((n, i) => [n, i]));
          const isMember = connection < members.length;
          const m: ControlMessage = relay
            ? { type: 'shutdown', version: v, reason: 'r' }
            : { type: 'ready', version: v, name: named };
          const verdict = checkSender(m, connection, map);
          const entitled = relay ? isMember : map.get(named) === connection;
          expect(verdict.kind).toBe(entitled ? 'ok' : 'refused');
          if (verdict.kind === 'refused') expect(verdict.stranger).toBe(!isMember);
        },
      ),
    );
  });
});
