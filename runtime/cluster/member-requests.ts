/**
 * A member's requests to the initializer that wait for an answer: a
 * rebalance of its threads, and a `roo shrink` or `roo shutdown` it relays
 * from its external channel. Each carries a nonce; the answer with that nonce settles it.
 * An initializer that is gone answers none: when the control connection to
 * it closes, every request still waiting is answered with a refusal (the
 * initializer that comes back, restarted, never heard of them), and a
 * request made while there is no connection is refused at once. Without
 * that, a rebalance asked just before the initializer crashed would wait
 * for good, and the worker's rebalancer with it (one at a time: every later
 * `roo rebalance` and `--auto-rebalance` refused as under way). Bounded:
 * with {@link MAX_PENDING_REQUESTS} unanswered, a new one is refused at once
 * rather than kept.
 */
import type {
  ControlMessage,
  ShrinkOutcome,
  ShrinkRequest,
  WireThreadMove,
} from '../../protocols/index.js';

/** Unanswered requests a member keeps at most. */
export const MAX_PENDING_REQUESTS = 64;

/** Sends a request to the initializer; false if there is no connection to it now. */
export type RequestSender = (m: ControlMessage) => boolean;

/** What a rebalance request is answered with. */
export interface RebalanceAnswer {
  readonly ok: boolean;
  readonly message: string;
}

/** A member's unanswered requests, by nonce. */
export class MemberRequests {
  private readonly rebalances = new Map<number, (a: RebalanceAnswer) => void>();
  private readonly shrinks = new Map<number, (o: ShrinkOutcome) => void>();
  private readonly shutdowns = new Map<number, (a: RebalanceAnswer) => void>();
  private nonce = 0;

  constructor(private readonly name: string) {}

  /** Asks the coordinator to move this worker's groups between its threads as `moves` say. */
  rebalance(moves: readonly WireThreadMove[], send: RequestSender): Promise<RebalanceAnswer> {
    if (this.full()) return Promise.resolve({ ok: false, message: TOO_MANY });
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      this.rebalances.set(nonce, resolve);
      if (!send({ type: 'rebalance-request', version: 1, nonce, name: this.name, moves }))
        this.settleRebalance(nonce, { ok: false, message: NOT_CONNECTED });
    });
  }

  /** Relays a shrink request from this worker's external channel to the coordinator. */
  shrink(request: ShrinkRequest, send: RequestSender): Promise<ShrinkOutcome> {
    if (this.full()) return Promise.resolve(refusedShrink(TOO_MANY));
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      this.shrinks.set(nonce, resolve);
      if (!send({ type: 'shrink-request', version: 1, nonce, ...request }))
        this.settleShrink(nonce, refusedShrink(NOT_CONNECTED));
    });
  }

  /**
   * Relays `roo shutdown` to the coordinator; answered `ok` once it has
   * agreed to shut the cluster down (it then orders every member to), or
   * with why not.
   */
  shutdown(reason: string, send: RequestSender): Promise<RebalanceAnswer> {
    if (this.full()) return Promise.resolve({ ok: false, message: TOO_MANY });
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      this.shutdowns.set(nonce, resolve);
      if (!send({ type: 'shutdown-request', version: 1, nonce, reason }))
        this.settle(this.shutdowns, nonce, { ok: false, message: NOT_CONNECTED });
    });
  }

  /**
   * The control connection to the initializer closed: refuses every request
   * still waiting, with `reason` (no answer to them can come any more).
   * Returns how many were waiting.
   */
  abandon(reason: string): number {
    const waiting = this.rebalances.size + this.shrinks.size + this.shutdowns.size;
    for (const nonce of [...this.rebalances.keys()])
      this.settleRebalance(nonce, { ok: false, message: reason });
    for (const nonce of [...this.shutdowns.keys()])
      this.settle(this.shutdowns, nonce, { ok: false, message: reason });
    for (const nonce of [...this.shrinks.keys()]) this.settleShrink(nonce, refusedShrink(reason));
    return waiting;
  }

  /** Settles the request a reply answers; true if `m` was such a reply. */
  answer(m: ControlMessage): boolean {
    if (m.type === 'rebalance-reply') {
      this.settleRebalance(m.nonce, { ok: m.ok, message: m.message });
      return true;
    }
    if (m.type === 'shutdown-reply') {
      this.settle(this.shutdowns, m.nonce, { ok: m.ok, message: m.message });
      return true;
    }
    if (m.type === 'shrink-reply') {
      this.settleShrink(m.nonce, {
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

  private settleRebalance(nonce: number, answer: RebalanceAnswer): void {
    this.settle(this.rebalances, nonce, answer);
  }

  private settleShrink(nonce: number, outcome: ShrinkOutcome): void {
    this.settle(this.shrinks, nonce, outcome);
  }

  /** Answers request `nonce` of `waiting` (once: a late or repeated answer finds nothing). */
  private settle<T>(waiting: Map<number, (answer: T) => void>, nonce: number, answer: T): void {
    const resolve = waiting.get(nonce);
    waiting.delete(nonce);
    resolve?.(answer);
  }

  private full(): boolean {
    return this.rebalances.size + this.shrinks.size + this.shutdowns.size >= MAX_PENDING_REQUESTS;
  }
}

/** A shrink refused before the initializer could weigh it. */
function refusedShrink(message: string): ShrinkOutcome {
  return { ok: false, message, leaving: [], eligible: [], members: [] };
}

/** Why a request is refused while there is no control connection to the initializer. */
const NOT_CONNECTED =
  'this worker is not connected to the initializer now (it may be restarting); try again';

/** Why a request is refused at the bound. */
const TOO_MANY = `${MAX_PENDING_REQUESTS} requests to the initializer are still unanswered; try again later`;
