/**
 * Data channels between workers. Each scheduler thread keeps one TCP
 * connection to each other worker (so threads never contend for a socket;
 * data-link.ts): messages bound for a remote actor are added to that
 * connection's batch of their lane, which ships as one length-prefixed frame
 * holding a versioned `batch` data message when it passes FLUSH_BYTES or at
 * the end of the thread's slice (Scheduler.onFlush). Each worker listens on
 * its data address on one scheduler thread, decodes every frame, and hands
 * each message to its owning actor (on any thread of the worker) through the
 * kernel: at once if that actor is idle and on the listener's thread, else
 * through its mailbox or the ring to its thread.
 *
 * Order: one connection per (sending thread, receiving worker), FIFO per
 * lane, and so is the hop from the listener thread to the owner's thread, so
 * what one actor sends another on a lane arrives in the order sent.
 *
 * Backpressure (the kernel's rules, extended across workers; rule 9 of
 * actors/backpressure.ts and docs/architecture.md section 5):
 *  - credit: per connection and lane, the sender has at most the window
 *    (DATA_WINDOW_BYTES) of frames the listener has not handed back. The
 *    listener hands a frame's bytes back once it has delivered its messages,
 *    except for a lane while actors of its own process are overloaded, or
 *    while holders of that lane's epoch bit (actors aligning a barrier, a
 *    reconfiguration's hold) are past their marks. It never holds back a
 *    lane because its own outbound links are full: two workers would then
 *    wait on each other forever. So a slow worker's memory, and the memory
 *    it makes its peers hold for it, stay bounded;
 *  - a link with frames waiting (for credit or a connection) or a full
 *    socket adds 1 to the process's PRESSURE until it drains, so that
 *    worker's sources mute.
 * Socket writes never block, the listener always reads, and a lane holding
 * back its credit never holds back the barrier a holder waits for (it
 * travels on the other lane): no cycle of waits can deadlock the cluster.
 */
import type { Socket } from 'node:net';
import type { ActorRef, Scheduler } from '../../actors/index.js';
import { decodeBatch } from '../../protocols/batch-codec.js';
import {
  asRooError,
  DATA_PROTOCOL_VERSION,
  decodeDataMessage,
  encodeDataMessage,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  RooError,
  type Address,
} from '../../protocols/index.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import { ChannelListener, type ChannelSecurity } from '../security/index.js';
import { ReceiveCredit } from './credit-ledger.js';
import { OutboundLink, type LaneOf } from './data-link.js';
import { isMarkerTag, markerClock } from './latency-marker.js';

/**
 * Frame bytes per lane a sender may have outstanding on one connection (2
 * MiB): about 40 ms of one link's traffic at word count's fastest, so credit
 * comes back long before it runs out while the receiver keeps up.
 */
export const DATA_WINDOW_BYTES = 2 * 1024 * 1024;
/** Senders a listener keeps traffic counts for; further names count under OTHER_SENDERS. */
const MAX_SENDERS = 256;
/** Where traffic from senders past MAX_SENDERS is counted. */
export const OTHER_SENDERS = '(others)';

/** Messages and bytes exchanged with one peer worker, so far. */
export interface PeerTraffic {
  readonly peer: string;
  readonly messages: number;
  readonly bytes: number;
}

/** A thread's outbound data links, one per remote worker. */
export class DataLinks {
  private links: (OutboundLink | undefined)[];
  private readonly open: (name: string, data: Address) => OutboundLink;

  constructor(
    scheduler: Scheduler,
    me: number,
    workers: readonly { readonly name: string; readonly data: Address }[],
    log: Logger,
    /** The cluster's rollback generation: batches carry it, listeners of another drop them. */
    generation: number,
    security: ChannelSecurity,
    /** Each message's lane (epochs.ts `laneOf`). */
    laneOf: LaneOf,
  ) {
    const myName = workers[me]?.name ?? `worker ${me}`;
    this.open = (name, data) =>
      new OutboundLink(
        myName,
        name,
        data,
        (d) => scheduler.addPressure(d),
        log,
        generation,
        security,
        laneOf,
      );
    this.links = this.linksTo(me, workers, new Map());
    scheduler.onFlush(() => {
      for (const l of this.links) l?.flush();
    });
  }

