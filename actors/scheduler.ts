/**
 * One scheduler thread's actors: spawning, message delivery (through the
 * mailbox, or at once to an idle actor), actor turns, and reading the byte
 * channels from the other scheduler threads of the process. Writing to them
 * is outbound.ts; the backpressure rules are listed in backpressure.ts.
 */
import { decodeBatch } from '../protocols/batch-codec.js';
import { actorRef, LOCAL_BITS, LOCAL_MASK, type ActorRef } from './actor-ref.js';
import { Mutes, Pressure, type MuteReason, type Producer } from './backpressure.js';
import { Mailbox, type QueuedCount, type Receiver } from './mailbox.js';
import { Outbound } from './outbound.js';
import { RingReader } from './ring.js';
import { RunQueue } from './run-queue.js';
import { trace, TraceKind } from './trace.js';
import { ThreadSlot, threadSlot, type SharedKernelMemory } from './shared-layout.js';

/** An actor's behaviour: what it does with each message. */
export type Behaviour = Receiver;

/** Settings of a scheduler. */
export interface SchedulerOptions {
  readonly memory: SharedKernelMemory;
  readonly thread: number;
  /** Application messages per actor turn (Pony: 100). */
  readonly batch?: number;
  /** Mailbox size above which an actor is overloaded. */
  readonly overloadHigh?: number;
  /** Mailbox size at or below which it no longer is. */
  readonly overloadLow?: number;
  /** Outbound batch size (bytes) that triggers an immediate flush. */
  readonly flushBytes?: number;
  /** Unread inbound bytes past which this thread's producers yield (rule 8). */
  readonly backlogBytes?: number;
  /** Called when an actor's behaviour throws; the message is dropped. */
  readonly onActorError?: (error: unknown, actorName: string) => void;
  /** Seeded mode: picks the next actor from the run queue at random. */
  readonly random?: () => number;
}

/** Counters of one scheduler, for stats and benchmarks. */
export interface SchedulerStats {
  turns: number;
  delivered: number;
  /** Of `delivered`: messages handed to an idle local actor at once, without its mailbox. */
  direct: number;
  sentLocal: number;
  sentRemote: number;
  batchesOut: number;
  batchesIn: number;
  bytesOut: number;
  actorErrors: number;
  badBatches: number;
}

interface Cell {
  readonly id: number;
  readonly name: string;
  /** Application messages per turn for this actor. */
  readonly batch: number;
  /** Mailbox size above which this actor is overloaded (rule 1), and at or below which it no longer is. */
  readonly high: number;
  readonly low: number;
  readonly behaviour: Behaviour;
  readonly mailbox: Mailbox;
  scheduled: boolean;
  overloaded: boolean;
  /** True while the actor handles a message (its turn, or a direct delivery). */
  running: boolean;
}

/** The actors of one scheduler thread and its channels to the others. */
export class Scheduler {
  /** This thread's index in the process. */
  readonly thread: number;
  /** Number of scheduler threads in the process. */
  readonly threadCount: number;
  /** Counters (read by stats RPCs and benchmarks). */
  readonly stats: SchedulerStats = {
    turns: 0,
    delivered: 0,
    direct: 0,
    sentLocal: 0,
    sentRemote: 0,
    batchesOut: 0,
    batchesIn: 0,
    bytesOut: 0,
    actorErrors: 0,
    badBatches: 0,
  };

  private readonly cells: (Cell | undefined)[] = [];
  /**
   * True while actor code runs (a turn, a direct delivery, a flush hook): only
   * then are sends to idle local actors delivered at once, never from a
   * socket callback or an RPC, which must not run an actor inside them.
   */
  private inTurn = false;
  /** Application messages waiting in this thread's mailboxes. */
  private readonly queued: QueuedCount = { app: 0 };
  private readonly runQueue = new RunQueue<Cell>();
  private readonly ctrl: Int32Array;
  private readonly readers: (RingReader | null)[];
  /** The batches and rings to the other threads (rule 2). */
  private readonly outbound: Outbound;
  private readonly pressure: Pressure;
  private readonly mutes: Mutes;
  private readonly flushHooks: (() => void)[] = [];
  private readonly batch: number;
  private readonly high: number;
  private readonly low: number;
  private readonly backlogBytes: number;
  private readonly onActorError: (error: unknown, actorName: string) => void;
  private readonly random: (() => number) | undefined;
  private readonly deliverInbound: (dest: number, tag: number, a: unknown, b: unknown) => void;
  private readonly visitEntry: (entry: Buffer) => void;

