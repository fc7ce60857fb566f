/**
 * Which workers a shrink request removes, or why it is refused (pure): the
 * rules of eligibility and of picking by count.
 */
import type { WorkerDirectory } from '../../protocols/index.js';
import { memberNames, type Layout } from './reconfiguration.js';

/** Which workers a shrink request removes, or why it is refused. */
export interface ShrinkPlan {
  readonly ok: boolean;
  readonly message: string;
  readonly leaving: readonly string[];
  readonly eligible: readonly string[];
}

/**
 * The workers that may leave: every member but the initializer (it runs the
 * coordinator) and but those running a source (its senders could not follow
 * it), as in Wallaroo.
 */
export function eligibleToLeave(
  layout: Layout,
  directories: readonly (WorkerDirectory | undefined)[],
  initializer: string,
): string[] {
  return layout.members.flatMap((m, i) => {
    if (m.name === initializer) return [];
    const sources = directories[i]?.sources ?? {};
    return Object.values(sources).some((n) => n > 0) ? [] : [m.name];
  });
}

/** Why a worker running alone (a cluster of one) has no worker that may leave. */
export const ALONE_MESSAGE =
  'this worker runs alone (a cluster of one): no worker may leave; grow it first (start it with --control, then --join workers to it)';

/**
 * Decides a shrink request: named workers must all be members and eligible
 * (or the whole request is refused, saying which and why); a count takes the
 * eligible workers last to join first, and a count above the eligible
 * number shrinks by as many as are eligible, saying so.
 */
export function planShrink(
  layout: Layout,
  directories: readonly (WorkerDirectory | undefined)[],
  initializer: string,
  request: { readonly workers: readonly string[]; readonly count: number; readonly query: boolean },
): ShrinkPlan {
  const eligible = eligibleToLeave(layout, directories, initializer);
  const names = memberNames(layout);
  const refuse = (message: string): ShrinkPlan => ({ ok: false, message, leaving: [], eligible });
  if (names.length === 1) {
    const message = `${ALONE_MESSAGE}${request.query ? '' : '; nothing was changed'}`;
    return request.query ? { ok: true, message, leaving: [], eligible } : refuse(message);
  }
  if (request.query) {
    return {
      ok: true,
      message:
        eligible.length === 0
          ? 'no worker may leave now'
          : `${eligible.length} of ${names.length} workers may leave: ${eligible.join(', ')}`,
      leaving: [],
      eligible,
    };
  }
  if (request.workers.length > 0) {
    const unknown = request.workers.filter((w) => !names.includes(w));
    if (unknown.length > 0)
      return refuse(
        `no worker named ${unknown.map((w) => `'${w}'`).join(', ')} in the cluster (${names.join(', ')}); nothing was changed`,
      );
    const repeated = request.workers.filter((w, i) => request.workers.indexOf(w) !== i);
    if (repeated.length > 0) return refuse(`'${repeated[0]}' is named twice; nothing was changed`);
    const not = request.workers.filter((w) => !eligible.includes(w));
    if (not.length > 0)
      return refuse(
        `${not.map((w) => `'${w}'`).join(', ')} may not leave (${not.map((w) => (w === initializer ? `${w} is the initializer` : `${w} runs a source`)).join('; ')}); nothing was changed`,
      );
    return {
      ok: true,
      message: `${request.workers.join(', ')} will leave`,
      leaving: [...request.workers],
      eligible,
    };
  }
  if (request.count < 1) return refuse('name the workers to leave, or how many');
  if (eligible.length === 0) return refuse('no worker may leave now; nothing was changed');
  // The most recently joined first.
  const leaving = [...eligible].reverse().slice(0, request.count);
  return {
    ok: true,
    message:
      leaving.length < request.count
        ? `asked for ${request.count} workers to leave but only ${eligible.length} may: ${leaving.join(', ')} will leave`
        : `${leaving.join(', ')} will leave`,
    leaving,
    eligible,
  };
}
