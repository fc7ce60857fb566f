/**
 * Socket plumbing `roo send` shares between its plain sender
 * (send-writer.ts) and its acknowledging one (send-acked.ts):
 * connecting, retrying a refused connection with backoff, waiting, and
 * closing a connection once everything written is with the OS.
 */
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Address, formatAddress } from '../../protocols/address.js';

/** Longest a finished sender waits for the receiver to close its side. */
export const CLOSE_WAIT_MS = 1_000;
const FIRST_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 1_000;

/** Delay before connection attempt `attempt` (1-based): 100 ms doubling to 1 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One connection attempt; rejects with the socket's error. */
export function connectOnce(address: Address): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: address.host, port: address.port });
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      // We batch ourselves; Nagle would only add latency at low rates.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * Connects, retrying a refused connection for `retryMs` (other errors fail
 * at once). Resolves undefined if `signal` aborts first. `onState` hears
 * 'retrying' before each wait and 'connecting' after it.
 */
export async function connectWithRetry(
  address: Address,
  retryMs: number,
  signal: AbortSignal | undefined,
  log: (line: string) => void,
  onState: (state: 'retrying' | 'connecting') => void,
): Promise<Socket | undefined> {
  const deadline = performance.now() + retryMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(address);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const where = formatAddress(address);
      if (code !== 'ECONNREFUSED') {
        throw new Error(`cannot connect to ${where}: ${(err as Error).message}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`cannot connect to ${where}: refused for ${retryMs / 1000} s, giving up`);
      }
      if (attempt === 1) {
        log(`roo send: connection to ${where} refused; retrying for up to ${retryMs / 1000} s`);
      }
      const wait = Math.min(retryDelayMs(attempt), left);
      onState('retrying');
      await delay(wait, signal);
      if (signal?.aborted === true) return undefined;
      onState('connecting');
    }
  }
}

/**
 * Ends a connection whose data is all written and waits until the OS has it
 * (then, briefly, for the receiver to close its side), and destroys it.
 * `failure()` is the connection's error so far: thrown when the receiver went
 * away with data unsent, unless `aborted` (a stopped send does not wait on a
 * stuck receiver for more than {@link CLOSE_WAIT_MS}).
 */
export async function endSocket(
  socket: Socket,
  aborted: boolean,
  failure: () => Error | undefined,
): Promise<void> {
  const finished = once(socket, 'finish');
  const closed = once(socket, 'close');
  finished.catch(() => undefined);
  closed.catch(() => undefined);
  socket.end();
  // 'close' before 'finish' means the receiver went away with data unsent.
  // The close waits are bounded by a timer that must not outlive the race,
  // or the process stays up a full CLOSE_WAIT_MS after sending.
  const wait = new AbortController();
  try {
    await Promise.race([finished, closed, ...(aborted ? [delay(CLOSE_WAIT_MS, wait.signal)] : [])]);
    const error = failure();
    if (error !== undefined && !aborted) throw error;
    // The data is with the OS now; give the receiver a moment to close its side.
    await Promise.race([closed, delay(CLOSE_WAIT_MS, wait.signal)]);
  } finally {
    wait.abort();
  }
  socket.destroy();
}
