/**
 * What a steady-state child process of `roo bench` (engine-steady.ts) and
 * the bench process tell each other: the child's command line, and the
 * lines it prints on stdout as it goes. Each such line is `steady ` and a
 * JSON object with a `kind`; everything else the child prints (engine
 * warnings, a stack trace) is only kept to explain a failure. Pure: no I/O,
 * so that both sides and the tests share one definition.
 *
 *   steady {"kind":"start",...}    Engine.prepare and runAlone until ready (or the corpus read, for the loop)
 *   steady {"kind":"warmup",...}   the warm-up is over: its rate
 *   steady {"kind":"window",...}   the measured window: the figures
 *   steady {"kind":"error",...}    the run failed (a dead thread, errors counted)
 */

/** The prefix of every line the bench reads from a steady-state child. */
export const STEADY_PREFIX = 'steady ';

/** What a child runs: the engine at N threads, or the hand-written loop. */
export type SteadySubject = { kind: 'engine'; threads: number } | { kind: 'loop' };

/** A steady-state child's command line. */
export interface SteadyChildArgs {
  /** The corpus file, read round and round. */
  corpusPath: string;
  /** The engine at some threads, or the loop. */
  subject: SteadySubject;
  /** Seconds run before the window. */
  warmupSeconds: number;
  /** Seconds of the window. */
  seconds: number;
  /**
   * The engine reports its metrics to this `host:port` every 2 s, as
   * `roo worker --metrics` does (the metrics benchmark, metrics-overhead.ts).
   */
  metrics?: string;
}

/** The child's first line: how long it took to be ready. */
export interface StartLine {
  kind: 'start';
  /** Scheduler threads (1 for the loop). */
  threads: number;
  /** Engine.prepare and runAlone until the engine was ready; for the loop, reading and splitting the corpus. */
  startSeconds: number;
}

/** The child's second line: the warm-up is over. */
export interface WarmupLine {
  kind: 'warmup';
  /** Seconds it lasted. */
  seconds: number;
  /** Words/s over it (outputs that reached the sink). */
  rate: number;
}

/** The child's figures, measured over the window. */
export interface WindowLine {
  kind: 'window';
  /** Scheduler threads (1 for the loop). */
  threads: number;
  /** As in StartLine. */
  startSeconds: number;
  /** Words/s over the warm-up. */
  warmupRate: number;
  /** Words/s over the window. */
  rate: number;
  /** Words counted in the window. */
  words: number;
  /** Wall seconds of the window. */
  seconds: number;
  /** CPU time of the whole process (every thread) in the window, per word, ns. */
  cpuNsPerWord: number;
  /** Per scheduler thread, the share of the window its event loop was busy; absent for the loop. */
  utilization?: number[];
  /** Cores kept busy in the window by everything but this process (stats.ts LoadProbe). */
  otherLoad: number;
  /**
   * The engine's words/s in the window's 90th-percentile 250 ms slice: on a
   * machine shared with others, the pace of the slices they disturbed least.
   */
  sliceRate90?: number;
}

/** The child failed; `message` says why. */
export interface ErrorLine {
  kind: 'error';
  message: string;
}

/** Any line of the protocol. */
export type SteadyLine = StartLine | WarmupLine | WindowLine | ErrorLine;

