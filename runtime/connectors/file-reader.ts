/**
 * The file side of a file source: reads the file in 64 KB chunks and hands
 * each to the source actor as a message; pausing stops reading.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import type { ListenerEvents } from './tcp-listener.js';

/** Reads one file as chunks. */
export class FileReader {
  private stream: ReadStream | undefined;

  constructor(
    private readonly path: string,
    private readonly events: ListenerEvents,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Starts reading, at byte `offset` (a replay position restored from a checkpoint). */
  start(offset = 0): void {
    const s = createReadStream(this.path, { highWaterMark: 64 * 1024, start: offset });
    this.stream = s;
    s.on('data', (bytes) => this.events.chunk(0, bytes as Buffer));
    s.on('end', () => this.events.closed(0));
    s.on('error', (err) => this.onError(err));
  }

  /** Stops reading. */
  pause(): void {
    this.stream?.pause();
  }

  /** Reads again. */
  resume(): void {
    this.stream?.resume();
  }

  /** Stops for good. */
  close(): Promise<void> {
    this.stream?.destroy();
    return Promise.resolve();
  }
}
