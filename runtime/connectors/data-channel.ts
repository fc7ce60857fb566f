/**
 * Data channels between workers. Each scheduler thread keeps one TCP
 * connection to each other worker (so threads never contend for a socket);
 * messages bound for a remote actor are added to that connection's batch,
 * which ships as one length-prefixed frame holding a versioned `batch` data
 * message when it passes FLUSH_BYTES or at the end of the thread's slice
 * (Scheduler.onFlush). Each worker listens on its data address on one
 * scheduler thread, decodes every frame, and hands each message to its
 * owning actor (on any thread of the worker) through the kernel: at once if
 * that actor is idle and on the listener's thread, else through its mailbox
 * or the ring to its thread.
 *
 * Order: one connection per (sending thread, receiving worker) is FIFO, and
 * so is the hop from the listener thread to the owner's thread, so what one
 * actor sends another arrives in the order sent.
 *
 * Backpressure (the kernel's rules, extended across workers):
 *  - an outbound socket whose buffer is full (write returned false) adds 1
 *    to the process's PRESSURE until it drains, so this worker's sources
 *    mute;
 *  - the listener stops reading while actors of its own process are
 *    overloaded (never merely because its own outbound sockets are full:
 *    two workers would then stop reading each other forever), so TCP pushes
 *    back on the senders, whose sockets fill, whose sources mute.
 * Socket writes never block, so actors always run and no cycle of full
 * buffers can deadlock the cluster.
 */
import type { Socket } from 'node:net';
import type { ActorRef, Scheduler } from '../../actors/index.js';
import { BatchEncoder, decodeBatch } from '../../protocols/batch-codec.js';
import {
  decodeDataMessage,
  encodeDataMessage,
  encodeFrame,
  asRooError,
  ErrorCode,
  FrameDecoder,
  formatAddress,
  type Address,
} from '../../protocols/index.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { Logger } from '../logging/logger.js';
import { ChannelListener, connectChannel, type ChannelSecurity } from '../security/index.js';
import { isMarkerTag, markerClock } from './latency-marker.js';

const FLUSH_BYTES = 32 * 1024;
/**
 * A batch to another worker is also sent once its first message is this old
 * (ms), checked every 64 messages, so a long turn does not hold it. Longer
 * than between threads (MAX_BATCH_AGE_MS, 0.5 ms): each send here is a
 * socket write and a wake-up of the other worker's event loop, and at
 * 0.5 ms two workers of word count ran 10 % slower (1.93 against 2.14 M
 * words/s).
 */
const BATCH_AGE_MS = 2;
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2_000;
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

/** One thread's outbound connection to one remote worker. */
class OutboundLink {
  private socket: Socket | undefined;
  private connected = false;
  private congested = false;
  private closed = false;
  private delay = RECONNECT_MIN_MS;
  private readonly encoder = new BatchEncoder(FLUSH_BYTES * 2);
  /** Frames waiting for the connection (bounded by muting the sources). */
  private readonly waiting: Buffer[] = [];
  private warned = false;
  /** Messages sent, for stats. */
  sent = 0;
  /** Bytes of the frames sent (or held for the connection), for metrics. */
  bytes = 0;
  /** performance.now() of the batch's first message (see BATCH_AGE_MS). */
  private started = 0;

  constructor(
    private readonly me: string,
    readonly peer: string,
    private readonly address: Address,
    private readonly pressure: (delta: 1 | -1) => void,
    private readonly log: Logger,
    private readonly generation: number,
    /** The cluster secret and TLS, if any: each connection passes them before it carries a batch. */
    private readonly security: ChannelSecurity,
  ) {
    this.connect();
  }

  add(ref: ActorRef, tag: number, a: unknown, b: unknown): void {
    const enc = this.encoder;
    if (enc.count === 0) this.started = performance.now();
    enc.add(ref, tag, a, b);
    this.sent++;
    if (
      enc.byteLength >= FLUSH_BYTES ||
      ((enc.count & 63) === 0 && performance.now() - this.started >= BATCH_AGE_MS)
    )
      this.flush();
  }

