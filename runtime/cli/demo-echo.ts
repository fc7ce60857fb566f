/**
 * The children's log lines in the demo's narrative: the message of a
 * worker's log line, and the lines a stage shows as they come, each as
 * `  [who] message` (the crash, the recovery, the sender's reconnects).
 */
import type { Child } from './demo-children.js';
import type { DemoContext } from './demo-context.js';

/** A worker's log line: `[time] LEVEL: worker/thread: message`. */
const logLine = /^\[[^\]]*\] [A-Z]+: \S+: (.*)$/;

/** The message of a worker's log line (the whole line if it is not one). */
export function messageOf(line: string): string {
  return logLine.exec(line)?.[1] ?? line;
}

/** Prints a child's log message in the narrative, as `  [who] message`. */
export function sayFrom(ctx: DemoContext, who: string, message: string): void {
  ctx.say(`  [${who}] ${message}`);
}

/**
 * Prints, as they come, the lines of `child` whose message matches
 * `pattern`, as `  [who] message`; returns the function that stops it.
 */
export function echo(ctx: DemoContext, child: Child, who: string, pattern: RegExp): () => void {
  return child.onLine((line) => {
    const message = messageOf(line).replace(/^roo send: /, '');
    if (pattern.test(message)) sayFrom(ctx, who, message);
  });
}
