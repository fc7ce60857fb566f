/**
 * The processes of the cluster benchmark (bench/cluster.ts): a cluster of N
 * `roo worker`s started for one measurement, and the measurements.
 *
 *   roo send --repeat --no-acks (child, the corpus file round and round)
 *   → the initializer's source (--cluster-initializer --worker-count N)
 *   → N workers, --ponythreads 1 each, the others joining the initializer
 *   → each worker's own --out connection to a receiver in this process
 *
 * Every (size, rep) gets a fresh cluster: every worker its own --external
 * channel and a fresh --resilience-dir under the OS temp dir (removed
 * afterwards). Start-up runs from the first spawn until every worker logged
 * that it is ready (INIT PHASE III) and is in no rate. After the warm-up
 * (from the sender's spawn) the outputs counted at the receiver over the
 * window give words/s; the messages the workers sent each other are read
 * over their external channels before and after the window; the CPU of
 * each worker comes from /proc/PID/stat, the whole machine's from
 * /proc/stat (LoadProbe). Repetitions are interleaved: rep 1 of every size,
 * then rep 2, ...
 *
 * A cluster fails when a worker or its sender dies, a worker never reports
 * ready, no output arrives in the window, or the output holds control bytes
 * (word count's text has none: the stream is corrupted, not just short);
 * the failure is recorded and the other clusters go on, as in part (d) of
 * `roo bench` (engine-tcp.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress } from '../protocols/index.js';
import { requestExternal } from '../runtime/cli/external-client.js';
import { LogLine } from '../runtime/logging/log-lines.js';
import { OPEN_CHANNELS, type ChannelSecurity } from '../runtime/security/index.js';
import {
  BenchChild,
  BenchFailure,
  LOCAL_HOST,
  rootDir,
  stopAll,
  watchUntil,
} from './bench-child.js';
import { LATENCY_WARMUP_SECONDS, type ClusterOptions } from './cluster-options.js';
import {
  workersText,
  type ClusterFailure,
  type ClusterLatency,
  type ClusterRun,
} from './cluster-summary.js';
import { CountingReceiver } from './counting-receiver.js';
import { latencyAppPath, runLatency } from './latency.js';
import { formatMicros, formatRate, LoadProbe, processCpuMs } from './stats.js';

/** How long a refused status request waits to learn whether a process died. */
const EXIT_NOTICE_MS = 1000;

/** `text` as a regular expression that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A worker's line saying that it is ready to work. */
const READY_LINE = new RegExp(literal(LogLine.InitPhaseIII));
/** A worker's line saying where its external channel listens. */
const EXTERNAL_LINE = new RegExp(`${literal(LogLine.ExternalListening)} (\\S+)`);

/** The word count application every throughput cluster runs. */
function wordCountAppPath(): string {
  return join(rootDir(), 'examples', 'word_count', 'app.ts');
}

/** A started cluster: its processes (the initializer first) and addresses. */
export interface Cluster {
  readonly children: BenchChild[];
  /** Where the initializer's source listens. */
  readonly source: string;
  /** Each worker's external channel, in the order of `children`. */
  readonly externals: string[];
}

/** A fresh, empty --resilience-dir per worker under the OS temp dir. */
function resilienceDirs(workers: number): string[] {
  return Array.from({ length: workers }, () => mkdtempSync(join(tmpdir(), 'roo-bench-cluster-')));
}

