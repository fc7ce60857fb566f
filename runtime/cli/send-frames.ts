/**
 * The bytes `roo send` puts on the wire: the file read pass after pass, and
 * its messages encoded as length-prefixed frames straight into 64 KB buffers,
 * so that a batch goes out in as few socket writes as those buffers allow (a
 * write per message costs about a third of the throughput, as measured on the
 * target machine); and, for an acknowledging send, the frames kept until the
 * source acknowledges them. Writing the buffers is send-writer.ts's and
 * send-acked.ts's part.
 */
import { readFile, open } from 'node:fs/promises';
import {
  ErrorCode,
  FRAME_HEADER_BYTES,
  RooError,
  writeFrameHeader,
} from '../../protocols/index.js';

/** Size of the buffers frames are encoded into (one socket write each, at most). */
export const WRITE_BUFFER_BYTES = 64 * 1024;
/** Byte that ends a line. */
export const NEWLINE = 0x0a;
/** Byte dropped before a line's NEWLINE (`\r\n` line endings). */
export const CARRIAGE_RETURN = 0x0d;

/** Files up to this size are read once and kept for `--repeat` passes. */
const CACHED_FILE_BYTES = 16 * 1024 * 1024;
/** Read size for larger files, streamed pass after pass. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Up to this many payload bytes are copied by a loop rather than Buffer#copy. */
const SMALL_COPY_BYTES = 128;

/** The file's bytes, pass after pass. Small files are read once and kept. */
export class FileChunks {
  private cached: Buffer | undefined;

  constructor(
    private readonly path: string,
    private readonly size: number,
  ) {}

