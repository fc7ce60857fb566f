/**
 * Latency markers (docs/metrics.md, "How the worker measures"): a runtime
 * message a source emits now and then, in band, behind the data it has just
 * emitted, that travels one path of its pipeline (the same mailboxes, rings
 * and data channels as data, queued behind it) to a sink, where its age is
 * the pipeline's start-to-end latency. It carries two times, both in
 * {@link markerClock} milliseconds:
 *  - `a`, its origin: when the source read the input it follows;
 *  - `b`, its ingress into the worker it is on: the origin on the source's
 *    worker, and the time the data listener read it on any worker it
 *    crosses to, so that each worker measures its own ingress to egress.
 * Both are plain float64s, which the batch codec writes inline: a marker
 * costs no object and no msgpackr call on any hop.
 *
 * Its tag names the stage it goes to: `MARKER_TAG_BASE - stage`. Being a
 * runtime message (tag < 0) it is never muted and never counts against an
 * actor's batch, and it always queues behind what its actor was sent first.
 *
 * Here, below the engine, because the data listener (data-channel.ts) stamps
 * the ingress time of markers it reads from another worker.
 */

/** Tags at or below this are latency markers; `MARKER_TAG_BASE - tag` is the stage they go to. */
export const MARKER_TAG_BASE = -1024;

/** The tag of a marker bound for stage `stage`. */
export function markerTag(stage: number): number {
  return MARKER_TAG_BASE - stage;
}

/** True if `tag` is a latency marker's. */
export function isMarkerTag(tag: number): boolean {
  return tag <= MARKER_TAG_BASE;
}

/** The stage a marker's tag names. */
export function markerStage(tag: number): number {
  return MARKER_TAG_BASE - tag;
}

/**
 * Milliseconds since the epoch with sub-microsecond resolution. Every thread
 * of a process computes the same value at the same instant to within some
 * microseconds (each thread's `performance.timeOrigin` is taken from the one
 * system clock); across machines it is as good as their clock sync.
 */
export function markerClock(): number {
  return performance.timeOrigin + performance.now();
}
