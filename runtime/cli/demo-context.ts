/**
 * What every stage of `roo demo` shares: the run's options and constants,
 * the context the stages read and fill in, the progress line and the
 * waiters for the tally. The stages themselves are in the other demo-*.ts
 * files; demo-stages.ts lists them in order.
 */
import type { Child, Children } from './demo-children.js';
import type { ClusterShares, ExpectedCounts, WordTally } from './demo-count.js';

/** The application the demo runs, relative to the package root. */
export const WORD_COUNT_APP = 'examples/word_count/app.ts';
/** Name of word count's TCP source, as the worker logs it. */
export const WORD_COUNT_SOURCE = 'Split and Count';
/**
 * `--time-between-checkpoints` of the demo's workers, in nanoseconds (half a
 * second): the exactly-once sinks release each checkpoint's counts when it
 * commits, so counts arrive about twice a second.
 */
export const DEMO_CHECKPOINT_NS = 500_000_000;
/** The `--stream-id` of both `roo send`s: the second resumes the stream where the first stopped. */
export const DEMO_STREAM_ID = 'roo-demo';
/**
 * The lines the first `roo send` sends (the first half, rounded up); the
 * second sends the rest after the recovery.
 */
export function firstSendLines(messages: number): number {
  return Math.ceil(messages / 2);
}

/** What a demo run does. */
export interface DemoOptions {
  /** Lines to send (the text repeated). */
  readonly messages: number;
  /** Workers in the cluster (1: the initializer alone). */
  readonly workers: number;
  /** Scheduler threads of each worker (`--ponythreads`). */
  readonly threads: number;
  /** The text to count (default: the bundled text). */
  readonly file: string | undefined;
  /** Pass the children's logs through to stderr. */
  readonly verbose: boolean;
  /** Keep the cluster and the metrics UI running at the end until Ctrl-C. */
  readonly ui: boolean;
}

/** Progress: one line rewritten in place on a terminal, plain lines otherwise. */
export class ProgressLine {
  private open = false;

  show(text: string): void {
    if (process.stdout.isTTY !== true) {
      process.stdout.write(`${text}\n`);
      return;
    }
    // A line wider than the terminal would wrap, and \r would not reach its start.
    const width = Math.max((process.stdout.columns || 80) - 1, 20);
    process.stdout.write(`\r\x1b[K${text.slice(0, width)}`);
    this.open = true;
  }

  /** Ends a rewritten line before other output. */
  end(): void {
    if (this.open) process.stdout.write('\n');
    this.open = false;
  }
}

/**
 * Waiters for the number of counts received: each resolves once the tally
 * has reached its number. Bounded by the stages that wait (a handful).
 */
export class CountWaiters {
  private waiting: { n: number; resolve: () => void }[] = [];

