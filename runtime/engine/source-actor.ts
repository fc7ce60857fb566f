/**
 * A source actor: a source and the stateless steps coalesced after it, on
 * the scheduler thread that owns the source's socket or file. Bytes arrive as
 * messages (chunks); the actor frames or splits them, decodes each message,
 * and runs the chain, whose route sends each output straight to the thread
 * that owns it. Before taking more input it checks the process's pressure
 * and, if any actor or channel is overloaded, mutes: it stops reading its
 * sockets until the pressure is gone (backpressure rule 3).
 */
import {
  trace,
  TraceKind,
  type ActorRef,
  type Behaviour,
  type Scheduler,
  type ThreadLoop,
} from '../../actors/index.js';
import { ErrorCode, formatAddress } from '../../protocols/index.js';
import { AckedStreams } from '../connectors/acked-streams.js';
import type { GeneratorSourceConfig } from '../api/connectors.js';
import type { Logger } from '../logging/logger.js';
import type { SourceStage } from '../topology/plan.js';
import type { Emit } from './emitters.js';
import { SourceMarkers } from './source-markers.js';
import { timedCall, type LatencyMeter } from './step-meter.js';
import type { ThreadRecorder } from './thread-metrics.js';
import { cursor, RT_COMMIT } from './epochs.js';
import type { ErrorReporter } from '../logging/error-reporter.js';
import type { BarrierFanout } from './stage-actors.js';
import type { CheckpointCollector } from './thread-checkpoint.js';
import type { OpenSourceInput, SourceInput } from './source-input.js';
import { RT_CONTINUE, RT_START, TAG_CHUNK, TAG_CLOSED } from './tags.js';

/** Values a generator makes per turn. */
const GENERATE_PER_TURN = 100;
/**
 * Chunks read from sockets or the file but not yet taken by the actor. Past
 * the high mark reading stops until the actor is down to the low one: muting
 * (rule 3) acts only when the actor takes a chunk, and a sender bursting
 * after a stall could otherwise fill the mailbox before it does.
 */
const QUEUED_CHUNKS_HIGH = 64;
const QUEUED_CHUNKS_LOW = 16;

/** Counters of a source actor. */
export interface SourceCounters {
  /** Messages decoded and passed to the chain. */
  received: number;
  /** Bytes read. */
  bytes: number;
  /** Times the source muted under backpressure. */
  mutes: number;
  /** True once a finite source (file, generator) has delivered everything. */
  finished: boolean;
}

/** A source actor. */
export class SourceActor implements Behaviour {
  paused = false;
  readonly counters: SourceCounters = { received: 0, bytes: 0, mutes: 0, finished: false };
  /** Set when the process's directory is known. */
  emit: Emit = () => undefined;
  /** Set at wiring: sends a barrier to every actor this source routes to. */
  forward: BarrierFanout = () => undefined;
  /** When metrics are on: this source's latency markers (their `send` is set at wiring). */
  readonly markers: SourceMarkers | undefined;
  /** Where a file source starts reading (restored from a checkpoint). */
  private fileOffset = 0;
  /** The epoch bit stamped on what this source emits: barriers passed, mod 2. */
  private bit = 0;
  /** Set at spawn: this actor's own address. */
  self: ActorRef = -1;
  /** The bound address of a TCP source, once listening. */
  listening: string | undefined;

