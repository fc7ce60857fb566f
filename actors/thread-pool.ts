/**
 * The main-thread side of a process's scheduler threads: allocates the shared
 * memory (control block and rings), starts the worker_threads, and wraps each
 * one's control API with comlink (RPC over the thread's MessagePort). Control
 * only: data never travels over MessagePorts.
 */
import { Worker } from 'node:worker_threads';
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { allocateKernelMemory, type SharedKernelMemory } from './shared-layout.js';
import { THREAD_FATAL_MESSAGE, type ThreadFatal } from './thread-side.js';

/** What each scheduler thread receives as workerData. */
export interface KernelThreadData<AppData> {
  readonly kernel: { readonly memory: SharedKernelMemory; readonly thread: number };
  readonly app: AppData;
}

/** Settings of a thread pool. */
export interface ThreadPoolOptions<AppData> {
  /** Number of scheduler threads (`--ponythreads`). */
  readonly threads: number;
  /** Module run by each thread; it calls `attachSchedulerThread()`. */
  readonly entry: URL;
  /** Passed to every thread. */
  readonly appData: AppData;
  /** Capacity of each ring between two threads. */
  readonly ringBytes?: number;
  /** Node options for the threads (e.g. a loader); default: inherit. */
  readonly execArgv?: string[];
  /** Extra arguments, seen by each thread in `process.argv` after the entry. */
  readonly argv?: string[];
  /**
   * Young-generation size of each thread's heap (MB). Stream work makes many
   * short-lived objects per message; a larger nursery means fewer scavenges.
   */
  readonly youngGenerationMb?: number;
  /** Called when a thread fails (uncaught error or unexpected exit). */
  readonly onThreadError?: (thread: number, error: Error) => void;
  /**
   * Called when a thread reports an error the process cannot go on with
   * (thread-side.ts, `reportFatal`); the thread itself still runs. The error
   * carries the reported `code` and `details` as own fields.
   */
  readonly onThreadFatal?: (thread: number, error: Error & { code?: string }) => void;
}

/** A set of running scheduler threads and their control RPC stubs. */
export class ThreadPool<Api extends object> {
  private constructor(
    /** The shared kernel memory. */
    readonly memory: SharedKernelMemory,
    private readonly workers: Worker[],
    /** One control stub per thread, by thread index. */
    readonly remotes: Remote<Api>[],
    /** Set when terminating, so that expected thread exits are not reported as failures. */
    private readonly lifecycle: { stopping: boolean },
  ) {}

  /** Starts the threads; resolves once each is online. */
  static async start<Api extends object, AppData>(
    options: ThreadPoolOptions<AppData>,
  ): Promise<ThreadPool<Api>> {
    const memory = allocateKernelMemory(options.threads, options.ringBytes ?? 4 * 1024 * 1024);
    const workers: Worker[] = [];
    const remotes: Remote<Api>[] = [];
    const online: Promise<void>[] = [];
    const lifecycle = { stopping: false };
    for (let thread = 0; thread < options.threads; thread++) {
      const data: KernelThreadData<AppData> = { kernel: { memory, thread }, app: options.appData };
      const worker = new Worker(options.entry, {
        workerData: data,
        ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
        ...(options.argv === undefined ? {} : { argv: options.argv }),
        ...(options.youngGenerationMb === undefined
          ? {}
          : { resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb } }),
      });
      online.push(
        new Promise((resolve, reject) => {
          worker.once('online', () => resolve());
          worker.once('error', reject);
        }),
      );
      worker.on('error', (err) => options.onThreadError?.(thread, err));
      worker.on('message', (m: unknown) => {
        const fatal = threadFatal(m);
        if (fatal !== undefined) options.onThreadFatal?.(thread, fatal);
      });
      worker.on('exit', (code) => {
        if (!lifecycle.stopping) {
          options.onThreadError?.(
            thread,
            new Error(`scheduler thread ${thread} exited with code ${code}`),
          );
        }
      });
      workers.push(worker);
      remotes.push(wrap<Api>(nodeEndpoint(worker)));
    }
    await Promise.all(online);
    return new ThreadPool<Api>(memory, workers, remotes, lifecycle);
  }

  /** Number of threads. */
  get size(): number {
    return this.workers.length;
  }

  /** Terminates every thread. */
  async terminate(): Promise<void> {
    this.lifecycle.stopping = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A thread's fatal report as an Error with its code and details, or undefined for any other message. */
function threadFatal(m: unknown): (Error & { code?: string }) | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const { type, error } = m as { type?: unknown; error?: Partial<ThreadFatal> };
  if (type !== THREAD_FATAL_MESSAGE || typeof error?.message !== 'string') return undefined;
  const err = new Error(error.message) as Error & { code?: string; details?: unknown };
  err.name = typeof error.name === 'string' ? error.name : 'Error';
  if (typeof error.code === 'string') err.code = error.code;
  if (error.details !== undefined) err.details = error.details;
  return err;
}
