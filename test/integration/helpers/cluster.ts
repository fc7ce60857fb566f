/**
 * Real clusters of `roo worker` processes for integration tests.
 *
 * {@link startCluster} starts the initializer with `--control HOST:0` and
 * reads the port it bound from its log (`control channel listening on
 * HOST:PORT`), then starts the other members with `--control` there and
 * `--my-data HOST:0`, and waits for every worker's PHASE III line. Each
 * cluster gets a resilience directory of its own under the system temp
 * directory; {@link stopClusters} (for afterEach) stops every process and
 * removes those directories.
 *
 * {@link LineReceiver} stands in for `roo receive` where several workers
 * write to one receiver: it splits each connection's bytes into lines on its
 * own, so that lines of two workers can never interleave (`roo receive`
 * copies raw chunks of all connections to one stdout as they come).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_WAIT_MS,
  escapeRegExp,
  LOCAL,
  RooProcess,
  runRoo,
  stopAll,
  WORKER_READY,
  type SpawnOptions,
} from './processes.js';

/** The initializer's line once its control channel listens (group 1: the address). */
export const CONTROL_LISTENING =
  /control channel listening on (\S+:\d+); waiting for (\d+) workers/;
/** A worker's line once its data channel listens (group 1: the address). */
export const DATA_LISTENING = /data channel listening on (\S+:\d+)$/m;
/** A worker's line once its external channel listens (group 1: the address). */
export const EXTERNAL_LISTENING = /external channel listening on (\S+:\d+)$/m;
/** A TCP source's line (group 1: its name, group 2: the address). */
export const SOURCE_LISTENING = /source '(.+?)' listening on (\S+:\d+)$/gm;
/** The PHASE III line as a RegExp. */
export const READY = new RegExp(escapeRegExp(WORKER_READY));
/** The name of the initializer in every cluster started here. */
export const INITIALIZER = 'initializer';

/** The name of worker `index` (0 is the initializer): initializer, worker2, worker3, ... */
export function workerName(index: number): string {
  return index === 0 ? INITIALIZER : `worker${index + 1}`;
}

/** A port that was free a moment ago on `host` (bind to port 0, read it, close). */
export async function freePort(host = LOCAL): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const resilienceDirs = new Set<string>();

/** A fresh resilience directory, removed by {@link stopClusters}. */
export function makeResilienceDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'roo-cluster-test-'));
  resilienceDirs.add(dir);
  return dir;
}

/** Stops every process still running and removes the clusters' resilience directories. */
export async function stopClusters(): Promise<void> {
  await stopAll();
  for (const dir of resilienceDirs) rmSync(dir, { recursive: true, force: true });
  resilienceDirs.clear();
}

/** What every worker of a cluster is started with. */
export interface CommonSpec {
  /** Application module, relative to the repository root. */
  readonly module: string;
  /** `--out` address. */
  readonly out: string;
  /** `--ponythreads` (default 1: the machine has 2 cores for several workers). */
  readonly threads?: number;
  /** `--resilience-dir` (default: a fresh temporary directory per cluster). */
  readonly resilienceDir?: string;
  /** Serve the external channel on HOST:0 (default true). */
  readonly external?: boolean;
  /** More flags for every worker. */
  readonly extra?: readonly string[];
  /** Application arguments (after `--`). */
  readonly appArgs?: readonly string[];
}

/** What {@link startCluster} needs. */
export interface ClusterSpec extends CommonSpec {
  /** Workers in the cluster, the initializer included. */
  readonly workers: number;
  /** Which workers run the TCP sources (`--in HOST:0`): the initializer only (default) or all. */
  readonly sources?: 'initializer' | 'all';
  /** The host worker `index` binds its addresses on (default 127.0.0.1 for all). */
  readonly host?: (index: number) => string;
  /** How worker `index` is run, e.g. under `ip netns exec NS` (default: directly). */
  readonly spawn?: (index: number) => SpawnOptions;
  /** `--my-control` of member `index` (default: a free port on its host, found from here). */
  readonly myControlOf?: (index: number) => string;
  /** `--out` of worker `index` (default: `out` for every worker). */
  readonly outOf?: (index: number) => string;
}