  /** Resolves once `outputs()` reaches `n`. */
  reached(n: number, outputs: number): Promise<void> {
    if (outputs >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }

  /** The tally is now `outputs`: settles every waiter it reaches. */
  note(outputs: number): void {
    if (this.waiting.length === 0) return;
    const still = [];
    for (const w of this.waiting) {
      if (outputs >= w.n) w.resolve();
      else still.push(w);
    }
    this.waiting = still;
  }
}

/** A worker of the demo's cluster. */
export interface DemoWorker {
  readonly name: string;
  /** Its command (after `roo`): a restart runs exactly this again. */
  readonly args: readonly string[];
  /** Its process now (a restart replaces it). */
  child: Child;
  /** Resolves with its external channel's address once it is ready. */
  external: Promise<string>;
  /** Its external channel's address, once known. */
  externalAddress?: string;
  /** Its data channel's address, once known. */
  dataAddress?: string;
}

/** What the crash and the recovery looked like, for the report. */
export interface DemoCrash {
  /** The worker killed. */
  readonly victim: string;
  /** Counts received when it was killed. */
  readonly atWords: number;
  /** The checkpoint the cluster rolled back to (0: none had committed). */
  recoveredFrom?: number;
  /** From the restart to the cluster ready again, ms. */
  recoveryMs?: number;
}

/**
 * A change of the cluster's members while it counts (worker3 joins, later
 * leaves), from the initializer's `reconfiguration N complete: ...` line.
 */
export interface DemoResize {
  /** The worker that joined or left. */
  readonly worker: string;
  /** Counts received when it started. */
  readonly atWords: number;
  /** The reconfiguration's number (its barrier). */
  id?: number;
  /** Workers after it. */
  workers?: number;
  /** What moved between the workers. */
  moved?: { readonly groups: number; readonly keys: number; readonly bytes: number };
  /** How long the source's input was held at the barrier, ms. */
  pausedMs?: number;
  /** From the command to the change done (the joiner ready, the leaver gone), ms. */
  tookMs?: number;
}

/** Everything the stages of a run share. */
export interface DemoContext {
  readonly options: DemoOptions;
  /** The package root (holds bin/roo, data/, examples/). */
  readonly root: string;
  /** The text file sent. */
  readonly textPath: string;
  /** A fresh --resilience-dir for this run's workers (removed at the end). */
  readonly resilienceDir: string;
  /** What word count must report. */
  readonly expected: ExpectedCounts;
  /** Lines and words of the first `roo send` (the rest goes after the recovery). */
  readonly firstSend: { readonly lines: number; readonly words: number };
  /** Word count's output as it arrives. */
  readonly tally: WordTally;
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** Every child process of the run. */
  readonly children: Children;
  readonly progress: ProgressLine;
  /** Waiters for the tally to reach a number of counts. */
  readonly counts: CountWaiters;
  /** Prints a line of the run's narrative. */
  say(line: string): void;
  /** One receiver per worker (worker i's sink writes to receiver i), and their addresses. */
  readonly receivers: Child[];
  readonly receiverAddresses: string[];
  /** Counts each receiver has written so far, by worker index. */
  readonly outputsBy: number[];
  /** The workers, the initializer first. */
  readonly workers: DemoWorker[];
  /** The initializer's control address, once it listens (a cluster of two or more). */
  controlAddress?: string;
  /** Where `roo metrics` takes the workers' reports (their `--metrics`), once it listens. */
  metricsAddress?: string;
  /** The metrics UI's address, once it listens. */
  metricsUi?: string;
  /** While the run waits for Ctrl-C with `--ui`: what Ctrl-C does instead of aborting. */
  release?: () => void;
  /** Where word count's source listens (on the initializer). */
  sourceAddress?: string;
  /** Resolves with the source's address once the cluster is ready. */
  sourceReady?: Promise<string>;
  /** The `roo send`s, in the order started. */
  readonly senders: Child[];
  /** Lines each sender reports sent, by its index in `senders`. */
  readonly sentBy: number[];
  /** Whether each sender has said that every line it sent is acknowledged. */
  readonly sendersAcked: boolean[];
  /** performance.now() when the first sender started, and when the last count arrived. */
  sendStartedMs?: number;
  lastOutputMs?: number;
  /** Lines the senders report sent, in all. */
  linesSent: number;
  /** The newest checkpoint the initializer logged as committed. */
  lastCommitted?: number;
  /** The crash and the recovery, once they happened. */
  crash?: DemoCrash;
  /** Stops the echoes of other children's lines started for the crash (at the end of the recovery). */
  readonly echoes: (() => void)[];
  /** The pace of the first `roo send` (lines/s), when it is paced so the cluster can grow and shrink meanwhile. */
  pace?: number;
  /** The worker that joined the running cluster, and its leaving again. */
  grow?: DemoResize;
  shrink?: DemoResize;
  /** What each worker reported about itself after counting. */
  shares?: ClusterShares;
  /** How each worker exited after `roo shutdown`. */
  shutdown?: { readonly exits: string; readonly leftovers: readonly string[] };
}

/** One step of a demo: start a process, send, wait, ask, stop... */
export interface DemoStage {
  /** What the step does, as shown to the user. */
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}
