/**
 * Rate-limited log lines for the metrics receiver: a stranger, a port
 * scanner or a broken reporter must not flood the receiver's log. At most
 * `lines` lines per `windowMs`; the lines beyond are counted, and the first
 * line of the next window says how many were not written. Pure apart from
 * the `write` it is given; the caller passes the time.
 */

/** Limits the lines written through it. */
export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly lines = 20,
    private readonly windowMs = 10_000,
  ) {}

  /** Lines kept quiet since the last one written. */
  get quiet(): number {
    return this.suppressed;
  }

  /** Writes `line` at time `now` (ms) unless this window's lines are used up; returns whether it did. */
  log(line: string, now: number): boolean {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.written = 0;
      if (this.suppressed > 0) {
        this.write(`(${this.suppressed} more lines like the ones above were not logged)`);
        this.suppressed = 0;
      }
    }
    if (this.written >= this.lines) {
      this.suppressed++;
      return false;
    }
    this.written++;
    this.write(line);
    return true;
  }
}