/** What {@link memberArgs} and {@link initializerArgs} need beyond {@link CommonSpec}. */
export interface WorkerArgsSpec extends CommonSpec {
  readonly name: string;
  /** The host this worker binds on. */
  readonly host: string;
  /** Run a TCP source (`--in HOST:0`). */
  readonly source: boolean;
  readonly resilienceDir: string;
  /** `--my-control` (members; default: a free port on `host`, found from this process). */
  readonly myControl?: string;
}

function commonArgs(s: WorkerArgsSpec): string[] {
  return [
    'worker',
    '--application-module',
    s.module,
    '--out',
    s.out,
    '--name',
    s.name,
    '--ponythreads',
    String(s.threads ?? 1),
    '--resilience-dir',
    s.resilienceDir,
    ...(s.source ? ['--in', `${s.host}:0`] : []),
    ...(s.external === false ? [] : ['--external', `${s.host}:0`]),
    ...(s.extra ?? []),
  ];
}

function withAppArgs(args: string[], s: CommonSpec): string[] {
  return s.appArgs === undefined ? args : [...args, '--', ...s.appArgs];
}

/** `roo worker` arguments of an initializer of `workers` workers listening on `control`. */
export function initializerArgs(s: WorkerArgsSpec, workers: number, control: string): string[] {
  const cluster =
    workers > 1 ? ['--control', control, '--data', `${s.host}:0`] : ['--worker-count', '1'];
  return withAppArgs(
    [
      ...commonArgs(s),
      '--cluster-initializer',
      ...(workers > 1 ? ['--worker-count', String(workers)] : []),
      ...cluster,
    ],
    s,
  );
}

/** `roo worker` arguments of a member joining through the initializer's `control`. */
export async function memberArgs(s: WorkerArgsSpec, control: string): Promise<string[]> {
  // --my-control is only told to the initializer (nothing binds it yet), and port 0 is refused.
  const myControl = s.myControl ?? `${s.host}:${await freePort(s.host)}`;
  return withAppArgs(
    [...commonArgs(s), '--control', control, '--my-data', `${s.host}:0`, '--my-control', myControl],
    s,
  );
}

/** A worker of a running cluster. */
export interface ClusterWorker {
  readonly name: string;
  readonly proc: RooProcess;
  /** Its data channel's bound address (undefined for a one-worker cluster). */
  readonly data: string | undefined;
  /** Its external channel's bound address (undefined without one). */
  readonly external: string | undefined;
  /** Its TCP sources' bound addresses by source name. */
  readonly sources: Readonly<Record<string, string>>;
  /** Its only source's address (throws unless it has exactly one). */
  readonly source: string;
}

/** Waits for a worker's PHASE III line, then reads its addresses from its log. */
export async function readyWorker(
  name: string,
  proc: RooProcess,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<ClusterWorker> {
  await proc.waitForStderr(READY, timeoutMs);
  const log = proc.stderr;
  const sources: Record<string, string> = {};
  for (const m of log.matchAll(SOURCE_LISTENING)) sources[m[1]!] = m[2]!;
  const addresses = Object.values(sources);
  return {
    name,
    proc,
    data: DATA_LISTENING.exec(log)?.[1],
    external: EXTERNAL_LISTENING.exec(log)?.[1],
    sources,
    get source(): string {
      if (addresses.length !== 1) {
        throw proc.failure(`has ${addresses.length} listening sources, expected exactly one`);
      }
      return addresses[0]!;
    },
  };
}

/** A running cluster. */
export interface Cluster {
  /** The initializer's control address (undefined for one worker). */
  readonly control: string | undefined;
  /** Its workers; [0] is the initializer. */
  readonly workers: readonly ClusterWorker[];
  readonly initializer: ClusterWorker;
  readonly resilienceDir: string;
  /** Stops every worker (SIGTERM, members first); resolves with their exits. */
  stop(): Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null }[]>;
}