  constructor(options: SchedulerOptions) {
    const { memory, thread } = options;
    this.thread = thread;
    this.threadCount = memory.threadCount;
    this.ctrl = new Int32Array(memory.control);
    this.batch = options.batch ?? 100;
    this.high = options.overloadHigh ?? 16_384;
    this.low = options.overloadLow ?? Math.floor(this.high / 4);
    this.backlogBytes = options.backlogBytes ?? 256 * 1024;
    this.onActorError = options.onActorError ?? (() => undefined);
    this.random = options.random;
    this.readers = [];
    for (let t = 0; t < this.threadCount; t++) {
      const inn = memory.rings[t]?.[thread] ?? null;
      this.readers.push(inn === null ? null : new RingReader(inn));
    }
    this.pressure = new Pressure(this.ctrl, () => {
      for (let t = 0; t < this.threadCount; t++) this.wake(t);
    });
    this.mutes = new Mutes(this.pressure, () => this.backlogged());
    this.outbound = new Outbound(memory, thread, options.flushBytes ?? 32 * 1024, this.stats, {
      wake: (t) => this.wake(t),
      congested: () => this.pressure.add(),
      drained: () => this.pressure.relieve(),
    });
    this.deliverInbound = (dest, tag, a, b) => {
      const cell = this.cells[dest];
      if (cell === undefined) {
        this.stats.badBatches++;
        return;
      }
      if (tag >= 0 && cell.mailbox.size === 0 && !cell.running && !cell.behaviour.paused)
        this.deliverNow(cell, tag, a, b);
      else this.enqueue(cell, tag, a, b);
    };
    this.visitEntry = (entry) => {
      this.stats.batchesIn++;
      try {
        decodeBatch(entry, this.deliverInbound);
      } catch (err) {
        this.stats.badBatches++;
        this.onActorError(err, `channel to thread ${this.thread}`);
      }
    };
  }

  /**
   * Creates an actor on this thread; returns its address. `batch` overrides
   * the scheduler's messages per turn for this actor (a source whose every
   * message is a 64 KB chunk takes a few per turn, not 100), and `overload`
   * its marks (an actor whose messages are big chunks of bytes overloads at
   * fewer messages, so memory stays bounded in bytes).
   */
  spawn(
    behaviour: Behaviour,
    name: string,
    batch?: number,
    overload?: { readonly high: number; readonly low: number },
  ): ActorRef {
    const id = this.cells.length;
    if (id > LOCAL_MASK)
      throw new RangeError(`more than ${LOCAL_MASK} actors on thread ${this.thread}`);
    this.cells.push({
      id,
      name,
      batch: batch ?? this.batch,
      high: overload?.high ?? this.high,
      low: overload?.low ?? this.low,
      behaviour,
      mailbox: new Mailbox(16, this.queued),
      scheduled: false,
      overloaded: false,
      running: false,
    });
    return actorRef(this.thread, id);
  }

  /** Number of actors spawned on this thread. */
  get actorCount(): number {
    return this.cells.length;
  }

  /** Sends a message (tag >= 0: application; tag < 0: runtime) to any actor. */
  send(ref: ActorRef, tag: number, a: unknown, b: unknown): void {
    const t = Math.floor(ref / (1 << LOCAL_BITS));
    const local = ref & LOCAL_MASK;
    if (t === this.thread) {
      const cell = this.cells[local];
      if (cell === undefined) throw new RangeError(`no actor ${local} on thread ${t}`);
      this.stats.sentLocal++;
      if (tag >= 0 && this.inTurn && cell.mailbox.size === 0 && !cell.running) {
        if (!cell.behaviour.paused) {
          this.deliverNow(cell, tag, a, b);
          return;
        }
      }
      this.enqueue(cell, tag, a, b);
      return;
    }
    this.outbound.add(t, local, tag, a, b);
    this.stats.sentRemote++;
  }

  /**
   * Hands a message read from a channel outside the kernel (a data channel
   * from another worker) to its actor: like a batch read from a ring, an
   * application message for an idle actor of this thread is delivered at once
   * (see `deliverNow`), anything else is queued, and a message for another
   * thread goes into that thread's outbound batch. The caller kicks the loop
   * afterwards, so queued messages run and batches leave.
   */
  deliverFromChannel(ref: ActorRef, tag: number, a: unknown, b: unknown): void {
    if (Math.floor(ref / (1 << LOCAL_BITS)) !== this.thread) {
      this.send(ref, tag, a, b);
      return;
    }
    const local = ref & LOCAL_MASK;
    if (this.cells[local] === undefined)
      throw new RangeError(`no actor ${local} on thread ${this.thread}`);
    this.deliverInbound(local, tag, a, b);
  }

