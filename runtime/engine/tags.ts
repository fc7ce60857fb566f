/**
 * Message tags of the stream actors. Application tags (>= 0) carry data: for
 * parallel and key-group actors the tag is the destination stage id, for sink
 * encoders the sink id. Runtime tags (< 0) are the runtime's own messages:
 * they never count against an actor's batch and are never muted.
 */

/** A source actor: begin (open the socket or file, or start generating). */
export const RT_START = -1;
/** A source actor: make the next batch of generated values. */
export const RT_CONTINUE = -2;
/**
 * A sink writer: a latency marker reached it behind the outputs before it
 * (a = origin, b = ingress time; runtime/connectors/latency-marker.ts).
 * (-3 and -4 are the checkpoint's, epochs.ts.)
 */
export const RT_MARKER_END = -5;

/** A source actor: a chunk of bytes (a = connection id, b = Buffer). */
export const TAG_CHUNK = 0;
/** A source actor: a connection ended (a = connection id). */
export const TAG_CLOSED = 1;
/** A sink writer: encoded bytes (a = Uint8Array, b = number of outputs in it). */
export const TAG_BYTES = 0;