/**
 * Starts the initializer alone (its control channel on `control`, by default
 * HOST:0); resolves once its control channel listens, with the bound address.
 */
export async function startInitializer(
  spec: ClusterSpec,
  resilienceDir: string,
  control?: string,
): Promise<{ proc: RooProcess; control: string | undefined }> {
  const host = spec.host?.(0) ?? LOCAL;
  const args = initializerArgs(
    {
      ...spec,
      out: spec.outOf?.(0) ?? spec.out,
      name: INITIALIZER,
      host,
      source: true,
      resilienceDir,
    },
    spec.workers,
    control ?? `${host}:0`,
  );
  const proc = RooProcess.spawn(INITIALIZER, args, spec.spawn?.(0));
  if (spec.workers === 1) return { proc, control: undefined };
  const match = await proc.waitForStderr(CONTROL_LISTENING);
  return { proc, control: match[1]! };
}

/** Starts member `index` (1..) of `spec`'s cluster, joining through `control`. */
export async function startMember(
  spec: ClusterSpec,
  index: number,
  control: string,
  resilienceDir: string,
  name = workerName(index),
): Promise<RooProcess> {
  const host = spec.host?.(index) ?? LOCAL;
  const myControl = spec.myControlOf?.(index);
  const args = await memberArgs(
    {
      ...spec,
      out: spec.outOf?.(index) ?? spec.out,
      name,
      host,
      source: spec.sources === 'all',
      resilienceDir,
      ...(myControl === undefined ? {} : { myControl }),
    },
    control,
  );
  return RooProcess.spawn(name, args, spec.spawn?.(index));
}

/**
 * Starts an N-worker cluster: the initializer first (its control port read
 * from its log), then the members; resolves once every worker has logged
 * PHASE III.
 */
export async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  const resilienceDir = spec.resilienceDir ?? makeResilienceDir();
  const init = await startInitializer(spec, resilienceDir);
  const procs: { name: string; proc: RooProcess }[] = [{ name: INITIALIZER, proc: init.proc }];
  for (let i = 1; i < spec.workers; i++) {
    const proc = await startMember(spec, i, init.control!, resilienceDir);
    procs.push({ name: workerName(i), proc });
  }
  const workers = await Promise.all(procs.map((p) => readyWorker(p.name, p.proc)));
  return clusterOf(workers, init.control, resilienceDir);
}

/** A {@link Cluster} over workers already running ([0] the initializer). */
export function clusterOf(
  workers: readonly ClusterWorker[],
  control: string | undefined,
  resilienceDir: string,
): Cluster {
  return {
    control,
    workers,
    initializer: workers[0]!,
    resilienceDir,
    async stop() {
      const members = workers.slice(1);
      const exits = await Promise.all(members.map((w) => w.proc.stop()));
      const first = await workers[0]!.proc.stop();
      return [first, ...exits].map((e, i) => ({
        name: i === 0 ? workers[0]!.name : members[i - 1]!.name,
        code: e.code,
        signal: e.signal,
      }));
    },
  };
}

/** Every problem a worker logged (`ROO_ERR_...` codes), by code. */
export function errorCodes(proc: RooProcess): string[] {
  return [...new Set(proc.stderr.match(/ROO_ERR_[A-Z_]+/g) ?? [])].sort();
}

// ---------------------------------------------------------------------------
// Partition query.

/** One key group of a partition query, as `roo status --partitions --json` prints it. */
export interface KeyGroupJson {
  readonly keyGroup: number;
  readonly worker: string;
  readonly thread: number;
  readonly count: number;
  readonly keys: readonly string[];
  readonly truncated: boolean;
}

