/**
 * The source side of replayable TCP input (docs/resilience.md, sources that replay):
 * per connection, protocols/source-ack-parser.ts's parser; per sender stream, the
 * position consumed into the pipeline and the position committed checkpoints
 * cover. A TCP source actor feeds it every chunk and close, and tells it
 * about restores and commits; it answers senders (`resume`, `ack`) through
 * `write` and closes connections through `drop`. No sockets or timers here.
 *
 * The rules, per stream:
 *
 * 1. `position` is the index of the next frame to go into the pipeline: what
 *    a barrier records ({@link AckedStreams.positions}). `committed` is the
 *    position the last committed checkpoint recorded (or restored).
 * 2. A hello is answered with `resume` at `committed` when acks are on: the
 *    sender may forget frames before it only once a checkpoint covers them.
 *    Frames from `committed` to `position` come again and are skipped, never
 *    delivered twice. With acks off nothing is ever covered and the sender
 *    keeps nothing, so the answer is `position` (continue where it stopped).
 * 3. One connection per stream: a hello for a stream that has one takes the
 *    stream over, and the older connection is dropped; chunks of it still in
 *    flight are ignored, so its frames cannot interleave with the new ones.
 * 4. `restore` rewinds every stream to a checkpoint's positions and drops
 *    every acknowledging connection: their frame numbering no longer matches,
 *    and their senders reconnect and get a `resume` at the restored position.
 * 5. `committed` raises `committed` (never lowers it) and sends an `ack` to the
 *    stream's connection when it moved.
 * 6. Bounded: at most `maxStreams` streams are remembered. A hello for a new
 *    stream at the bound forgets the stream idle the longest that has no
 *    connection and nothing uncovered (with acks off: any idle stream); if
 *    none can go, the new connection is refused with ROO_ERR_QUEUE_FULL.
 *    Connections are bounded by the sockets the listener holds.
 *
 * Plain connections (no magic) go straight to `onData`; they have no stream,
 * no position and no replay.
 */
import {
  AckedConnectionParser,
  encodeSourceAckFrame,
  ErrorCode,
  encodeSourceClose,
  RooError,
  SOURCE_ACK_PROTOCOL_VERSION,
  type SourceHello,
} from '../../protocols/index.js';

/** Default bound on the streams remembered ({@link AckedStreamsOptions.maxStreams}). */
export const DEFAULT_MAX_STREAMS = 4096;

/** What an {@link AckedStreams} needs from its source. */
export interface AckedStreamsOptions {
  /** Largest data frame accepted (default 16 MiB, as FrameDecoder). */
  readonly maxFrameBytes?: number;
  /**
   * Whether committed checkpoints will acknowledge positions (the worker runs
   * with resilience). Told to every sender in `resume.acks`: with false, a
   * sender keeps nothing for replay and finishes once all is written.
   */
  readonly acks: boolean;
  /** Most streams remembered at once (default {@link DEFAULT_MAX_STREAMS}). */
  readonly maxStreams?: number;
  /** Writes bytes back to a connection's sender (resume and ack frames). */
  write(connection: number, bytes: Uint8Array): void;
  /** Closes a connection (a broken one, or one another connection took over). */
  drop(connection: number): void;
  /** A data frame for the pipeline: a view valid only during the call. */
  onData(payload: Buffer): void;
  /** A connection's error (a broken frame, a bad hello, a stream refused); it is dropped. */
  report(err: unknown, connection: number): void;
}

