/**
 * `roo status ADDR --watch`: asks the worker's external channel for its
 * status once a second and redraws the terminal with plain ANSI (cursor
 * home, clear screen) from status-frame.ts. A poll without an answer keeps
 * the last frame and says why; the loop goes on until Ctrl-C (SIGINT) or
 * SIGTERM, which show the cursor again and exit 0.
 */
import { formatAddress, type Address } from '../../protocols/index.js';
import { parseWorkerStatus } from '../cluster/status-check.js';
import type { ChannelSecurity } from '../security/index.js';
import { requestExternal } from './external-client.js';
import { formatWatchFrame, type Polled } from './status-frame.js';

/** How often the view is refreshed, ms. */
export const WATCH_EVERY_MS = 1_000;

const HOME_AND_CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** Runs the live view until a signal; resolves to the exit code. */
export function watchStatus(
  address: Address,
  timeoutMs: number,
  /** The cluster secret and TLS of the external channel, if any. */
  security?: ChannelSecurity,
): Promise<number> {
  const where = formatAddress(address);
  const out = process.stdout;
  let before: Polled | undefined;
  let last: Polled | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  return new Promise((resolve) => {
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      out.write(SHOW_CURSOR + '\n');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (out.isTTY) out.write(HIDE_CURSOR);
    const draw = (lines: string[]) => {
      if (!stopped) out.write((out.isTTY ? HOME_AND_CLEAR : '\n') + lines.join('\n') + '\n');
    };
    const poll = async () => {
      const t0 = performance.now();
      try {
        const answer = await requestExternal(address, 'status', {
          timeoutMs,
          ...(security === undefined ? {} : { security }),
        });
        const now = { status: parseWorkerStatus(answer.result), atMs: performance.now() };
        before = last;
        last = now;
        draw(formatWatchFrame(now, before, where));
      } catch (err) {
        const why = (err as Error).message;
        draw(
          last === undefined
            ? [`roo status --watch ${where}    (Ctrl-C to quit)`, `no answer: ${why}`]
            : formatWatchFrame(last, before, where, why),
        );
      }
      if (!stopped)
        timer = setTimeout(
          () => void poll(),
          Math.max(0, WATCH_EVERY_MS - (performance.now() - t0)),
        );
    };
    void poll();
  });
}