/** The line a child prints for `line`. */
export function formatSteadyLine(line: SteadyLine): string {
  return `${STEADY_PREFIX}${JSON.stringify(line)}`;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The protocol line in `text`, or undefined for any other output (a log
 * line, or a line that looks like ours and is malformed: a child's stray
 * output must not be mistaken for figures).
 */
export function parseSteadyLine(text: string): SteadyLine | undefined {
  if (!text.startsWith(STEADY_PREFIX)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text.slice(STEADY_PREFIX.length));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  switch (o['kind']) {
    case 'start':
      return isNumber(o['threads']) && isNumber(o['startSeconds'])
        ? { kind: 'start', threads: o['threads'], startSeconds: o['startSeconds'] }
        : undefined;
    case 'warmup':
      return isNumber(o['seconds']) && isNumber(o['rate'])
        ? { kind: 'warmup', seconds: o['seconds'], rate: o['rate'] }
        : undefined;
    case 'error':
      return typeof o['message'] === 'string'
        ? { kind: 'error', message: o['message'] }
        : undefined;
    case 'window': {
      const numbers = [
        'threads',
        'startSeconds',
        'warmupRate',
        'rate',
        'words',
        'seconds',
        'cpuNsPerWord',
        'otherLoad',
      ] as const;
      if (!numbers.every((k) => isNumber(o[k]))) return undefined;
      const u = o['utilization'];
      if (u !== undefined && !(Array.isArray(u) && u.every(isNumber))) return undefined;
      const line = Object.fromEntries(numbers.map((k) => [k, o[k]])) as Omit<
        WindowLine,
        'kind' | 'utilization'
      >;
      const slice = o['sliceRate90'];
      if (slice !== undefined && !isNumber(slice)) return undefined;
      return {
        kind: 'window',
        ...line,
        ...(u === undefined ? {} : { utilization: u }),
        ...(slice === undefined ? {} : { sliceRate90: slice }),
      };
    }
    default:
      return undefined;
  }
}

/** The child's arguments after its script. */
export function steadyChildArgv(a: SteadyChildArgs): string[] {
  return [
    ...['--corpus', a.corpusPath],
    ...(a.subject.kind === 'loop' ? ['--loop'] : ['--threads', String(a.subject.threads)]),
    ...['--warmup-seconds', String(a.warmupSeconds), '--seconds', String(a.seconds)],
    ...(a.metrics === undefined ? [] : ['--metrics', a.metrics]),
  ];
}

/** Parses what steadyChildArgv wrote; throws on anything else. */
export function parseSteadyChildArgv(argv: readonly string[]): SteadyChildArgs {
  const flags = new Map<string, string>();
  let loop = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    if (flag === '--loop') {
      loop = true;
      continue;
    }
    const value = argv[i + 1];
    if (
      !['--corpus', '--threads', '--warmup-seconds', '--seconds', '--metrics'].includes(flag) ||
      !value
    ) {
      throw new Error(`engine-steady: bad argument '${flag}'`);
    }
    flags.set(flag, value);
    i++;
  }
  const num = (flag: string): number => {
    const n = Number(flags.get(flag));
    if (!(n > 0)) throw new Error(`engine-steady: ${flag} must be a positive number`);
    return n;
  };
  const corpusPath = flags.get('--corpus');
  if (corpusPath === undefined) throw new Error('engine-steady: --corpus is required');
  let subject: SteadySubject = { kind: 'loop' };
  if (!loop) {
    const threads = num('--threads');
    if (!Number.isInteger(threads)) throw new Error('engine-steady: --threads must be an integer');
    subject = { kind: 'engine', threads };
  }
  const metrics = flags.get('--metrics');
  return {
    corpusPath,
    subject,
    warmupSeconds: num('--warmup-seconds'),
    seconds: num('--seconds'),
    ...(metrics === undefined ? {} : { metrics }),
  };
}

/**
 * The share of a window a thread's event loop was busy, from two readings
 * of its utilization since its loop started (performance.eventLoopUtilization,
 * what EngineStats reports): busy time is utilization × time since `originMs`,
 * and the window's busy time is the difference. `originMs` is taken just
 * before the engine starts, a little before each loop really starts: the
 * error is at most (u1 − u0) × (the start-up time) / the window, under 1 %
 * for a window of seconds after a warm-up, when u has settled.
 */
export function windowUtilization(
  originMs: number,
  at0: { ms: number; utilization: number },
  at1: { ms: number; utilization: number },
): number {
  const busy0 = at0.utilization * (at0.ms - originMs);
  const busy1 = at1.utilization * (at1.ms - originMs);
  const share = (busy1 - busy0) / (at1.ms - at0.ms);
  return Math.min(1, Math.max(0, share));
}