/** Removes the directories of resilienceDirs; never throws. */
function removeDirs(dirs: readonly string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** `promise`, with its rejection marked handled: it may be awaited later, or never. */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * How the cluster's channels are protected (bench/cluster-tls.ts): the
 * flags every worker gets, and what the bench's own status requests need.
 */
export interface ClusterProtection {
  /** A short name for progress lines and the report. */
  readonly name: string;
  readonly workerFlags: readonly string[];
  readonly security: ChannelSecurity;
}

/** No protection: the workers as they start without flags. */
export const UNPROTECTED: ClusterProtection = {
  name: 'open',
  workerFlags: [],
  security: OPEN_CHANNELS,
};

/**
 * Starts an N-worker cluster of `app` writing to `out`, every worker with
 * one scheduler thread, its own external channel and `dirs[i]` as its
 * resilience directory (and `extra` flags); resolves once every worker
 * logged that it is ready. On a failure it stops what it started and throws.
 */
export async function startCluster(
  workers: number,
  out: string,
  app: string,
  dirs: readonly string[],
  extra: readonly string[] = [],
): Promise<Cluster> {
  const children: BenchChild[] = [];
  const common = (w: number): string[] => [
    ...['worker', '--application-module', app, '--out', out, '--ponythreads', '1'],
    ...['--external', `${LOCAL_HOST}:0`, '--resilience-dir', dirs[w] as string],
    ...extra,
  ];
  // Every wait is set up at spawn: waitForLine sees only lines that come after it.
  const watch = (child: BenchChild): [Promise<RegExpExecArray>, Promise<RegExpExecArray>] => {
    children.push(child);
    return [
      later(child.waitForLine(EXTERNAL_LINE, 'its external channel')),
      later(child.waitForLine(READY_LINE, 'that it is ready')),
    ];
  };
  try {
    const init = BenchChild.roo([
      ...common(0),
      ...['--in', `${LOCAL_HOST}:0`, '--name', 'initializer'],
      ...['--cluster-initializer', '--worker-count', String(workers)],
      ...['--control', `${LOCAL_HOST}:0`, '--data', `${LOCAL_HOST}:0`],
    ]);
    const waits = [watch(init)];
    const listening = later(init.waitForLine(/source '.*' listening on (\S+)/, 'its source'));
    if (workers > 1) {
      const [, control] = await init.waitForLine(
        /control channel listening on ([^\s;]+)/,
        'its control',
      );
      for (let w = 2; w <= workers; w++) {
        const member = BenchChild.roo([
          ...common(w - 1),
          ...['--name', `worker${w}`, '--control', control as string],
          ...['--my-data', `${LOCAL_HOST}:0`],
        ]);
        waits.push(watch(member));
      }
    }
    const externals = (await Promise.all(waits.map(([external]) => external))).map(
      (m) => m[1] as string,
    );
    await Promise.all(waits.map(([, ready]) => ready));
    const [, source] = await listening;
    return { children, source: source as string, externals };
  } catch (err) {
    await stopAll(children);
    throw err;
  }
}

/** Messages every worker has sent to other workers so far, summed (over their external channels). */
async function crossed(
  externals: readonly string[],
  security: ChannelSecurity = OPEN_CHANNELS,
): Promise<number> {
  let total = 0;
  for (const address of externals) {
    let answer;
    try {
      answer = await requestExternal(parseAddress(address), 'status', { security });
    } catch (err) {
      throw new BenchFailure(
        `status over the external channel ${address}: ${(err as Error).message}`,
      );
    }
    const result = answer.result as { threadStats?: { sentToWorkers?: number }[] } | undefined;
    for (const t of result?.threadStats ?? []) total += t.sentToWorkers ?? 0;
  }
  return total;
}

/** CPU ms of each of `pids` so far (undefined for one that cannot be read). */
function cpuOf(pids: readonly number[]): (number | undefined)[] {
  return pids.map(processCpuMs);
}

/** Cores each process kept busy between two cpuOf readings over `wallMs`. */
function coresBetween(
  before: readonly (number | undefined)[],
  after: readonly (number | undefined)[],
  wallMs: number,
): (number | undefined)[] {
  return before.map((b, i) => {
    const a = after[i];
    return a === undefined || b === undefined ? undefined : (a - b) / wallMs;
  });
}

/** How a cluster is named in progress and failure lines. */
function label(workers: number, rep: number): string {
  return `${workersText(workers)}, cluster ${rep}`;
}

/** One fresh cluster: start, feed, warm up, measure, stop. */
export async function measureCluster(
  o: ClusterOptions,
  corpusPath: string,
  workers: number,
  rep: number,
  log: (line: string) => void,
  protection: ClusterProtection = UNPROTECTED,
): Promise<ClusterRun> {
  const name =
    protection === UNPROTECTED ? label(workers, rep) : `${label(workers, rep)}, ${protection.name}`;
  const receiver = await CountingReceiver.listen('lines');
  const dirs = resilienceDirs(workers);
  let cluster: Cluster | undefined;
  let sender: BenchChild | undefined;
  try {
    const t0 = performance.now();
    const c = await startCluster(
      workers,
      receiver.address,
      wordCountAppPath(),
      dirs,
      protection.workerFlags,
    );
    cluster = c;
    const startSeconds = (performance.now() - t0) / 1000;
    log(`  ${name}: start-up ${startSeconds.toFixed(2)} s (spawn until every worker logged ready)`);
    const s = BenchChild.roo([
      ...['send', '--host', c.source, '--file', corpusPath, '--repeat', '--no-acks'],
    ]);
    sender = s;
    const sent = performance.now();
    const problem = (): string | undefined => {
      const dead = c.children.find((p) => p.exit !== undefined);
      if (dead !== undefined) return dead.describe();
      if (s.exit !== undefined) return `the sender stopped: ${s.describe()}`;
      if (receiver.controlBytes > 0) return `wrong output: ${receiver.describe()}`;
      return undefined;
    };
    // A worker that dies closes its external channel: name the death, not the refused request.
    const readCrossed = async (): Promise<number> => {
      try {
        return await crossed(c.externals, protection.security);
      } catch (err) {
        await Promise.race([
          Promise.any([...c.children, s].map((p) => p.exited)),
          new Promise((r) => setTimeout(r, EXIT_NOTICE_MS)),
        ]);
        const why = problem();
        throw why === undefined ? err : new BenchFailure(why);
      }
    };
    await watchUntil(sent + o.warmupSeconds * 1000, problem);
    const workerPids = c.children.map((p) => p.pid);
    const x0 = await readCrossed();
    const x0At = performance.now();
    const probe = new LoadProbe([...workerPids, s.pid]);
    const count0 = receiver.count;
    const workers0 = cpuOf(workerPids);
    const sender0 = processCpuMs(s.pid);
    const w0 = performance.now();
    probe.start();
    const warmupRate = count0 / ((w0 - sent) / 1000);
    log(`  ${name}: warm-up ${formatRate(warmupRate)} words/s`);
    await watchUntil(w0 + o.seconds * 1000, problem);
    const count1 = receiver.count;
    const workers1 = cpuOf(workerPids);
    const sender1 = processCpuMs(s.pid);
    const w1 = performance.now();
    const load = probe.stop();
    const x1 = await readCrossed();
    const x1At = performance.now();
    const words = count1 - count0;
    if (words === 0) {
      throw new BenchFailure(`no output in the ${o.seconds} s window (${receiver.describe()})`);
    }
    const wallMs = w1 - w0;
    const perWorker = coresBetween(workers0, workers1, wallMs);
    const senderCores = coresBetween([sender0], [sender1], wallMs)[0] ?? 0;
    const workerCores = perWorker.map((x) => x ?? 0);
    const workersCpuMs = workerCores.reduce((a, b) => a + b, 0) * wallMs;
    const run: ClusterRun = {
      workers,
      rep,
      startSeconds,
      warmupRate,
      rate: words / (wallMs / 1000),
      crossingRate: (x1 - x0) / ((x1At - x0At) / 1000),
      // LoadProbe reads /proc/stat: the machine's busy time is this process, the
      // processes it was given (workers, sender) and everyone else.
      machineCores: load.ownCpu + workerCores.reduce((a, b) => a + b, senderCores) + load.otherLoad,
      workerCores,
      senderCores,
      receiverCores: load.ownCpu,
      otherLoad: load.otherLoad,
      cpuNsPerWord: perWorker.includes(undefined) ? undefined : (workersCpuMs * 1e6) / words,
    };
    log(
      `  ${name}: window ${formatRate(run.rate)} words/s, ${formatRate(run.crossingRate)} msgs/s ` +
        `across workers, machine ${run.machineCores.toFixed(2)} cores busy, workers ` +
        `${workerCores.map((x) => x.toFixed(2)).join(' + ')}`,
    );
    return run;
  } finally {
    // The sender first, so that the workers stop idle.
    await sender?.stop();
    await stopAll(cluster?.children ?? []);
    await receiver.close();
    removeDirs(dirs);
  }
}

/** The throughput runs and failures, filled as clusters end so a failure keeps what was measured. */
export interface ClusterSeries {
  readonly runs: ClusterRun[];
  readonly failures: ClusterFailure[];
}

/**
 * The throughput table's clusters: `o.reps` fresh clusters of every size,
 * interleaved (1w, 2w, 1w, 2w, ...). Fills `into` and returns it; stops
 * every process it started.
 */
export async function runClusterSeries(
  o: ClusterOptions,
  corpusPath: string,
  log: (line: string) => void,
  into: ClusterSeries = { runs: [], failures: [] },
): Promise<ClusterSeries> {
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const workers of o.workers) {
      try {
        into.runs.push(await measureCluster(o, corpusPath, workers, rep, log));
      } catch (err) {
        if (!(err instanceof BenchFailure)) throw err;
        const message = `${label(workers, rep)} failed: ${err.message}`;
        log(`  ${message.split('\n')[0]}`);
        into.failures.push({ workers, rep, table: 'throughput', message });
      }
    }
  }
  return into;
}