  flush(): void {
    if (this.encoder.count === 0) return;
    const bytes = this.encoder.finish();
    const frame = encodeFrame(
      encodeDataMessage({
        type: 'batch',
        version: 1,
        epoch: this.generation,
        sender: this.me,
        bytes,
      }),
    );
    this.bytes += frame.length;
    if (!this.connected || this.waiting.length > 0) {
      this.hold(frame);
      return;
    }
    this.write(frame);
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  private write(frame: Buffer): void {
    const ok = (this.socket as Socket).write(frame);
    if (!ok && !this.congested) {
      this.congested = true;
      this.pressure(1);
    }
  }

  private hold(frame: Buffer): void {
    if (this.waiting.length === 0 && !this.congested) {
      this.congested = true;
      this.pressure(1);
    }
    this.waiting.push(frame);
  }

  private relieve(): void {
    while (this.waiting.length > 0 && this.connected) {
      const ok = (this.socket as Socket).write(this.waiting.shift() as Buffer);
      if (!ok) return;
    }
    if (this.congested && this.waiting.length === 0) {
      this.congested = false;
      this.pressure(-1);
    }
  }

  private connect(): void {
    if (this.closed) return;
    connectChannel(this.address, 'data', this.security).then(
      (s) => this.connected_(s),
      (err: Error) => {
        this.warn(err);
        this.retry();
      },
    );
  }

  /** The connection is up (and, with a cluster secret or TLS, authenticated). */
  private connected_(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.socket = s;
    s.setNoDelay(true);
    this.connected = true;
    this.delay = RECONNECT_MIN_MS;
    if (this.warned) this.log.info(`data channel to '${this.peer}' is up again`);
    this.warned = false;
    s.on('drain', () => this.relieve());
    s.on('error', (err) => this.warn(err));
    s.on('close', () => {
      this.connected = false;
      this.retry();
    });
    this.relieve();
  }

  private warn(err: Error): void {
    if (!this.warned && !this.closed) {
      this.log.warn(
        `data channel to '${this.peer}' at ${formatAddress(this.address)} failed (${err.message}); retrying`,
      );
      this.warned = true;
    }
  }

  private retry(): void {
    if (this.closed) return;
    setTimeout(() => this.connect(), this.delay).unref();
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
  }
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

/**
 * A worker's data listener: accepts the other workers' connections and
 * delivers each message to its local actor. Broken or garbage input closes
 * that connection only, with a logged error.
 */
export class DataListener {
  private listener: ChannelListener | undefined;
  private readonly sockets = new Set<Socket>();
  private paused = false;
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
    for (const s of this.sockets) s.destroy();
    await this.listener?.close();
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    if (this.paused) socket.pause();
    const framer = new FrameDecoder();
    // A batch is staged whole and delivered only if all of it decodes: a
    // corrupt batch from the network must not deliver its first half.
    const staged: unknown[] = [];
    const stage = (dest: number, tag: number, a: unknown, b: unknown) => {
      staged.push(dest, tag, a, b);
    };
    const onFrame = (payload: Buffer) => {
      const message = decodeDataMessage(payload);
      if (message.epoch !== this.generation) {
        this.log.debug(
          `data channel: dropped a connection of rollback generation ${message.epoch} (now ${this.generation})`,
        );
        socket.destroy();
        throw new StaleGeneration();
      }
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
      // Only local overload pauses reading (kernel rule 7): pausing because our
      // own outbound channels are full could deadlock two workers.
      if (this.scheduler.actorsOverloaded() && !this.paused) this.pause();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
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

  private pause(): void {
    this.paused = true;
    for (const s of this.sockets) s.pause();
    this.scheduler.muteUntilRelieved(
      {
        unmute: () => {
          this.paused = false;
          for (const s of this.sockets) s.resume();
        },
      },
      'actors',
    );
  }
}

/** Stops reading a connection of an abandoned generation. */
class StaleGeneration extends Error {}
