/**
 * When a source emits its latency markers (latency-marker.ts): at most one
 * per MARKER_PERIOD_MS, and only while it takes input, so an idle worker's
 * threads are not woken for markers.
 *
 * A socket or file source marks a chunk as it is read (its origin is that
 * read's time, so the wait in the source's own mailbox counts) and emits
 * the marker right after the turn that took the chunk, behind everything
 * the chunk emitted. A generator marks the start of a turn and emits after
 * it. One clock read per chunk, or per 16 generator turns; none per message.
 */
import { markerClock } from '../connectors/latency-marker.js';
import type { MarkerSend } from './emitters.js';
import { MARKER_PERIOD_MS } from './thread-metrics.js';

/** Marked chunks a source keeps at most (a backlog of chunks longer than this many periods skips some). */
export const MAX_MARKED = 16;

/** The markers of one source actor. */
export class SourceMarkers {
  /** Set at wiring: passes a marker down one path of the pipeline (emitters.ts `compileMarker`). */
  send: MarkerSend = () => undefined;
  /** Chunks read and taken so far, in order. */
  private read = 0;
  private taken = 0;
  /** Marked chunks not yet taken, oldest first: (read sequence number, origin) pairs. */
  private marked: number[] = [];
  /** When the last marker was due. */
  private last = -Infinity;
  private turns = 0;

  constructor(
    private readonly periodMs = MARKER_PERIOD_MS,
    private readonly clock: () => number = markerClock,
  ) {}

  /** A chunk was read (socket or file callback): marks it if a marker is due. */
  chunkRead(): void {
    const seq = this.read++;
    if (this.marked.length >= MAX_MARKED * 2) return;
    const now = this.clock();
    if (now - this.last < this.periodMs) return;
    this.last = now;
    this.marked.push(seq, now);
  }

  /** The actor took the next chunk and emitted what it held: markers due after it go now. */
  chunkTaken(): void {
    const seq = this.taken++;
    const marked = this.marked;
    if (marked.length === 0 || (marked[0] as number) > seq) return;
    // `<=`: a marked chunk that never came (a closed connection's) lets the next one carry it.
    let i = 0;
    while (i < marked.length && (marked[i] as number) <= seq) {
      this.send(marked[i + 1] as number, marked[i + 1] as number);
      i += 2;
    }
    this.marked = marked.slice(i);
  }

  /** A generator turn starts: returns the marker's origin if one is due after it, else -1. */
  turnStarted(): number {
    if ((++this.turns & 15) !== 0) return -1;
    const now = this.clock();
    if (now - this.last < this.periodMs) return -1;
    this.last = now;
    return now;
  }
}
