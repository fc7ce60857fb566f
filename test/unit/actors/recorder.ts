/** Test actors shared by the kernel's delivery and backpressure tests. */
import type { Behaviour } from '../../../actors/index.js';

/** What an actor saw, in order: `app:<a>` or `rt:<a>`, and whether it was already inside a message. */
export class Recorder implements Behaviour {
  paused = false;
  readonly seen: string[] = [];
  nested = false;
  private busy = false;
  /** Runs inside `receive`, after recording (sends of its own). */
  onReceive: (a: unknown) => void = () => undefined;
  receive(_tag: number, a: unknown): void {
    if (this.busy) this.nested = true;
    this.busy = true;
    this.seen.push(`app:${String(a)}`);
    try {
      this.onReceive(a);
    } finally {
      this.busy = false;
    }
  }
  receiveRuntime(_tag: number, a: unknown): void {
    this.seen.push(`rt:${String(a)}`);
    this.onReceive(a);
  }
}

/** An actor whose runtime message `-1` runs `act` inside a turn. */
export class Driver implements Behaviour {
  paused = false;
  ran = false;
  constructor(private readonly act: () => void) {}
  receive(): void {}
  receiveRuntime(): void {
    this.ran = true;
    this.act();
  }
}
