/**
 * A word count cluster that survives SIGKILL: two workers (or one) with
 * fixed addresses, so that a SIGKILLed worker can be restarted with the
 * same command.
 *
 * A restarted worker must bind the same addresses as before, so they cannot
 * be port 0. {@link restartablePort} picks them below the kernel's ephemeral
 * range: a port from {@link freePort} lies inside it, and while its worker
 * is down any outgoing connection (the sender, a reconnecting peer) may be
 * given it as a local port, and the restart would fail with EADDRINUSE.
 * Tests running in parallel bind port 0 (ephemeral ports), so they never
 * take these.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { INITIALIZER, READY } from './cluster.js';
import { EACH_CHECKPOINT, LOCAL, RooProcess } from './processes.js';

/** The lowest port {@link restartablePort} hands out. */
const LOWEST_PORT = 20_000;
/** Ports handed out by this process, never handed out twice. */
const handedOut = new Set<number>();

/** The lowest port of the kernel's ephemeral range (32768 when unknown). */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > LOWEST_PORT + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** True if `port` can be listened on at `host` right now. */
async function canListen(port: number, host: string): Promise<boolean> {
  const server = createServer();
  server.listen(port, host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => Promise.reject(err as Error)),
    ]);
  } catch {
    return false;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return true;
}

/**
 * A port free on `host` now, below the ephemeral range (see the file
 * comment), and not handed out before by this process.
 */
export async function restartablePort(host = LOCAL): Promise<number> {
  const high = ephemeralLow();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (high - LOWEST_PORT));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port, host)) return port;
  }
  throw new Error(`no free port found between ${LOWEST_PORT} and ${high} on ${host}`);
}

/** The workers of a {@link RestartableCluster}. */
export type WorkerName = typeof INITIALIZER | 'worker2';
/** Both workers, the initializer first. */
export const WORKER_NAMES: readonly WorkerName[] = [INITIALIZER, 'worker2'];

/** What a {@link RestartableCluster} runs. */
export interface RestartableSpec {
  /** Application module, relative to the repository root. */
  readonly module: string;
  /** `--out`: the receiver. */
  readonly out: string;
  readonly resilienceDir: string;
  /** `--time-between-checkpoints` in nanoseconds. */
  readonly checkpointNs: bigint;
  /** Application arguments (after `--`). */
  readonly appArgs?: readonly string[];
  /** More flags for both workers (e.g. `--heartbeat-timeout`). */
  readonly extra?: readonly string[];
  /** `--run-with-resilience` (default true). */
  readonly resilience?: boolean;
  /** `--ponythreads` of each worker (default 1). */
  readonly threads?: number;
  /** 2 (default), or 1: the initializer alone, a one-worker cluster (`--worker-count 1`). */
  readonly workers?: 1 | 2;
  /**
   * With `workers: 1`: a worker alone, started without `--cluster-initializer`,
   * `--worker-count`, `--control` and `--data` (it is the initializer of a
   * cluster of one all the same).
   */
  readonly alone?: boolean;
}

/**
 * Two workers (or the initializer alone, `workers: 1`) with resilience on
 * (unless told otherwise; `--ponythreads 1` unless told otherwise) whose every address is
 * fixed, so that each can be SIGKILLed and restarted with exactly the
 * command it was started with. The initializer runs the TCP source.
 */
export class RestartableCluster {
  /** The TCP source's address (`--in` of the initializer). */
  readonly source: string;
  /** How many times each worker was started. */
  readonly starts: Record<WorkerName, number> = { initializer: 0, worker2: 0 };
  /** Every process started, in order (for {@link writeLogs}). */
  readonly history: RooProcess[] = [];
  private readonly procs = new Map<WorkerName, RooProcess>();

  private constructor(
    /** Each worker's full `roo` command line. */
    readonly commands: Readonly<Record<WorkerName, readonly string[]>>,
    source: string,
    /** The workers {@link start} starts: both, or the initializer alone. */
    readonly names: readonly WorkerName[],
  ) {
    this.source = source;
  }

  /** Picks the addresses; starts nothing. */
  static async create(spec: RestartableSpec): Promise<RestartableCluster> {
    const addr = async () => `${LOCAL}:${await restartablePort()}`;
    const [source, control, data, myData, myControl] = [
      await addr(),
      await addr(),
      await addr(),
      await addr(),
      await addr(),
    ];
    const common = (name: WorkerName) => [
      'worker',
      ...['--application-module', spec.module, '--out', spec.out, '--name', name],
      ...['--ponythreads', String(spec.threads ?? 1), '--resilience-dir', spec.resilienceDir],
      ...(spec.resilience === false ? [] : ['--run-with-resilience']),
      ...['--time-between-checkpoints', String(spec.checkpointNs)],
      ...(spec.extra ?? []),
    ];
    const appArgs = spec.appArgs === undefined ? [] : ['--', ...spec.appArgs];
    const workers = spec.workers ?? 2;
    return new RestartableCluster(
      {
        initializer: [
          ...common(INITIALIZER),
          ...['--in', source],
          ...(spec.alone === true && workers === 1
            ? []
            : [
                ...['--cluster-initializer', '--worker-count', String(workers)],
                ...['--control', control, '--data', data],
              ]),
          ...appArgs,
        ],
        worker2: [
          ...common('worker2'),
          ...['--control', control, '--my-data', myData, '--my-control', myControl],
          ...appArgs,
        ],
      },
      source!,
      WORKER_NAMES.slice(0, workers),
    );
  }

  /** The process of `name`'s latest start. */
  proc(name: WorkerName): RooProcess {
    const p = this.procs.get(name);
    if (p === undefined) throw new Error(`${name} was never started`);
    return p;
  }

  /** The initializer's latest process. */
  get initializer(): RooProcess {
    return this.proc(INITIALIZER);
  }

  /** Starts (or restarts) `name` with its command (and `env`, test hooks); does not wait. */
  spawn(name: WorkerName, env: Readonly<Record<string, string>> = {}): RooProcess {
    this.starts[name]++;
    const label = this.starts[name] === 1 ? name : `${name} (start ${this.starts[name]})`;
    // Each commit's line (debug level): tests wait for commits and kill right after one.
    const p = RooProcess.spawn(label, this.commands[name], {
      env: { ...EACH_CHECKPOINT.env, ...env },
    });
    this.procs.set(name, p);
    this.history.push(p);
    return p;
  }

  /**
   * Starts its workers at once (the member retries until the initializer's
   * control channel listens) and waits until each is ready.
   */
  async start(timeoutMs = 30_000): Promise<void> {
    const started = this.names.map((name) => this.spawn(name));
    await Promise.all(started.map((p) => p.waitForStderr(READY, timeoutMs)));
  }

  /** SIGKILLs `name`'s node process and waits until it is gone. */
  async kill(name: WorkerName): Promise<void> {
    await this.proc(name).sigkill();
  }

  /** Stops its workers (SIGTERM, the member first). */
  async stop(): Promise<void> {
    for (const name of [...WORKER_NAMES].reverse()) await this.procs.get(name)?.stop();
  }
}
