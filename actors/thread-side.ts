/**
 * The scheduler-thread side: builds this thread's Scheduler and run loop from
 * the workerData the ThreadPool passed, and exposes a control API to the main
 * thread over comlink.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { ThreadLoop } from './thread-loop.js';
import type { KernelThreadData } from './thread-pool.js';

/** A scheduler thread's kernel objects. */
export interface AttachedThread<AppData> {
  readonly scheduler: Scheduler;
  readonly loop: ThreadLoop;
  readonly app: AppData;
}

/** Builds this thread's scheduler and loop (not yet started). */
export function attachSchedulerThread<AppData>(
  options: Omit<SchedulerOptions, 'memory' | 'thread'> = {},
): AttachedThread<AppData> {
  const data = workerData as KernelThreadData<AppData> | undefined;
  if (data === undefined || parentPort === null) {
    throw new Error('attachSchedulerThread() must run inside a scheduler thread');
  }
  const scheduler = new Scheduler({
    ...options,
    memory: data.kernel.memory,
    thread: data.kernel.thread,
  });
  const loop = new ThreadLoop(scheduler, data.kernel.memory.control);
  return { scheduler, loop, app: data.app };
}

/** Exposes `api` to the main thread's ThreadPool stub. */
export function exposeControl(api: object): void {
  if (parentPort === null) throw new Error('exposeControl() must run inside a scheduler thread');
  expose(api, nodeEndpoint(parentPort));
}

/** The message a thread posts to report a fatal error (ignored by comlink: it has no `id`). */
export const THREAD_FATAL_MESSAGE = 'roo-thread-fatal';

/** An error as it travels from a thread to the main thread: its name, message and own fields. */
export interface ThreadFatal {
  readonly name: string;
  readonly message: string;
  /** A stable code, if the error has one (a RooError's). */
  readonly code?: string;
  readonly details?: Record<string, unknown>;
}

/**
 * Reports an error the process cannot go on with, without failing the
 * thread: the thread keeps serving control calls, so that the main thread
 * (ThreadPoolOptions.onThreadFatal) can stop the process cleanly, closing
 * sockets in order, which a dead thread could not.
 */
export function reportFatal(error: ThreadFatal): void {
  if (parentPort === null) throw new Error('reportFatal() must run inside a scheduler thread');
  const record: ThreadFatal = {
    name: error.name,
    message: error.message,
    ...(error.code === undefined ? {} : { code: error.code }),
    ...(error.details === undefined ? {} : { details: error.details }),
  };
  parentPort.postMessage({ type: THREAD_FATAL_MESSAGE, error: record });
}