/**
 * The latency table: one run per size of the latency application
 * (bench/apps/latency.ts, one word per frame, keyed state) on a fresh
 * cluster at `o.latencyRate`. A failed run is recorded and the next goes on.
 */
export async function runClusterLatency(
  o: ClusterOptions,
  lines: readonly string[],
  log: (line: string) => void,
): Promise<{ latencies: ClusterLatency[]; failures: ClusterFailure[] }> {
  const latencies: ClusterLatency[] = [];
  const failures: ClusterFailure[] = [];
  for (const workers of o.workers) {
    const dirs = resilienceDirs(workers);
    try {
      const r = await runLatency({
        lines,
        rate: o.latencyRate,
        warmupSeconds: LATENCY_WARMUP_SECONDS,
        seconds: o.latencySeconds,
        threads: 1,
        log: () => undefined,
        start: (out) => startCluster(workers, out, latencyAppPath(), dirs),
      });
      const l = r.summary;
      log(
        `  latency, ${workersText(workers)}: p50 ${formatMicros(l.p50)}, p99 ${formatMicros(l.p99)}, ` +
          `p99.99 ${formatMicros(l.p9999)}, max ${formatMicros(l.max)}`,
      );
      latencies.push({ workers, summary: l, sentRate: r.sentRate });
    } catch (err) {
      if (!(err instanceof BenchFailure)) throw err;
      const message = `latency, ${workersText(workers)} failed: ${err.message}`;
      log(`  ${message.split('\n')[0]}`);
      latencies.push({ workers, summary: undefined, sentRate: undefined });
      failures.push({ workers, rep: 1, table: 'latency', message });
    } finally {
      removeDirs(dirs);
    }
  }
  return { latencies, failures };
}