  private linksTo(
    me: number,
    workers: readonly { readonly name: string; readonly data: Address }[],
    kept: ReadonlyMap<string, OutboundLink>,
  ): (OutboundLink | undefined)[] {
    return workers.map((w, i) =>
      i === me ? undefined : (kept.get(w.name) ?? this.open(w.name, w.data)),
    );
  }

  /**
   * The cluster's members changed (a reconfiguration, while nothing is in
   * flight): links to workers still there are kept under their new index,
   * links to workers that left are closed, new workers get new links.
   */
  reconfigure(
    me: number,
    workers: readonly { readonly name: string; readonly data: Address }[],
  ): void {
    const byName = new Map<string, OutboundLink>();
    for (const l of this.links) if (l !== undefined) byName.set(l.peer, l);
    const next = this.linksTo(me, workers, byName);
    for (const l of byName.values()) if (!next.includes(l)) l.close();
    this.links = next;
  }

  /** Sends a message to actor `ref` of worker `worker`. */
  send(worker: number, ref: ActorRef, tag: number, a: unknown, b: unknown): void {
    (this.links[worker] as OutboundLink).add(ref, tag, a, b);
  }

  /** Messages sent to each worker. */
  sentByWorker(): number[] {
    return this.links.map((l) => l?.sent ?? 0);
  }

  /** Messages and bytes sent to each other worker so far, by name (links closed by a reconfiguration are forgotten). */
  traffic(): PeerTraffic[] {
    const out: PeerTraffic[] = [];
    for (const l of this.links)
      if (l !== undefined) out.push({ peer: l.peer, messages: l.sent, bytes: l.bytes });
    return out;
  }

  /** Closes every link. */
  close(): void {
    for (const l of this.links) l?.close();
  }
}

/** One accepted connection: its socket and what its sender may still send. */
interface Inbound {
  readonly socket: Socket;
  readonly credit: ReceiveCredit;
}

/**
 * A worker's data listener: accepts the other workers' connections, delivers
 * each message to its local actor, and hands credit back (rule 9). Broken or
 * garbage input, or a sender that ignores its window, closes that connection
 * only, with a logged error.
 */