/** A stream position: a non-negative safe integer. */
function isPosition(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** One sender stream. */
interface Stream {
  readonly id: string;
  /** Next frame index into the pipeline. */
  position: number;
  /** Position the last committed (or restored) checkpoint recorded. */
  committed: number;
  /** The connection currently sending this stream. */
  connection: number | undefined;
}

/** One connection. */
interface Connection {
  readonly parser: AckedConnectionParser;
  /** The stream, once the hello is in; undefined for a plain connection. */
  stream: Stream | undefined;
  /** Stream index of this connection's next data frame. */
  next: number;
  /** Dropped by us: whatever still arrives from it is ignored. */
  dropped: boolean;
}

/** Per-connection parsing and per-stream positions of an acknowledging TCP source. */
export class AckedStreams {
  private readonly connections = new Map<number, Connection>();
  /** Streams by id, in order of last activity (a stream going idle moves to the end). */
  private readonly streams = new Map<string, Stream>();
  private readonly maxFrameBytes: number | undefined;
  private readonly maxStreams: number;
  private skippedFrames = 0;

  /** Throws ROO_ERR_BAD_FLAG for a frame limit the parser refuses (see AckedConnectionParser). */
  constructor(private readonly options: AckedStreamsOptions) {
    // Checked now, not at the first connection: a bad limit is the application's error.
    new AckedConnectionParser(options.maxFrameBytes);
    this.maxFrameBytes = options.maxFrameBytes;
    const max = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    if (!(Number.isSafeInteger(max) && max >= 1)) {
      throw new RooError(ErrorCode.BadFlag, `maximum streams must be at least 1, got ${max}`);
    }
    this.maxStreams = max;
  }

  /** Frames skipped because their stream had already consumed them (resend overlaps). */
  get skipped(): number {
    return this.skippedFrames;
  }

  /** Open connections (dropped ones not yet closed included). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** The stream a connection sends, once its hello is in. */
  streamOf(connection: number): string | undefined {
    return this.connections.get(connection)?.stream?.id;
  }

  /**
   * Parses a chunk of `connection`: answers a hello, delivers new data frames
   * to `onData` and skips frames already consumed. A broken connection is
   * reported and dropped; chunks of a dropped connection are ignored.
   */
  push(connection: number, chunk: Buffer): void {
    let conn = this.connections.get(connection);
    if (conn === undefined) {
      conn = {
        parser: new AckedConnectionParser(this.maxFrameBytes),
        stream: undefined,
        next: 0,
        dropped: false,
      };
      this.connections.set(connection, conn);
    }
    if (conn.dropped) return;
    const c = conn;
    try {
      c.parser.push(
        chunk,
        (payload) => this.data(c, payload),
        (hello) => this.hello(connection, c, hello),
      );
    } catch (err) {
      this.fail(connection, c, err);
    }
  }

  /** The connection closed. A close inside a frame is reported (the partial frame is lost). */
  closed(connection: number): void {
    const conn = this.connections.get(connection);
    if (conn === undefined) return;
    this.connections.delete(connection);
    if (!conn.dropped) {
      try {
        conn.parser.end();
      } catch (err) {
        this.options.report(err, connection);
      }
    }
    this.detach(connection, conn);
  }

  /** Stream id → index of the next frame consumed into the pipeline: what a barrier records. */
  positions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.streams.values()) out[s.id] = s.position;
    return out;
  }

  /**
   * After a recovery: every stream's position is the restored checkpoint's
   * (streams it does not name start again at 0), and every acknowledging
   * connection is dropped so that its sender reconnects and resumes there.
   * Throws ROO_ERR_BAD_MESSAGE (changing nothing) for a position that is not
   * a count.
   */
  restore(positions: Readonly<Record<string, number>>): void {
    const entries = Object.entries(positions);
    for (const [id, p] of entries) {
      if (!isPosition(p)) {
        throw new RooError(
          ErrorCode.BadMessage,
          `restored position of stream ${JSON.stringify(id)} must be a non-negative safe integer, got ${String(p)}`,
        );
      }
    }
    for (const [id, conn] of this.connections) {
      if (conn.stream !== undefined && !conn.dropped) this.dropConnection(id, conn);
    }
    this.streams.clear();
    for (const [id, p] of entries) {
      this.streams.set(id, { id, position: p, committed: p, connection: undefined });
    }
  }

  /**
   * A checkpoint that recorded `positions` committed: each named stream's
   * frames before its position are covered, and its connected sender is told
   * so with an `ack`. Streams no longer known are skipped; a position beyond
   * what the stream consumed (a checkpoint from before a restore) is ignored.
   */
  committed(positions: Readonly<Record<string, number>>): void {
    for (const [id, p] of Object.entries(positions)) {
      const s = this.streams.get(id);
      if (s === undefined || !isPosition(p) || p <= s.committed || p > s.position) continue;
      s.committed = p;
      if (s.connection !== undefined) {
        this.options.write(
          s.connection,
          encodeSourceAckFrame({ type: 'ack', version: SOURCE_ACK_PROTOCOL_VERSION, position: p }),
        );
      }
    }
  }

  /**
   * The source stops for good (an error a restart would meet again): every
   * acknowledging connection is told, with `code` and `reason`, that nothing
   * more will be acknowledged. The caller then closes the connections,
   * letting what was written go out first.
   */
  closeForGood(code: string, reason: string): void {
    const close = encodeSourceClose(code, reason);
    for (const [id, conn] of this.connections) {
      if (conn.stream !== undefined && !conn.dropped) this.options.write(id, close);
    }
  }

  private hello(connection: number, conn: Connection, hello: SourceHello): void {
    if (conn.dropped) return;
    const stream = this.streams.get(hello.stream) ?? this.newStream(hello.stream);
    const previous = stream.connection;
    if (previous !== undefined && previous !== connection) {
      const old = this.connections.get(previous);
      if (old !== undefined) this.dropConnection(previous, old);
    }
    stream.connection = connection;
    conn.stream = stream;
    const resume = this.options.acks ? stream.committed : stream.position;
    conn.next = resume;
    this.options.write(
      connection,
      encodeSourceAckFrame({
        type: 'resume',
        version: SOURCE_ACK_PROTOCOL_VERSION,
        position: resume,
        acks: this.options.acks,
      }),
    );
  }

  private data(conn: Connection, payload: Buffer): void {
    // Dropped during this very chunk (a restore or takeover from a callback):
    // the rest of the chunk is as dead as the connection.
    if (conn.dropped) return;
    const s = conn.stream;
    if (s === undefined) {
      this.options.onData(payload);
      return;
    }
    const index = conn.next++;
    if (index < s.position) {
      this.skippedFrames++;
      return;
    }
    if (index > s.position) {
      // Unreachable while rules 3 and 4 hold: a connection's numbering starts
      // at or below its stream's position and only it advances the stream.
      throw new RooError(
        ErrorCode.Internal,
        `stream ${JSON.stringify(s.id)} got frame ${index} while at position ${s.position}`,
      );
    }
    // Counted before delivery: a frame whose processing threw is not retried forever.
    s.position++;
    this.options.onData(payload);
  }

  /** A new stream, making room at the bound (rule 6). */
  private newStream(id: string): Stream {
    if (this.streams.size >= this.maxStreams) {
      let victim: string | undefined;
      for (const s of this.streams.values()) {
        if (s.connection === undefined && (!this.options.acks || s.committed >= s.position)) {
          victim = s.id;
          break;
        }
      }
      if (victim === undefined) {
        throw new RooError(
          ErrorCode.QueueFull,
          `cannot take stream ${JSON.stringify(id)}: ${this.maxStreams} streams are connected or hold frames no checkpoint covers yet`,
          { streams: this.streams.size, max: this.maxStreams },
        );
      }
      this.streams.delete(victim);
    }
    const stream: Stream = { id, position: 0, committed: 0, connection: undefined };
    this.streams.set(id, stream);
    return stream;
  }

  private fail(connection: number, conn: Connection, err: unknown): void {
    this.options.report(err, connection);
    this.dropConnection(connection, conn);
  }

  /** Drops a connection we no longer read: it stays known (ignored) until it closes. */
  private dropConnection(connection: number, conn: Connection): void {
    conn.dropped = true;
    this.detach(connection, conn);
    this.options.drop(connection);
  }

  /** Unlinks a connection from its stream; the stream becomes the most recently idle. */
  private detach(connection: number, conn: Connection): void {
    const s = conn.stream;
    if (s === undefined || s.connection !== connection) return;
    s.connection = undefined;
    if (this.streams.get(s.id) === s) {
      this.streams.delete(s.id);
      this.streams.set(s.id, s);
    }
  }
}
