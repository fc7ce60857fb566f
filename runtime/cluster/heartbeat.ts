/**
 * One end's heartbeat on one control connection: every interval it sends a
 * `heartbeat` control message and asks {@link judgePeer} about the other
 * end, and it reports the peer lost once, then stops. The transport
 * (control-transport.ts) tells it of every byte that arrives and of the
 * peer's own interval; the decision is liveness.ts's.
 */
import {
  CONTROL_PROTOCOL_VERSION,
  decodeControlMessage,
  encodeControlMessage,
  type HeartbeatControlMessage,
} from '../../protocols/index.js';
import { heartbeatIntervalMs, judgePeer, type PeerClock } from './liveness.js';

/** A heartbeat encodes to about 30 bytes; a longer control message is never decoded here. */
const MAX_HEARTBEAT_BYTES = 64;

/** The heartbeat in `bytes`, if that is what they are; anything else is left to the node to decode. */
export function readHeartbeat(bytes: Uint8Array): HeartbeatControlMessage | undefined {
  if (bytes.length > MAX_HEARTBEAT_BYTES) return undefined;
  try {
    const m = decodeControlMessage(bytes);
    return m.type === 'heartbeat' ? m : undefined;
  } catch {
    // Not a valid message: the node decodes it again, and logs and refuses it there.
    return undefined;
  }
}

/** What a heartbeat needs. */
export interface HeartbeatOptions {
  /** `--heartbeat-timeout`, ms. */
  readonly timeoutMs: number;
  /** Sends the encoded heartbeat to the peer. */
  readonly send: (bytes: Uint8Array) => void;
  /** The peer was silent for `silentMs` over `timeoutMs`; called once, after which the heartbeat stops. */
  readonly lost: (silentMs: number, timeoutMs: number) => void;
  /** A monotonic clock, ms (default performance.now). */
  readonly now?: () => number;
}

/** The heartbeat of one end of one connection. */
export class Heartbeat {
  private clock: PeerClock;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly bytes: Uint8Array;

  constructor(private readonly o: HeartbeatOptions) {
    this.now = o.now ?? (() => performance.now());
    const at = this.now();
    this.clock = { lastHeardMs: at, lastCheckMs: at, peerIntervalMs: undefined };
    const interval = heartbeatIntervalMs(o.timeoutMs);
    this.bytes = encodeControlMessage({
      type: 'heartbeat',
      version: CONTROL_PROTOCOL_VERSION,
      interval,
    });
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
    o.send(this.bytes);
  }

  /** Bytes came from the peer. */
  heard(): void {
    this.clock = { ...this.clock, lastHeardMs: this.now() };
  }

  /** The peer's heartbeat said how often it beats. */
  peerInterval(ms: number): void {
    this.clock = { ...this.clock, peerIntervalMs: ms };
  }

  /** Stops beating and watching (the connection closed). */
  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    this.o.send(this.bytes);
    const now = this.now();
    const verdict = judgePeer(this.clock, now, this.o.timeoutMs);
    this.clock = {
      ...this.clock,
      lastCheckMs: now,
      ...(verdict.kind === 'stalled' ? { lastHeardMs: now } : {}),
    };
    if (verdict.kind === 'lost') {
      this.stop();
      this.o.lost(Math.round(verdict.silentMs), verdict.timeoutMs);
    }
  }
}