  /** Resumes delivery to an actor that paused itself (rule 6). */
  resume(ref: ActorRef): void {
    const cell = this.cells[ref & LOCAL_MASK];
    if (cell !== undefined && cell.mailbox.size > 0) this.schedule(cell);
  }

  /** True while any actor or channel of the process is overloaded (rule 3). */
  pressured(): boolean {
    return this.pressure.pressured();
  }

  /**
   * Adds (+1) or removes (-1) one unit of pressure from outside the kernel:
   * a channel the kernel does not own (a socket to another worker) that is
   * congested counts like a full ring (rule 2).
   */
  addPressure(delta: 1 | -1): void {
    if (delta > 0) this.pressure.add();
    else this.pressure.relieve();
  }

  /** True while actors of the process are overloaded (rule 7's part of the pressure). */
  actorsOverloaded(): boolean {
    return this.pressure.actorsOverloaded();
  }

  /** True while a holder of epoch bit `bit`'s messages is past its mark (rule 9). */
  holds(bit: number): boolean {
    return this.pressure.holds(bit);
  }

  /**
   * A holder of epoch bit `bit`'s messages (an actor aligning a barrier, a
   * reconfiguration's hold) went past its mark (+1) or is done (-1), rule 9.
   */
  holding(bit: number, delta: 1 | -1): void {
    this.pressure.holding(bit, delta);
  }

  /**
   * Registers a producer that muted itself; it is unmuted when pressure is
   * gone (rule 4), for `'actors'` when no actor is overloaded (rule 7), for
   * `'backlog'` when pressure is gone and this thread's backlog read (rule 8),
   * for `'own'` when its own `mayResume` says so (rule 9).
   */
  muteUntilRelieved(producer: Producer, reason: MuteReason = 'any'): void {
    this.mutes.mute(producer, reason);
  }

  /**
   * True while more than `backlogBytes` of batches from other threads wait
   * unread in this thread's rings (rule 8).
   */
  backlogged(): boolean {
    let bytes = 0;
    for (const r of this.readers) if (r !== null) bytes += r.pendingBytes();
    return bytes > this.backlogBytes;
  }

  /** True if producers of this thread are muted and may resume now. */
  canUnmute(): boolean {
    return this.mutes.canUnmute();
  }

  /** Unmutes this thread's producers that may resume now. */
  checkUnmute(): void {
    this.mutes.unmute();
  }

  /** Messages waiting in this thread's mailboxes, and the deepest mailbox (name and size). */
  mailboxDepths(): { queued: number; deepest: number; deepestActor: string } {
    let queued = 0;
    let deepest = 0;
    let deepestActor = '';
    for (const cell of this.cells) {
      if (cell === undefined) continue;
      const n = cell.mailbox.size;
      queued += n;
      if (n > deepest) {
        deepest = n;
        deepestActor = cell.name;
      }
    }
    return { queued, deepest, deepestActor };
  }

  /** True if actors are waiting to run. */
  hasRunnable(): boolean {
    return this.runQueue.length > 0;
  }

  /** True if a channel into this thread has a batch waiting. */
  hasInbound(): boolean {
    for (const r of this.readers) if (r !== null && !r.isEmpty()) return true;
    return false;
  }

  /** True if batches wait in overflow for a full ring. */
  hasOverflow(): boolean {
    return this.outbound.hasOverflow();
  }

  /** True if messages wait in an outbound batch not yet flushed. */
  hasPendingOutbound(): boolean {
    return this.outbound.hasPending();
  }

  /** Application messages waiting in this thread's mailboxes. */
  get queuedMessages(): number {
    return this.queued.app;
  }

  /**
   * Reads waiting inbound batches, one batch per channel in turn, until
   * `budget` application messages were delivered or queued by this call (a
   * message for an idle actor is delivered at once, others are queued in
   * mailboxes: see `deliverNow`) or no batch waits; returns batches read.
   * What is not read stays in the rings as bytes: a thread that falls behind
   * keeps its backlog compact and out of the garbage collector's way, and a
   * full ring pushes back on its writer (rule 2).
   */
  drainInbound(budget = Infinity): number {
    let n = 0;
    const work0 = this.stats.delivered + this.queued.app;
    for (;;) {
      let read = 0;
      for (const r of this.readers) {
        if (r === null || this.stats.delivered + this.queued.app - work0 >= budget) continue;
        read += r.read(this.visitEntry, 1);
      }
      if (read === 0) return n;
      n += read;
    }
  }