  /** One pass over the file, chunk by chunk. */
  async *pass(): AsyncGenerator<Buffer> {
    if (this.size <= CACHED_FILE_BYTES) {
      this.cached ??= await readFile(this.path);
      yield this.cached;
      return;
    }
    const handle = await open(this.path, 'r');
    try {
      for (;;) {
        // A fresh buffer per read: frames may still reference the previous one.
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) return;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}

/**
 * Encodes frames into 64 KB buffers. A buffer's taken part is never reused
 * (the socket may still hold it), so a new buffer starts when the current one
 * has no room for the next frame.
 */
export class FrameEncoder {
  /** Frames encoded. */
  messages = 0;
  /** Bytes encoded, frame headers included. */
  bytes = 0;
  /** Bytes of message payload, without frame headers. */
  payloadBytes = 0;
  private buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  /** Start of the encoded frames not yet taken. */
  private start = 0;
  private pos = 0;
  /** Frames between `start` and `pos`. */
  private pending = 0;
  /** Filled buffers, waiting to be taken. */
  private readonly full: EncodedPart[] = [];

  /** True when filled buffers wait to be taken. */
  get hasFull(): boolean {
    return this.full.length > 0;
  }

  /** Encodes `source[from, to)` as one frame. */
  add(source: Buffer, from: number, to: number): void {
    const length = to - from;
    const need = FRAME_HEADER_BYTES + length;
    if (this.buffer.length - this.pos < need) {
      if (this.pos > this.start) {
        this.full.push({ bytes: this.buffer.subarray(this.start, this.pos), frames: this.pending });
      }
      this.buffer = Buffer.allocUnsafe(Math.max(WRITE_BUFFER_BYTES, need));
      this.start = 0;
      this.pos = 0;
      this.pending = 0;
    }
    writeFrameHeader(this.buffer, this.pos, length);
    const at = this.pos + FRAME_HEADER_BYTES;
    if (length <= SMALL_COPY_BYTES) {
      // Buffer#copy crosses into C++: for short lines a loop is several times faster.
      const target = this.buffer;
      for (let i = 0; i < length; i++) target[at + i] = source[from + i]!;
    } else {
      source.copy(this.buffer, at, from, to);
    }
    this.pos += need;
    this.pending++;
    this.messages++;
    this.bytes += need;
    this.payloadBytes += length;
  }

  /** Takes every frame encoded since the last take, as parts to write in order. */
  take(): EncodedPart[] {
    const parts = this.full.splice(0);
    if (this.pos > this.start) {
      parts.push({ bytes: this.buffer.subarray(this.start, this.pos), frames: this.pending });
      this.start = this.pos;
      this.pending = 0;
    }
    return parts;
  }
}

/**
 * The frames of an acknowledging send that the source has not acknowledged
 * yet, in order, as the parts they were written in: frame `base` up to (not
 * including) frame `end`. An ack forgets what it covers; a resume after a
 * reconnect asks for everything from a position on. Parts share the 64 KB
 * buffers they were encoded into, so `bytes` slightly under-counts the
 * memory held (by at most one buffer being filled).
 */
export class UnackedFrames {
  private parts: KeptPart[] = [];
  /** Index in `parts` of the first part kept (parts before it are gone). */
  private head = 0;
  private first = 0;
  private next = 0;
  private held = 0;

  /** Index of the first frame kept: every frame before it is acknowledged. */
  get base(): number {
    return this.first;
  }

  /** Index of the next frame appended. */
  get end(): number {
    return this.next;
  }

  /** Bytes of the frames kept, frame headers included. */
  get bytes(): number {
    return this.held;
  }

  /** Frames kept. */
  get frames(): number {
    return this.next - this.first;
  }

  /** Keeps a part of `frames` whole frames, the next ones of the stream. */
  append(part: EncodedPart): void {
    if (part.frames === 0) return;
    this.parts.push({ first: this.next, frames: part.frames, bytes: part.bytes });
    this.next += part.frames;
    this.held += part.bytes.length;
  }

  /** Forgets every frame before `position` (an ack); a position at or below `base` changes nothing. */
  ack(position: number): void {
    if (position > this.next) {
      throw new RooError(
        ErrorCode.Internal,
        `cannot acknowledge up to frame ${position}: only ${this.next} were sent`,
      );
    }
    if (position <= this.first) return;
    while (this.head < this.parts.length) {
      const part = this.parts[this.head]!;
      if (part.first + part.frames <= position) {
        this.held -= part.bytes.length;
        this.head++;
        continue;
      }
      if (part.first < position) {
        const cut = frameOffset(part.bytes, position - part.first);
        this.held -= cut;
        this.parts[this.head] = {
          first: position,
          frames: part.first + part.frames - position,
          bytes: part.bytes.subarray(cut),
        };
      }
      break;
    }
    this.first = position;
    if (this.head > 64 && this.head * 2 > this.parts.length) {
      // Compact now and then, so acked parts do not pile up in the array.
      this.parts = this.parts.slice(this.head);
      this.head = 0;
    }
  }

  /** The kept frames from `position` to `end`, as buffers to write in order (views, uncopied). */
  from(position: number): Buffer[] {
    if (position < this.first || position > this.next) {
      throw new RooError(
        ErrorCode.Internal,
        `frames from ${position} are not kept (frames ${this.first} to ${this.next - 1} are)`,
      );
    }
    const out: Buffer[] = [];
    for (let i = this.head; i < this.parts.length; i++) {
      const part = this.parts[i]!;
      if (part.first + part.frames <= position) continue;
      out.push(
        part.first < position
          ? part.bytes.subarray(frameOffset(part.bytes, position - part.first))
          : part.bytes,
      );
    }
    return out;
  }

  /**
   * Starts the stream at `position` instead of 0: the source already has the
   * frames before it (a restarted sender of a known stream). Only while
   * nothing has been appended.
   */
  startAt(position: number): void {
    if (this.next !== 0) {
      throw new RooError(ErrorCode.Internal, 'cannot move the start of a stream already sent');
    }
    this.first = position;
    this.next = position;
  }
}

/** A buffer of whole encoded frames. */
export interface EncodedPart {
  /** Frames, each a 4-byte big-endian length and its payload. */
  readonly bytes: Buffer;
  /** How many frames `bytes` holds. */
  readonly frames: number;
}

/** A kept part and the stream index of its first frame. */
interface KeptPart extends EncodedPart {
  readonly first: number;
}

/** Byte offset of frame number `n` (0-based) in a buffer of whole frames. */
function frameOffset(bytes: Buffer, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at += FRAME_HEADER_BYTES + bytes.readUInt32BE(at);
  return at;
}

/** The error for a line longer than the largest frame. */
export function lineTooLong(length: number, max: number): RooError {
  return new RooError(
    ErrorCode.FrameTooLarge,
    `a line of ${length} bytes exceeds the largest frame of ${max} bytes`,
    { length, max },
  );
}

/** Where a sender's encoded frames go: a plain socket, or an acknowledging connection. */
export interface FrameOutput {
  /**
   * Writes whole frames, in order. Resolves when the sender may encode more
   * (this is where backpressure waits); rejects with the output's error.
   */
  write(parts: readonly EncodedPart[]): Promise<void>;
  /**
   * Everything is written: close cleanly. An acknowledging output first waits
   * until the source has acknowledged every frame, unless `aborted`.
   */
  finish(aborted: boolean): Promise<void>;
  /** The error that stopped the output, if any. */
  readonly failure: Error | undefined;
  /** Closes the connection at once (a failed send). */
  destroy(): void;
  /** A few words for the progress line (`12 not yet acknowledged`), if any. */
  progress?(): string | undefined;
}
