/**
 * The control messages of liveness (docs/cluster.md, "When a worker is
 * lost"): both ends of every control connection send a `heartbeat` every
 * interval, and an end that hears nothing from the other for longer than
 * its heartbeat timeout treats it as lost. The initializer tells a member it
 * dropped that way with `dropped` before closing the connection, so that a
 * member that was only paused (SIGSTOP, a long stall) learns it on resuming.
 * Their shapes and field checks; the union of every control message is in
 * control-message.ts and its codec in control-codec.ts. Pure.
 */
import type { Checker } from './control-checker.js';
import type { CONTROL_PROTOCOL_VERSION } from './control-message.js';
import { field } from './validate.js';

/** Sent every `interval` ms by both ends of a control connection; anything received counts as a sign of life. */
export interface HeartbeatControlMessage {
  readonly type: 'heartbeat';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  /**
   * Milliseconds between the sender's heartbeats (at least 1). The receiver
   * waits at least three of them before it treats the sender as lost, even
   * if its own timeout is shorter.
   */
  readonly interval: number;
}

/**
 * The initializer treats the receiving member as lost: nothing came from it
 * for `silentMs` ms, over the initializer's heartbeat timeout `timeoutMs`.
 * The connection closes next.
 */
export interface DroppedControlMessage {
  readonly type: 'dropped';
  readonly version: typeof CONTROL_PROTOCOL_VERSION;
  readonly silentMs: number;
  readonly timeoutMs: number;
}

/** The liveness messages. */
export type LivenessMessage = HeartbeatControlMessage | DroppedControlMessage;

/** Field names of each liveness kind, besides `type` and `version`. */
export const LIVENESS_FIELDS = {
  heartbeat: ['interval'],
  dropped: ['silentMs', 'timeoutMs'],
} as const satisfies { readonly [T in LivenessMessage['type']]: readonly string[] };

/** Checks the fields of a liveness message (its `type` and field names are checked already). */
export function validateLivenessMessage(
  kind: LivenessMessage['type'],
  record: Record<string, unknown>,
  version: typeof CONTROL_PROTOCOL_VERSION,
  c: Checker,
): LivenessMessage {
  switch (kind) {
    case 'heartbeat':
      return { type: kind, version, interval: c.positive(field(record, 'interval'), 'interval') };
    case 'dropped':
      return {
        type: kind,
        version,
        silentMs: c.count(field(record, 'silentMs'), 'silentMs'),
        timeoutMs: c.count(field(record, 'timeoutMs'), 'timeoutMs'),
      };
  }
}
