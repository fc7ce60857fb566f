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
