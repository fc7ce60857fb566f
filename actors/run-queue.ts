/**
 * A scheduler thread's run queue: a FIFO of actors that have messages, as a
 * growable power-of-two ring. An actor is in it at most once (the scheduler
 * checks its `scheduled` flag).
 */

/** FIFO of items, no allocation per push once grown. */
export class RunQueue<T> {
  private buf: (T | undefined)[];
  private mask: number;
  private head = 0;
  /** Items queued. */
  length = 0;

  constructor(initial = 64) {
    let n = 1;
    while (n < initial) n <<= 1;
    this.buf = new Array<T | undefined>(n);
    this.mask = n - 1;
  }

  /** Appends an item. */
  push(item: T): void {
    if (this.length > this.mask) this.grow();
    this.buf[(this.head + this.length) & this.mask] = item;
    this.length++;
  }

  /** Removes and returns the head item; the caller checks `length > 0`. */
  shift(): T {
    const item = this.buf[this.head] as T;
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  /** Removes and returns the item at position `k` (0 = head), keeping the others' order. */
  take(k: number): T {
    if (k === 0) return this.shift();
    const at = (this.head + k) & this.mask;
    const item = this.buf[at] as T;
    for (let j = k; j < this.length - 1; j++) {
      this.buf[(this.head + j) & this.mask] = this.buf[(this.head + j + 1) & this.mask];
    }
    this.buf[(this.head + this.length - 1) & this.mask] = undefined;
    this.length--;
    return item;
  }

  private grow(): void {
    const n = (this.mask + 1) * 2;
    const next = new Array<T | undefined>(n);
    for (let k = 0; k < this.length; k++) next[k] = this.buf[(this.head + k) & this.mask];
    this.buf = next;
    this.mask = n - 1;
    this.head = 0;
  }
}
