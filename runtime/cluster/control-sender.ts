/**
 * Who may say what on the initializer's control channel. Anyone can open a
 * connection to `--control`, so a message is obeyed only when it comes from
 * the connection entitled to say it:
 *
 *  - `hello` from anyone: it is how a worker asks in (the start-up
 *    coordinator and the join rules decide whether it gets a place);
 *  - a message that names a member (`wired`, `ready`, `spawned`,
 *    `checkpoint-done`, the `migrate-*` steps, `reconfigured`,
 *    `rebalance-request`) only from the connection that member joined on:
 *    a stranger acking a checkpoint for another could commit a checkpoint
 *    whose snapshot was never written;
 *  - `shutdown-request` and `shrink-request` (which members relay from
 *    their external channel), and `shutdown`, only from a member's connection: a stranger could
 *    otherwise stop or shrink the cluster over the control port;
 *  - anything else (`ping`, `pong`, and what only the initializer sends) is
 *    harmless to hear from anyone.
 *
 * Pure: the initializer (initializer-node.ts) ignores what is refused here,
 * logs it (rate-limited), and closes a stranger's connection.
 */
import type { ControlMessage } from '../../protocols/index.js';

/** Whether a control message may be obeyed, and if not, why. */
export type SenderVerdict =
  | { readonly kind: 'ok' }
  /** Refused; `stranger`: the connection is no member's at all (it is closed). */
  | { readonly kind: 'refused'; readonly stranger: boolean; readonly reason: string };

const OK: SenderVerdict = { kind: 'ok' };

/** Kinds only members may send, naming no member. */
const MEMBERS_ONLY: ReadonlySet<ControlMessage['type']> = new Set([
  'shutdown',
  'shutdown-request',
  'shrink-request',
]);

/**
 * Decides whether `m`, read from `connection`, may be obeyed, given which
 * connection each member joined on (`names`: member name → connection).
 */
export function checkSender(
  m: ControlMessage,
  connection: number,
  names: ReadonlyMap<string, number>,
): SenderVerdict {
  if (m.type === 'hello') return OK;
  const named = 'name' in m ? m.name : undefined;
  if (named === undefined && !MEMBERS_ONLY.has(m.type)) return OK;
  let member: string | undefined;
  for (const [name, c] of names) if (c === connection) member = name;
  if (named === undefined) {
    if (member !== undefined) return OK;
    return {
      kind: 'refused',
      stranger: true,
      reason: `a '${m.type}' from connection #${connection}, which is no member's`,
    };
  }
  if (names.get(named) === connection) return OK;
  return {
    kind: 'refused',
    stranger: member === undefined,
    reason: `a '${m.type}' naming worker '${named}' from connection #${connection}, which is ${
      member === undefined ? "no member's" : `worker '${member}''s`
    }`,
  };
}
