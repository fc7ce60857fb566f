/**
 * A member's requests to the initializer (runtime/cluster/member-requests.ts):
 * each answer settles its own request, at the bound a new one is refused
 * at once, and a lost control connection refuses what waits (and what is
 * asked while there is none).
 */
import { describe, expect, it } from 'vitest';
import type { ControlMessage } from '../../../protocols/index.js';
import { MAX_PENDING_REQUESTS, MemberRequests } from '../../../runtime/cluster/member-requests.js';

describe('MemberRequests', () => {
  it('settles each request with the answer carrying its nonce', async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    const rebalance = requests.rebalance([], (m) => sent.push(m) > 0);
    const shrink = requests.shrink(
      { workers: ['w3'], count: 0, query: false },
      (m) => sent.push(m) > 0,
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

  it("a relayed shutdown is answered with the coordinator's verdict, refused or taken", async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    const refused = requests.shutdown('external shutdown request', (m) => sent.push(m) > 0);
    const taken = requests.shutdown('again', (m) => sent.push(m) > 0);
    const [a, b] = sent as Extract<ControlMessage, { type: 'shutdown-request' }>[];
    expect(a).toMatchObject({ type: 'shutdown-request', reason: 'external shutdown request' });
    expect(a!.nonce).not.toBe(b!.nonce);
    const no = 'a cluster shuts down only while it runs';
    requests.answer({ type: 'shutdown-reply', version: 1, nonce: b!.nonce, ok: true, message: '' });
    requests.answer({
      type: 'shutdown-reply',
      version: 1,
      nonce: a!.nonce,
      ok: false,
      message: no,
    });
    expect(await refused).toEqual({ ok: false, message: no });
    expect(await taken).toEqual({ ok: true, message: '' });
    // Lost with the connection, or refused at once without one.
    const lost = requests.shutdown('x', () => true);
    expect(requests.abandon('the connection closed')).toBe(1);
    expect(await lost).toEqual({ ok: false, message: 'the connection closed' });
    expect((await requests.shutdown('x', () => false)).message).toMatch(/not connected/);
  });

  it('refuses a new request at once while the bound is unanswered, and takes one again after', async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    for (let i = 0; i < MAX_PENDING_REQUESTS; i++)
      void requests.rebalance([], (m) => sent.push(m) > 0);
    expect(sent).toHaveLength(MAX_PENDING_REQUESTS);
    const refused = await requests.shrink(
      { workers: [], count: 1, query: false },
      (m) => sent.push(m) > 0,
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
    void requests.rebalance([], (m) => sent.push(m) > 0);
    expect(sent).toHaveLength(MAX_PENDING_REQUESTS + 1);
  });

  it('a closed connection refuses every request still waiting; an answer after it settles nothing', async () => {
    const sent: ControlMessage[] = [];
    const requests = new MemberRequests('w2');
    const rebalance = requests.rebalance([], (m) => sent.push(m) > 0);
    const shrink = requests.shrink(
      { workers: ['w3'], count: 0, query: false },
      (m) => sent.push(m) > 0,
    );
    expect(requests.abandon('the connection closed')).toBe(2);
    expect(await rebalance).toEqual({ ok: false, message: 'the connection closed' });
    expect(await shrink).toEqual({
      ok: false,
      message: 'the connection closed',
      leaving: [],
      eligible: [],
      members: [],
    });
    expect(requests.abandon('again')).toBe(0);
    const r = sent[0] as Extract<ControlMessage, { type: 'rebalance-request' }>;
    // A late answer is still recognised as one, and settles nothing.
    expect(
      requests.answer({
        type: 'rebalance-reply',
        version: 1,
        nonce: r.nonce,
        ok: true,
        message: '',
      }),
    ).toBe(true);
    // The bound counts only what waits: all 64 places are free again.
    for (let i = 0; i < MAX_PENDING_REQUESTS; i++) void requests.rebalance([], () => true);
    expect(requests.abandon('closed')).toBe(MAX_PENDING_REQUESTS);
  });

  it('a request made while there is no connection is refused at once, and does not count', async () => {
    const requests = new MemberRequests('w2');
    const r = await requests.rebalance([], () => false);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/not connected to the initializer/);
    const s = await requests.shrink({ workers: [], count: 1, query: false }, () => false);
    expect(s.ok).toBe(false);
    expect(s.message).toMatch(/not connected to the initializer/);
    expect(requests.abandon('closed')).toBe(0);
  });
});
