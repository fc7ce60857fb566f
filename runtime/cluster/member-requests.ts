/**
 * A member's requests to the initializer that wait for an answer: a
 * rebalance of its threads, and a `roo shrink` it relays from its external
 * channel. Each carries a nonce; the answer with that nonce settles it.
 * Bounded: with {@link MAX_PENDING_REQUESTS} unanswered (an initializer that
 * is gone answers none), a new one is refused at once rather than kept.
 */
import type {
  ControlMessage,
  ShrinkOutcome,
  ShrinkRequest,
  WireThreadMove,
} from '../../protocols/index.js';

/** Unanswered requests a member keeps at most. */
export const MAX_PENDING_REQUESTS = 64;

/** What a rebalance request is answered with. */
export interface RebalanceAnswer {
  readonly ok: boolean;
  readonly message: string;
}

/** A member's unanswered requests, by nonce. */
export class MemberRequests {
  private readonly rebalances = new Map<number, (a: RebalanceAnswer) => void>();
  private readonly shrinks = new Map<number, (o: ShrinkOutcome) => void>();
  private nonce = 0;

  constructor(private readonly name: string) {}

  /** Asks the coordinator to move this worker's groups between its threads as `moves` say. */
  rebalance(
    moves: readonly WireThreadMove[],
    send: (m: ControlMessage) => void,
  ): Promise<RebalanceAnswer> {
    if (this.full()) return Promise.resolve({ ok: false, message: TOO_MANY });
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      this.rebalances.set(nonce, resolve);
      send({ type: 'rebalance-request', version: 1, nonce, name: this.name, moves });
    });
  }

  /** Relays a shrink request from this worker's external channel to the coordinator. */
  shrink(request: ShrinkRequest, send: (m: ControlMessage) => void): Promise<ShrinkOutcome> {
    if (this.full())
      return Promise.resolve({
        ok: false,
        message: TOO_MANY,
        leaving: [],
        eligible: [],
        members: [],
      });
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      this.shrinks.set(nonce, resolve);
      send({ type: 'shrink-request', version: 1, nonce, ...request });
    });
  }

  /** Settles the request a reply answers; true if `m` was such a reply. */
  answer(m: ControlMessage): boolean {
    if (m.type === 'rebalance-reply') {
      const resolve = this.rebalances.get(m.nonce);
      this.rebalances.delete(m.nonce);
      resolve?.({ ok: m.ok, message: m.message });
      return true;
    }
    if (m.type === 'shrink-reply') {
      const resolve = this.shrinks.get(m.nonce);
      this.shrinks.delete(m.nonce);
      resolve?.({
        ok: m.ok,
        message: m.message,
        leaving: m.leaving,
        eligible: m.eligible,
        members: m.members,
      });
      return true;
    }
    return false;
  }

  private full(): boolean {
    return this.rebalances.size + this.shrinks.size >= MAX_PENDING_REQUESTS;
  }
}

/** Why a request is refused at the bound. */
const TOO_MANY = `${MAX_PENDING_REQUESTS} requests to the initializer are still unanswered; try again later`;