export class DataListener {
  private listener: ChannelListener | undefined;
  private readonly inbound = new Set<Inbound>();
  /** Registered with the scheduler to hand back credit once a lane may (rule 9). */
  private readonly waiter = {
    unmute: () => {
      this.waiting = false;
      this.handBackAll();
    },
    mayResume: () => this.mayHandBack(),
  };
  private waiting = false;
  /** Messages received, for stats. */
  received = 0;
  /** Messages and bytes received per sending worker (at most MAX_SENDERS names). */
  private readonly bySender = new Map<string, { messages: number; bytes: number }>();
  /**
   * The cluster's rollback generation. A batch of another generation comes
   * from an engine a rollback abandoned (its worker has not rolled back yet):
   * it is dropped with its connection, never delivered to restored actors.
   */
  generation = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly kick: () => void,
    private readonly errors: ErrorReporter,
    private readonly log: Logger,
    /** The cluster secret and TLS, if any: a connection that fails them is never read. */
    private readonly security: ChannelSecurity,
    /** Frame bytes per lane a sender may have outstanding (default {@link DATA_WINDOW_BYTES}). */
    private readonly window: number = DATA_WINDOW_BYTES,
  ) {}

  /** Listens on `address`; resolves with the bound address. */
  async listen(address: Address): Promise<Address> {
    this.listener = await ChannelListener.listen(address, {
      channel: 'data',
      security: this.security,
      errors: this.errors,
      onSocket: (s) => this.accept(s),
    });
    return this.listener.bound;
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const c of this.inbound) c.socket.destroy();
    await this.listener?.close();
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn: Inbound = { socket, credit: new ReceiveCredit(this.window) };
    this.inbound.add(conn);
    const framer = new FrameDecoder();
    // A batch is staged whole and delivered only if all of it decodes: a
    // corrupt batch from the network must not deliver its first half.
    const staged: unknown[] = [];
    const stage = (dest: number, tag: number, a: unknown, b: unknown) => {
      staged.push(dest, tag, a, b);
    };
    const onFrame = (payload: Buffer) => {
      const message = decodeDataMessage(payload);
      if (message.type !== 'batch') {
        throw new RooError(ErrorCode.BadMessage, `a '${message.type}' from a sending worker`);
      }
      if (message.epoch !== this.generation) {
        this.log.debug(
          `data channel: dropped a connection of rollback generation ${message.epoch} (now ${this.generation})`,
        );
        socket.destroy();
        throw new StaleGeneration();
      }
      // Counted before anything is delivered: a sender past its window is cut off.
      conn.credit.received(message.lane, payload.length + 4);
      staged.length = 0;
      decodeBatch(message.bytes, stage);
      // Bytes as sent: the payload and its 4-byte frame header.
      this.count(message.sender, staged.length / 4, payload.length + 4);
      for (let i = 0; i < staged.length; i += 4) {
        this.received++;
        const tag = staged[i + 1] as number;
        try {
          this.scheduler.deliverFromChannel(
            staged[i] as number,
            tag,
            staged[i + 2],
            // A latency marker's ingress into this worker is now (latency-marker.ts).
            tag < 0 && isMarkerTag(tag) ? markerClock() : staged[i + 3],
          );
        } catch (err) {
          this.errors.report(err, ErrorCode.BadMessage, 'data channel (no such actor)');
        }
      }
      staged.length = 0;
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk, onFrame);
      } catch (err) {
        if (err instanceof StaleGeneration) return;
        // One place label for every connection, so a flood of bad connections is rate-limited in the log.
        this.errors.report(
          asRooError(
            err,
            ErrorCode.BadMessage,
            `from ${socket.remoteAddress}:${socket.remotePort}`,
          ),
          ErrorCode.BadMessage,
          'data channel',
        );
        socket.destroy();
        return;
      }
      this.kick();
      this.handBack(conn);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.inbound.delete(conn));
    // The sender sends nothing until it knows its window.
    socket.write(
      encodeFrame(
        encodeDataMessage({ type: 'window', version: DATA_PROTOCOL_VERSION, bytes: this.window }),
      ),
    );
  }

  /** Messages and bytes received from each sending worker so far. */
  traffic(): PeerTraffic[] {
    return [...this.bySender].map(([peer, t]) => ({ peer, ...t }));
  }

  private count(sender: string, messages: number, bytes: number): void {
    let t = this.bySender.get(sender);
    if (t === undefined) {
      const key = this.bySender.size < MAX_SENDERS ? sender : OTHER_SENDERS;
      t = this.bySender.get(key) ?? { messages: 0, bytes: 0 };
      this.bySender.set(key, t);
    }
    t.messages += messages;
    t.bytes += bytes;
  }

  /** Bytes of `lane` received from every connection and not handed back yet (for stats and tests). */
  heldCredit(lane: number): number {
    let n = 0;
    for (const c of this.inbound) n += c.credit.heldOf(lane);
    return n;
  }

  /** Whether lane `lane` may have its credit handed back now (rule 9). */
  private mayRelease(lane: number): boolean {
    return !this.scheduler.actorsOverloaded() && !this.scheduler.holds(lane & 1);
  }

  /** Hands back what `conn` owes on every lane that may; waits (muted) for the others. */
  private handBack(conn: Inbound): void {
    let owing = false;
    for (const lane of [...conn.credit.owing()]) {
      if (!this.mayRelease(lane)) {
        owing = true;
        continue;
      }
      const bytes = conn.credit.release(lane);
      if (bytes > 0 && !conn.socket.destroyed) {
        conn.socket.write(
          encodeFrame(
            encodeDataMessage({ type: 'credit', version: DATA_PROTOCOL_VERSION, lane, bytes }),
          ),
        );
      }
    }
    if (owing && !this.waiting) {
      this.waiting = true;
      this.scheduler.muteUntilRelieved(this.waiter, 'own');
    }
  }

  private handBackAll(): void {
    for (const c of this.inbound) this.handBack(c);
  }

  /** True if some connection owes credit on a lane that may have it back now. */
  private mayHandBack(): boolean {
    for (const c of this.inbound)
      for (const lane of c.credit.owing()) if (this.mayRelease(lane)) return true;
    return false;
  }
}

/** Stops reading a connection of an abandoned generation. */
class StaleGeneration extends Error {}
