/**
 * A thread runtime's outside world in memory (runtime/engine/thread-io.ts),
 * for tests that run a whole plan on the deterministic schedulers: a TCP
 * source's acknowledging sender of given lines, and a sink output that
 * keeps what it is written.
 */
import { StringDecoder } from 'node:string_decoder';
import {
  decodeSourceAckMessage,
  encodeFrame,
  encodeSourceAckOpening,
  FrameDecoder,
  MAX_SOURCE_ACK_MESSAGE_BYTES,
  type Address,
} from '../../../protocols/index.js';
import type { Output } from '../../../runtime/connectors/output.js';
import type { SourceEvents, SourceInput } from '../../../runtime/engine/source-input.js';
import type { ThreadIo } from '../../../runtime/engine/thread-io.js';

/**
 * One acknowledging sender (as `roo send` with a stream id) of `lines`, one
 * frame each, on connection 0 of a TCP source: it opens with the stream's
 * hello, sends from the frame the source's `resume` names (a restored
 * checkpoint's position), and records the source's acks. `pump` hands the
 * source the next chunk, cut at a random byte (frames split across chunks),
 * unless the source paused its input.
 */
export class MemorySender implements SourceInput {
  /** The frame the source told this sender to start from, once it answered the hello. */
  resumedAt: number | undefined;
  /** The position of the source's last ack (frames a committed checkpoint covers). */
  acked = 0;
  /** Bytes handed to the source so far. */
  delivered = 0;
  /** The index of the next line to frame. */
  private next = 0;
  /** Framed bytes not handed to the source yet. */
  private bytes: Buffer = Buffer.alloc(0);
  private opened = false;
  private paused = false;
  private readonly answers = new FrameDecoder(MAX_SOURCE_ACK_MESSAGE_BYTES);

  constructor(
    private readonly lines: readonly string[],
    private readonly events: SourceEvents,
    private readonly random: () => number,
    private readonly stream = 'lines',
  ) {}

  /** Lines framed so far (the next line's index): handed to the source, or about to be. */
  get framed(): number {
    return this.next;
  }

  /** True once every line went to the source. */
  get done(): boolean {
    return (
      this.resumedAt !== undefined && this.next >= this.lines.length && this.bytes.length === 0
    );
  }

  open(): Promise<Address> {
    this.opened = true;
    this.bytes = encodeSourceAckOpening(this.stream);
    return Promise.resolve({ host: 'memory', port: 0 });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  write(_connection: number, bytes: Uint8Array): void {
    this.answers.push(Buffer.from(bytes), (payload) => {
      const m = decodeSourceAckMessage(payload);
      if (m.type === 'resume') {
        this.resumedAt = m.position;
        this.next = m.position;
      } else if (m.type === 'ack') this.acked = m.position;
      else throw new Error(`the source sent '${m.type}'`);
    });
  }

  drop(connection: number): void {
    throw new Error(`the source dropped connection ${connection}`);
  }

  close(): Promise<void> {
    this.opened = false;
    return Promise.resolve();
  }

  /** Hands the source its next chunk (1 to `max` bytes); false if there is none now. */
  pump(max = 200): boolean {
    if (!this.opened || this.paused) return false;
    // Frames follow the hello only once the source said where to start.
    while (this.resumedAt !== undefined && this.bytes.length < max && this.next < this.lines.length)
      this.bytes = Buffer.concat([
        this.bytes,
        encodeFrame(Buffer.from(this.lines[this.next++] as string)),
      ]);
    if (this.bytes.length === 0) return false;
    const n = 1 + Math.floor(this.random() * Math.min(max, this.bytes.length));
    const chunk = Buffer.from(this.bytes.subarray(0, n));
    this.bytes = this.bytes.subarray(n);
    this.delivered += n;
    this.events.chunk(0, chunk);
    return true;
  }
}

/** A sink's output that keeps everything written to it, as text. */
export class MemoryOutput implements Output {
  onWritable: () => void = () => undefined;
  readonly writable = true;
  /** What was written so far. */
  text = '';
  private readonly decoder = new StringDecoder('utf8');

  write(bytes: Uint8Array): boolean {
    this.text += this.decoder.write(Buffer.from(bytes));
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The outside world of a one-worker runtime in memory: every TCP or file
 * source reads from what `input` makes, every sink but a null one writes to
 * `output`; there are no data channels (one worker) and no exactly-once
 * connections.
 */
export function memoryIo(input: (events: SourceEvents) => SourceInput, output: Output): ThreadIo {
  const none = (what: string) => (): never => {
    throw new Error(`no ${what} in memory`);
  };
  return {
    sourceInput: (_source, events) => input(events),
    sinkOutputs: { plain: () => output, transactional: none('exactly-once sink connection') },
    dataLinks: none('data links'),
    dataListener: none('data listener'),
  };
}
