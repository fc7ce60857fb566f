/**
 * A member's requests to the initializer (runtime/cluster/member-requests.ts):
 * each answer settles its own request, and at the bound a new one is refused
 * at once.
 */
import { describe, expect, it } from 'vitest';
import type { ControlMessage } from '../../../protocols/index.js';
import { MAX_PENDING_REQUESTS, MemberRequests } from '../../../runtime/cluster/member-requests.js';

describe('MemberRequests', () => {
  it('settles each request with the answer carrying its nonce', async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    const rebalance = requests.rebalance([], (m) => sent.push(m));
    const shrink = requests.shrink({ workers: ['w3'], count: 0, query: false }, (m) =>
      sent.push(m),
    );
    expect(sent.map((m) => m.type)).toEqual(['rebalance-request', 'shrink-request']);
    const [r, s] = sent as [
      Extract<ControlMessage, { type: 'rebalance-request' }>,
      Extract<ControlMessage, { type: 'shrink-request' }>,
    ];
    expect(r.name).toBe('w2');
    expect(r.nonce).not.toBe(s.nonce);
    const shrunk = {
      ok: true,
      message: 'done',
      leaving: ['w3'],
      eligible: ['w3'],
      members: ['w1', 'w2'],
    };
    expect(requests.answer({ type: 'shrink-reply', version: 1, nonce: s.nonce, ...shrunk })).toBe(
      true,
    );
    expect(
      requests.answer({
        type: 'rebalance-reply',
        version: 1,
        nonce: r.nonce,
        ok: false,
        message: 'no',
      }),
    ).toBe(true);
    expect(await shrink).toEqual(shrunk);
    expect(await rebalance).toEqual({ ok: false, message: 'no' });
    // An answer nobody waits for, or another message, settles nothing.
    expect(
      requests.answer({
        type: 'rebalance-reply',
        version: 1,
        nonce: r.nonce,
        ok: true,
        message: '',
      }),
    ).toBe(true);
    expect(requests.answer({ type: 'start', version: 1 })).toBe(false);
  });

  it('refuses a new request at once while the bound is unanswered, and takes one again after', async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    for (let i = 0; i < MAX_PENDING_REQUESTS; i++) void requests.rebalance([], (m) => sent.push(m));
    expect(sent).toHaveLength(MAX_PENDING_REQUESTS);
    const refused = await requests.shrink({ workers: [], count: 1, query: false }, (m) =>
      sent.push(m),
    );
    expect(refused.ok).toBe(false);
    expect(refused.message).toMatch(/64 requests to the initializer are still unanswered/);
    expect(sent).toHaveLength(MAX_PENDING_REQUESTS);
    const first = sent[0] as Extract<ControlMessage, { type: 'rebalance-request' }>;
    requests.answer({
      type: 'rebalance-reply',
      version: 1,
      nonce: first.nonce,
      ok: true,
      message: '',
    });
    void requests.rebalance([], (m) => sent.push(m));
    expect(sent).toHaveLength(MAX_PENDING_REQUESTS + 1);
  });
});
