/**
 * The actor kernel: actors with mailboxes, scheduler threads, byte channels
 * between threads, backpressure. Knows nothing of streams.
 */
export { Mailbox, type Receiver } from './mailbox.js';
export {
  Scheduler,
  type Behaviour,
  type SchedulerOptions,
  type SchedulerStats,
} from './scheduler.js';
export { actorRef, refLocal, refThread, LOCAL_BITS, type ActorRef } from './actor-ref.js';
export { ThreadLoop } from './thread-loop.js';
export type { MuteReason, Producer } from './backpressure.js';
export { MAX_BATCH_AGE_MS } from './outbound.js';
export { ThreadPool, type ThreadPoolOptions, type KernelThreadData } from './thread-pool.js';
export {
  attachSchedulerThread,
  exposeControl,
  reportFatal,
  THREAD_FATAL_MESSAGE,
  type AttachedThread,
  type ThreadFatal,
} from './thread-side.js';
export { DeterministicSchedulers, seededRandom } from './deterministic.js';
export { allocateRing, RingReader, RingWriter, type RingMemory } from './ring.js';
export { allocateKernelMemory, type SharedKernelMemory } from './shared-layout.js';
export { GcWatch, type GcCount, type GcStats, type GcListener } from './gc-watch.js';
export {
  monotonicMs,
  ThreadTrace,
  trace,
  TraceKind,
  TRACE_KIND_NAMES,
  type SavedTrace,
} from './trace.js';