/** The answer of `roo status ADDR --partitions --json`. */
export interface PartitionQueryJson {
  readonly worker: string;
  readonly routingVersion: number;
  readonly keysPerGroup: number;
  readonly partitions: readonly {
    readonly name: string;
    readonly keyGroups: number;
    readonly entities: number;
    readonly groups: readonly KeyGroupJson[];
  }[];
}

/** Runs `roo status ADDR --partitions --json --keys N`; fails unless it exits 0. */
export async function partitionQuery(
  external: string,
  keysPerGroup = 10_000,
  options: SpawnOptions = {},
): Promise<PartitionQueryJson> {
  const r = await runRoo(
    ['status', external, '--partitions', '--json', '--keys', String(keysPerGroup)],
    DEFAULT_WAIT_MS,
    options,
  );
  if (r.code !== 0) {
    throw new Error(`roo status ${external} --partitions exited ${r.code}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as PartitionQueryJson;
}

/** Where each key and key group of `partition` is, over the answers of every worker. */
export interface Ownership {
  /** Key -> workers that report it (exactly one when all is well). */
  readonly keys: Map<string, string[]>;
  /** Key group -> workers that report it. */
  readonly groups: Map<number, string[]>;
  /** Key groups of the partition in the whole cluster. */
  readonly keyGroups: number;
  /** Problems found in the answers themselves (a group reported for another worker, truncated keys). */
  readonly problems: string[];
}

/** Puts together the partition queries of every worker for `partition`. */
export function ownership(answers: readonly PartitionQueryJson[], partition: string): Ownership {
  const keys = new Map<string, string[]>();
  const groups = new Map<number, string[]>();
  const problems: string[] = [];
  let keyGroups = -1;
  const add = <K>(map: Map<K, string[]>, k: K, worker: string) => {
    const list = map.get(k);
    if (list === undefined) map.set(k, [worker]);
    else list.push(worker);
  };
  for (const answer of answers) {
    const p = answer.partitions.find((x) => x.name === partition);
    if (p === undefined) {
      problems.push(`worker '${answer.worker}' reports no partition '${partition}'`);
      continue;
    }
    if (keyGroups >= 0 && p.keyGroups !== keyGroups) {
      problems.push(
        `worker '${answer.worker}' says ${p.keyGroups} key groups, another ${keyGroups}`,
      );
    }
    keyGroups = p.keyGroups;
    for (const g of p.groups) {
      if (g.worker !== answer.worker) {
        problems.push(`worker '${answer.worker}' reports key group ${g.keyGroup} on '${g.worker}'`);
      }
      if (g.truncated || g.keys.length !== g.count) {
        problems.push(`key group ${g.keyGroup} lists ${g.keys.length} of ${g.count} keys`);
      }
      add(groups, g.keyGroup, answer.worker);
      for (const k of g.keys) add(keys, k, answer.worker);
    }
  }
  return { keys, groups, keyGroups, problems };
}

// ---------------------------------------------------------------------------
// A line receiver that keeps each connection's lines whole.

/**
 * A line receiver as its own process (`node -e`), for where this process
 * cannot listen (another network namespace). It prints each connection's
 * complete lines on stdout (a pipe: synchronous on Linux, so nothing is lost
 * on exit), and on stderr `Listening on HOST:PORT`, `connection from
 * HOST:PORT` and `partial line: ...` for a connection that ended inside a line.
 */
export const LINE_RECEIVER_SCRIPT = `
const net = require('node:net');
const host = process.argv[1];
const server = net.createServer((s) => {
  process.stderr.write('connection from ' + s.remoteAddress + ':' + s.remotePort + '\\n');
  let rest = '';
  s.setEncoding('utf8');
  s.on('data', (chunk) => {
    const parts = (rest + chunk).split('\\n');
    rest = parts.pop();
    if (parts.length > 0) process.stdout.write(parts.join('\\n') + '\\n');
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (rest !== '') process.stderr.write('partial line: ' + JSON.stringify(rest) + '\\n');
  });
});
server.listen(0, host, () => {
  process.stderr.write('Listening on ' + host + ':' + server.address().port + '\\n');
});
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts {@link LINE_RECEIVER_SCRIPT} on `host:0`; resolves once it listens. */
export async function startLineReceiverProcess(
  host: string,
  options: SpawnOptions = {},
): Promise<{ proc: RooProcess; address: string }> {
  const proc = RooProcess.spawnNode('line receiver', ['-e', LINE_RECEIVER_SCRIPT, host], options);
  const match = await proc.waitForStderr(/^Listening on (\S+:\d+)$/m);
  return { proc, address: match[1]! };
}

/**
 * Listens for sink connections and collects complete lines, split per
 * connection, so lines of several workers never interleave. A connection
 * that ends inside a line is recorded in `partial`.
 */
export class LineReceiver {
  /** Every complete line, in the order lines completed. */
  readonly lines: string[] = [];
  /** Bytes left without a newline when a connection closed. */
  readonly partial: string[] = [];
  /** Connections accepted so far. */
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private waiters: { done: (lines: readonly string[]) => boolean; resolve: () => void }[] = [];

  private constructor(
    private readonly server: Server,
    /** `host:port` it listens on. */
    readonly address: string,
  ) {}

  /**
   * Listens on `host:0`. With `throttle`, it is a slow sink's receiver: each
   * connection takes about `bytes` and then stops reading for `everyMs`, so
   * TCP pushes back on the sink (the pace is the stub's, never asserted on).
   */
  static async start(
    host = LOCAL,
    throttle?: { readonly bytes: number; readonly everyMs: number },
  ): Promise<LineReceiver> {
    const accept: { to?: LineReceiver } = {};
    const server = createServer((s) => accept.to!.accept(s));
    server.listen(0, host);
    await once(server, 'listening');
    accept.to = new LineReceiver(server, `${host}:${(server.address() as AddressInfo).port}`);
    accept.to.throttle = throttle;
    return accept.to;
  }

  private throttle: { readonly bytes: number; readonly everyMs: number } | undefined;

  /** The lines joined, each with its newline (as `roo receive` would print them). */
  get text(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }

  /** Resolves once at least `n` lines have arrived; rejects after `timeoutMs` with `describe()`. */
  waitForLines(n: number, timeoutMs: number, describe: () => string = () => ''): Promise<void> {
    return this.waitUntil(
      () => this.lines.length >= n,
      timeoutMs,
      () => `waiting for ${n} lines (have ${this.lines.length})\n${describe()}`,
    );
  }

  /**
   * Resolves once `done(lines)` holds, checked now and whenever lines arrive;
   * rejects after `timeoutMs` with `describe()`.
   */
  waitUntil(
    done: (lines: readonly string[]) => boolean,
    timeoutMs: number,
    describe: () => string = () => 'waiting for a condition on the lines',
  ): Promise<void> {
    if (done(this.lines)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms ${describe()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    let rest = '';
    socket.setEncoding('utf8');
    let taken = 0;
    socket.on('data', (chunk: string) => {
      const throttle = this.throttle;
      if (throttle !== undefined && (taken += chunk.length) >= throttle.bytes) {
        taken = 0;
        socket.pause();
        setTimeout(() => socket.resume(), throttle.everyMs).unref();
      }
      const text = rest + chunk;
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const line of parts) this.lines.push(line);
      if (parts.length > 0) this.poke();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (rest !== '') this.partial.push(rest);
    });
  }

  private poke(): void {
    const due = this.waiters.filter((w) => w.done(this.lines));
    this.waiters = this.waiters.filter((w) => !due.includes(w));
    for (const w of due) w.resolve();
  }
}