  /**
   * Runs actor turns until the run queue is empty, `maxTurns` turns have
   * run, or `deadline` (performance.now() ms) has passed. Returns true if
   * actors are still waiting.
   */
  runTurns(deadline = Infinity, maxTurns = Infinity): boolean {
    const rq = this.runQueue;
    let turns = 0;
    while (rq.length > 0) {
      const cell =
        this.random === undefined ? rq.shift() : rq.take(Math.floor(this.random() * rq.length));
      cell.scheduled = false;
      cell.running = true;
      this.inTurn = true;
      try {
        // Not `delivered += deliver(...)`: the read would come before the
        // turn's direct deliveries add to it.
        const n = cell.mailbox.deliver(cell.behaviour, cell.batch);
        this.stats.delivered += n;
      } catch (err) {
        this.stats.actorErrors++;
        this.onActorError(err, cell.name);
      } finally {
        cell.running = false;
        this.inTurn = false;
      }
      if (cell.overloaded && cell.mailbox.appSize <= cell.low) this.relieve(cell);
      if (cell.mailbox.size > 0 && !cell.behaviour.paused && !cell.scheduled) {
        cell.scheduled = true;
        rq.push(cell);
      }
      turns++;
      if (turns >= maxTurns) break;
      if ((turns & 31) === 0 && performance.now() >= deadline) break;
    }
    this.stats.turns += turns;
    return rq.length > 0;
  }

  /**
   * Registers `hook` to run at the start of every `flushOutbound`, i.e. at
   * the end of each run-loop slice: a thread-local buffer (a sink's encoded
   * bytes) ships then, so it batches while the thread is busy and leaves
   * within one slice.
   */
  onFlush(hook: () => void): void {
    this.flushHooks.push(hook);
  }

  /** Runs the flush hooks, sends every non-empty outbound batch, and retries overflow. */
  flushOutbound(): void {
    // Hooks send as actors do (a sink's bytes go to an idle writer at once).
    const inTurn = this.inTurn;
    this.inTurn = true;
    try {
      for (let i = 0; i < this.flushHooks.length; i++) (this.flushHooks[i] as () => void)();
    } finally {
      this.inTurn = inTurn;
    }
    const out0 = this.stats.batchesOut;
    this.outbound.flushAll();
    if (trace.on && this.stats.batchesOut > out0)
      trace.event(TraceKind.FLUSH, this.stats.batchesOut - out0);
  }

  /** Rings thread `t`'s doorbell, waking it if parked. */
  wake(t: number): void {
    const bell = threadSlot(t, ThreadSlot.BELL);
    Atomics.add(this.ctrl, bell, 1);
    if (Atomics.load(this.ctrl, threadSlot(t, ThreadSlot.SLEEPING)) !== 0) {
      if (trace.on) trace.event(TraceKind.NOTIFY, t);
      Atomics.notify(this.ctrl, bell);
    }
  }

  /**
   * Delivers an application message sent during a turn to an idle actor of
   * this thread at once, inside the sender's turn: its mailbox is empty and
   * it is not running, so nothing it was sent before is still waiting (FIFO
   * per sender holds) and it handles one message at a time. What the
   * mailbox would have cost (a push, a run-queue entry, a turn, and the
   * message's objects kept alive until then) is saved; an actor that is busy,
   * paused, or has messages waiting gets the message in its mailbox as
   * usual. Runtime messages always queue.
   */
  private deliverNow(cell: Cell, tag: number, a: unknown, b: unknown): void {
    const inTurn = this.inTurn;
    cell.running = true;
    this.inTurn = true;
    try {
      cell.behaviour.receive(tag, a, b);
    } catch (err) {
      this.stats.actorErrors++;
      this.onActorError(err, cell.name);
    } finally {
      cell.running = false;
      this.inTurn = inTurn;
    }
    this.stats.delivered++;
    this.stats.direct++;
  }

  private enqueue(cell: Cell, tag: number, a: unknown, b: unknown): void {
    const mb = cell.mailbox;
    if (mb.push(tag, a, b) && !cell.scheduled && !cell.behaviour.paused) this.schedule(cell);
    if (mb.appSize > cell.high && !cell.overloaded) this.noteOverload(cell);
  }

  private schedule(cell: Cell): void {
    if (cell.scheduled) return;
    cell.scheduled = true;
    this.runQueue.push(cell);
  }

  private noteOverload(cell: Cell): void {
    cell.overloaded = true;
    this.pressure.overloaded();
  }

  private relieve(cell: Cell): void {
    cell.overloaded = false;
    this.pressure.unloaded();
  }
}