  /** A TCP or file source's socket or file, once started (source-input.ts). */
  private input: SourceInput | undefined;
  /** A TCP source's connections: plain senders, and acknowledging ones with replay positions. */
  private readonly streams: AckedStreams | undefined;
  /** Stream positions recorded by each checkpoint not yet committed. */
  private readonly recorded = new Map<number, Record<string, number>>();
  private carry: Buffer | undefined;
  private muted = false;
  /** Chunks handed to the mailbox and not yet taken; reading stops past QUEUED_CHUNKS_HIGH. */
  private queuedChunks = 0;
  private full = false;
  /** Set by stop(): no more input, also from a generator's pending 'continue'. */
  private stopped = false;
  private nextIndex: number;
  private readonly where: string;
  private readonly onFrame: (payload: Buffer) => void;
  /** Times decoding (and generating) when metrics are on. */
  private readonly meter: LatencyMeter | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly loop: ThreadLoop,
    readonly stage: SourceStage,
    /** This instance's index and the instance count (parallel generators). */
    private readonly instance: { index: number; of: number },
    private readonly errors: ErrorReporter,
    private readonly log: Logger,
    private readonly checkpoints: CheckpointCollector,
    /** Opens a TCP or file source's input (production: source-input.ts `openSourceInput`). */
    private readonly openInput: OpenSourceInput,
    /** Resilience on: committed checkpoints acknowledge positions to acking senders. */
    resilient = false,
    /** This thread's metrics recorder (undefined: metrics off). */
    recorder?: ThreadRecorder,
  ) {
    this.nextIndex = instance.index;
    this.where = `source '${stage.source.name}'`;
    const source = stage.source;
    const decode = source.kind === 'tcp-source' ? source.decoder : undefined;
    const meter = recorder?.step(recorder.table.stageSteps[stage.id]?.[0]);
    this.meter = meter;
    this.markers = recorder === undefined ? undefined : new SourceMarkers();
    this.onFrame = (payload) => {
      let value: unknown;
      try {
        const d = decode as (p: Buffer) => unknown;
        value =
          meter === undefined || (this.counters.received & meter.mask) !== 0
            ? d(payload)
            : timedCall(meter, d, payload, undefined, undefined);
      } catch (err) {
        this.errors.report(err, ErrorCode.DecoderFailed, this.where, { input: payload });
        return;
      }
      this.counters.received++;
      this.emit(value);
    };
    if (source.kind === 'tcp-source') {
      this.streams = new AckedStreams({
        ...(source.maxFrameBytes === undefined ? {} : { maxFrameBytes: source.maxFrameBytes }),
        acks: resilient,
        write: (connection, bytes) => this.input?.write(connection, bytes),
        drop: (connection) => this.input?.drop(connection),
        onData: this.onFrame,
        // A broken frame or bad hello: the stream cannot be resynchronised; only that connection closes.
        report: (err, connection) =>
          this.errors.report(err, ErrorCode.BadMessage, `${this.where} connection #${connection}`),
      });
    }
  }

  /** True while backpressure keeps this source from taking input (muted, or its mailbox full of chunks). */
  get muting(): boolean {
    return this.muted || this.full;
  }

  /** Opens the source (socket, file) or starts generating. Resolves once listening. */
  async start(): Promise<void> {
    const source = this.stage.source;
    const events = {
      chunk: (connection: number, bytes: Buffer) => {
        if (trace.on) trace.event(TraceKind.SOURCE_READ, bytes.length, connection);
        this.markers?.chunkRead();
        this.scheduler.send(this.self, TAG_CHUNK, connection, bytes);
        if (++this.queuedChunks > QUEUED_CHUNKS_HIGH && !this.full) {
          this.full = true;
          this.input?.pause();
        }
        this.loop.kick();
      },
      closed: (connection: number) => {
        this.scheduler.send(this.self, TAG_CLOSED, connection, undefined);
        this.loop.kick();
      },
    };
    if (source.kind === 'generator-source') {
      this.scheduler.send(this.self, RT_START, undefined, undefined);
      this.loop.kick();
      return;
    }
    this.input = this.openInput(
      source,
      events,
      (err) => {
        this.errors.report(err, ErrorCode.Internal, this.where);
        this.counters.finished = true;
      },
      this.log,
    );
    const bound = await this.input.open(this.fileOffset);
    if (bound !== undefined) this.listening = formatAddress(bound);
  }

  /**
   * Holds input for a reconfiguration (called between turns, right after
   * `barrier`): the actor takes no turn and the socket or file stops being
   * read, so nothing enters the pipeline until `resumeInput`. Input already
   * queued waits in the mailbox, in order.
   */
  holdInput(): void {
    this.paused = true;
    this.input?.pause();
  }

  /** Takes the epoch bit of the thread's other actors (see KeyGroupActor.setEpoch). */
  setEpoch(bit: number): void {
    this.bit = bit;
  }

  /** Ends `holdInput`: turns and reading resume. */
  resumeInput(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduler.resume(this.self);
    this.resumeReading();
  }

  /**
   * Closes the source's socket or file. With `fatal` (the worker stops for
   * an error a restart would meet again) acknowledging senders are first
   * told so, with its code and message, instead of waiting for acks that
   * will never come.
   */
  async stop(fatal?: { readonly code: string; readonly message: string }): Promise<void> {
    this.stopped = true;
    if (fatal !== undefined) this.streams?.closeForGood(fatal.code, fatal.message);
    await this.input?.close(fatal !== undefined);
  }

  /** The replay position: what has gone into the pipeline so far. */
  position(): unknown {
    switch (this.stage.source.kind) {
      case 'file-source':
        return this.fileOffset + this.counters.bytes - (this.carry?.length ?? 0);
      case 'generator-source':
        return this.nextIndex;
      case 'tcp-source':
        return this.streams?.positions() ?? {};
    }
  }

  /** Restores the replay position of a checkpoint (before `start`). */
  restore(position: unknown): void {
    if (this.stage.source.kind === 'file-source' && typeof position === 'number')
      this.fileOffset = position;
    else if (this.stage.source.kind === 'generator-source' && typeof position === 'number')
      this.nextIndex = position;
    else if (this.streams !== undefined && typeof position === 'object' && position !== null)
      this.streams.restore(position as Record<string, number>);
  }

  receive(tag: number, connection: unknown, bytes: unknown): void {
    cursor.bit = this.bit;
    if (tag === TAG_CHUNK) {
      if (--this.queuedChunks <= QUEUED_CHUNKS_LOW && this.full) {
        this.full = false;
        this.resumeReading();
      }
      const chunk = bytes as Buffer;
      if (trace.on) trace.event(TraceKind.SOURCE_TAKE, chunk.length);
      this.counters.bytes += chunk.length;
      if (this.stage.source.kind === 'tcp-source') this.frames(connection as number, chunk);
      else this.lines(chunk);
      this.markers?.chunkTaken();
      this.checkPressure();
    } else if (tag === TAG_CLOSED) {
      if (this.streams !== undefined) {
        this.streams.closed(connection as number);
      } else {
        if (this.carry !== undefined && this.carry.length > 0)
          this.line(this.carry.toString('utf8'));
        this.carry = undefined;
        this.counters.finished = true;
        this.log.info(
          `${this.where} reached the end of its file (${this.counters.received} messages)`,
        );
      }
    }
  }

  /**
   * Injects barrier `id`: records the replay position and sends the barrier
   * on every output. Called between turns, not through the mailbox, so the
   * barrier does not wait behind input already queued here (that input is
   * after it: the position counts only what has been consumed).
   */
  barrier(id: number): void {
    const position = this.position();
    if (this.streams !== undefined) this.recorded.set(id, position as Record<string, number>);
    this.checkpoints.add(id, {
      kind: 'source',
      part: { stage: this.stage.id, instance: this.instance.index, position },
    });
    this.forward(id, this.bit);
    this.bit ^= 1;
  }

  receiveRuntime(tag: number, a: unknown): void {
    if (tag === RT_COMMIT) {
      // Tell acking senders what the committed checkpoint covers: they may forget it.
      const id = a as number;
      const positions = this.recorded.get(id);
      if (positions !== undefined) this.streams?.committed(positions);
      for (const k of this.recorded.keys()) if (k <= id) this.recorded.delete(k);
      return;
    }
    if (this.stopped) return;
    cursor.bit = this.bit;
    if (
      (tag === RT_START || tag === RT_CONTINUE) &&
      this.stage.source.kind === 'generator-source'
    ) {
      this.generate(this.stage.source);
    }
  }

  private frames(connection: number, chunk: Buffer): void {
    this.streams?.push(connection, chunk);
  }

  private lines(chunk: Buffer): void {
    const buf = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    const last = buf.lastIndexOf(10);
    if (last < 0) {
      this.carry = buf;
      return;
    }
    this.carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : undefined;
    // Decode the whole block once, then slice lines out of the string.
    const text = buf.toString('utf8', 0, last);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        this.line(text.slice(start));
        break;
      }
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
  }

  private line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const source = this.stage.source;
    if (source.kind !== 'file-source') return;
    let value: unknown;
    const meter = this.meter;
    try {
      // Called as a plain function, timed or not (as computations are).
      const decoder = source.decoder;
      value =
        meter === undefined || (this.counters.received & meter.mask) !== 0
          ? decoder(line)
          : timedCall(meter, decoder, line, undefined, undefined);
    } catch (err) {
      this.errors.report(err, ErrorCode.DecoderFailed, this.where, { input: line });
      return;
    }
    this.counters.received++;
    this.emit(value);
  }

  private generate(source: GeneratorSourceConfig<unknown>): void {
    const step = this.instance.of;
    let made = 0;
    const meter = this.meter;
    // Called as a plain function, timed or not (as computations are).
    const generate = source.generate;
    const origin = this.markers?.turnStarted() ?? -1;
    while (made < GENERATE_PER_TURN && this.nextIndex < source.count) {
      let value: unknown;
      try {
        value =
          meter === undefined || (this.counters.received & meter.mask) !== 0
            ? generate(this.nextIndex)
            : timedCall(meter, generate, this.nextIndex, undefined, undefined);
      } catch (err) {
        this.errors.report(err, ErrorCode.DecoderFailed, this.where);
        this.nextIndex += step;
        continue;
      }
      if (value === undefined) {
        this.nextIndex = Infinity;
        break;
      }
      this.nextIndex += step;
      this.counters.received++;
      made++;
      this.emit(value);
    }
    if (origin >= 0) this.markers?.send(origin, origin);
    if (this.nextIndex >= source.count) {
      this.counters.finished = true;
      return;
    }
    const mute = this.muteReason();
    if (mute !== undefined) {
      this.counters.mutes++;
      this.muted = true;
      this.scheduler.muteUntilRelieved(
        {
          unmute: () => {
            this.muted = false;
            this.scheduler.send(this.self, RT_CONTINUE, undefined, undefined);
          },
        },
        mute,
      );
    } else {
      this.scheduler.send(this.self, RT_CONTINUE, undefined, undefined);
    }
  }

  /** Why to stop taking input now: process pressure (rule 3), this thread's backlog (rule 8), or not. */
  private muteReason(): 'any' | 'backlog' | undefined {
    if (this.scheduler.pressured()) return 'any';
    if (this.scheduler.backlogged()) return 'backlog';
    return undefined;
  }

  private checkPressure(): void {
    if (this.muted) return;
    const mute = this.muteReason();
    if (mute === undefined) return;
    this.muted = true;
    this.counters.mutes++;
    this.input?.pause();
    this.scheduler.muteUntilRelieved(
      {
        unmute: () => {
          this.muted = false;
          this.resumeReading();
        },
      },
      mute,
    );
  }

  /** Reads again, unless muted or the mailbox still holds too many chunks. */
  private resumeReading(): void {
    if (this.muted || this.full || this.paused) return;
    this.input?.resume();
  }
}
