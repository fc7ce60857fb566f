/**
 * Every listening port of a running two-worker word count cluster under
 * fast-check generated bad input (helpers/port-fuzz.ts). The cluster runs
 * with resilience (a checkpoint every 200 ms), the exactly-once sink into
 * `roo receive --output FILE --ledger FILE`, and reports to `roo metrics`.
 * The ports: the TCP source (`--in`), both workers' data ports, the
 * initializer's control port, both workers' external ports, `roo receive`'s
 * port (the sinks' transactions and acknowledgements), and `roo metrics`'
 * report port and UI. A run plays a few connections at once: random bytes,
 * well-framed messages with bad contents (a wrong type, version or fields; a
 * data batch whose rows are garbage; control messages naming members, from a
 * stranger; a transaction whose body never arrives), streams cut at any
 * point, headers announcing huge lengths, and bytes dripped one at a time and
 * then stalled, ended or reset.
 *
 * Afterwards every worker still runs (the same process: `roo status` reports
 * its pid) and answers `roo status`, its memory has not grown with what the
 * storm announced, it logged typed errors for what it refused, and nothing a
 * stranger asked of the control port was obeyed; `roo receive` and `roo
 * metrics` still run and the metrics page still lists both workers; and the
 * cluster counts exactly: the GPL text sent with `roo send` (crossing both
 * workers) gives every word's outputs as 1, 2, ..., n in order in the
 * receiver's file. Garbage sent to the TCP source is application input and
 * is counted too; so for each word n lies between its count in the text and
 * that plus the times the garbage could have held it (helpers/key-outputs.ts).
 *
 * Deterministic: the seed (ROO_FUZZ_SEED, default below) is in the test's
 * name; a failure prints it with the attacks of the failing run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, makeResilienceDir, startCluster, stopClusters } from './helpers/cluster.js';
import { DurableReceiver, FileFollower } from './helpers/durable-receiver.js';
import { rssOf } from './helpers/memory.js';
import {
  boundedWordCountProblems,
  occurrencesIn,
  parseKeyOutputs,
  referenceWordCounts,
} from './helpers/key-outputs.js';
import {
  attackArb,
  playAttack,
  type Attack,
  type PortKind,
  type Targets,
} from './helpers/port-fuzz.js';
import { LOCAL, ROOT, RooProcess, rooSend, runRoo } from './helpers/processes.js';

const SEED = Number(process.env['ROO_FUZZ_SEED'] ?? 20_240_611);
/** Runs of the property: each is a handful of connections at once, a fraction of a second. */
const RUNS = Number(process.env['ROO_FUZZ_RUNS'] ?? 80);
const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));
/**
 * How much a worker's resident memory may grow over the storm: the storm
 * sends a few hundred kilobytes; a worker that set aside what headers
 * announce, or kept what dead connections sent, would grow far past this.
 */
const RSS_GROWTH_BOUND = 256 * 1024 * 1024;
/** Log lines of a cluster that obeyed what only a member may ask: a shutdown, a shrink, a rebalance. */
const OBEYED = /shutting the cluster down|reconfiguration \d+|is joining the running cluster/;

let receiver: DurableReceiver;
let file: FileFollower;
let metrics: RooProcess;
let metricsHttp: string;
let cluster: Cluster;
let targets: Targets;
/** Each worker's pid as `roo status` reported it before the storm, and its RSS then. */
const pids: number[] = [];
const rssBefore: number[] = [];
/** The bytes of every attack on the TCP source, as latin1 with ASCII letters lower-cased. */
const sourceStreams: string[] = [];
const attacked = new Map<PortKind, number>();

async function status(external: string): Promise<{ worker: string; pid: number }> {
  const r = await runRoo(['status', external, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { worker: string; pid: number };
}

/** `roo metrics`' Prometheus page. */
async function metricsPage(): Promise<string> {
  const res = await fetch(`http://${metricsHttp}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  metrics = RooProcess.spawn('metrics', [
    'metrics',
    '--listen',
    `${LOCAL}:0`,
    '--http',
    `${LOCAL}:0`,
  ]);
  const report = (await metrics.waitForStderr(/^Listening for metrics on (\S+:\d+)$/m))[1]!;
  metricsHttp = (await metrics.waitForStderr(/^Metrics UI at http:\/\/(\S+:\d+)\/$/m))[1]!;
  const dir = makeResilienceDir();
  receiver = await DurableReceiver.create(dir);
  file = new FileFollower(receiver.output);
  await receiver.start();
  cluster = await startCluster({
    module: 'examples/word_count/app.ts',
    workers: 2,
    out: receiver.address,
    resilienceDir: dir,
    extra: [
      '--run-with-resilience',
      '--time-between-checkpoints',
      '200_000_000',
      '--metrics',
      report,
    ],
    appArgs: ['--exactly-once'],
  });
  targets = {
    source: cluster.initializer.source,
    control: cluster.control!,
    data: cluster.workers.map((w) => w.data!),
    external: cluster.workers.map((w) => w.external!),
    receive: receiver.address,
    metrics: report,
    metricsHttp,
  };
  for (const w of cluster.workers) {
    const pid = (await status(w.external!)).pid;
    pids.push(pid);
    rssBefore.push(rssOf(pid));
  }
}, 60_000);

afterAll(async () => {
  file.close();
  await stopClusters();
});

function describeRun(attacks: readonly Attack[]): string {
  return attacks.map((a) => `${a.label} -> worker ${a.worker}`).join('; ');
}

describe(`every port of a running cluster, fuzzed (fast-check seed ${SEED}, ${RUNS} runs)`, () => {
  it('no bad connection, alone or with others at once, stops a process', async () => {
    const facts = { members: cluster.workers.map((w) => w.name) };
    const all = [...cluster.workers.map((w) => w.proc), receiver.proc, metrics];
    await fc.assert(
      fc.asyncProperty(
        fc.array(attackArb(facts), { minLength: 1, maxLength: 5 }),
        async (attacks) => {
          for (const a of attacks) {
            attacked.set(a.port, (attacked.get(a.port) ?? 0) + 1);
            if (a.port === 'source' && a.raw !== undefined) {
              sourceStreams.push(
                Buffer.from(a.raw.bytes)
                  .toString('latin1')
                  .replace(/[A-Z]+/g, (s) => s.toLowerCase()),
              );
            }
          }
          await Promise.all(attacks.map((a) => playAttack(a, targets)));
          for (const p of all) {
            if (p.exitStatus !== undefined)
              throw p.failure(`exited after: ${describeRun(attacks)}`);
          }
          for (const w of cluster.workers) {
            if (OBEYED.test(w.proc.stderr)) {
              throw w.proc.failure(`obeyed a stranger after: ${describeRun(attacks)}`);
            }
          }
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The seed reached every kind of port.
    expect([...attacked.keys()].sort()).toEqual([
      'control',
      'data',
      'external',
      'metrics',
      'metrics-http',
      'receive',
      'source',
    ]);
  }, 120_000);

  it('every worker is the same process, answers roo status, holds no more memory, and logged typed errors', async () => {
    for (const [i, w] of cluster.workers.entries()) {
      expect(w.proc.exitStatus, w.proc.failure('exited').message).toBeUndefined();
      const s = await status(w.external!);
      expect(s).toMatchObject({ worker: w.name, pid: pids[i] });
      expect(rssOf(s.pid) - rssBefore[i]!, `${w.name}'s RSS growth`).toBeLessThan(RSS_GROWTH_BOUND);
      expect(w.proc.stderr).not.toMatch(/FATAL|uncaught|unhandled/i);
      expect(w.proc.stderr).not.toMatch(OBEYED);
    }
    // What the storm sent was refused with typed, logged errors, not silently.
    const init = cluster.initializer.proc.stderr;
    expect(init).toMatch(/ROO_ERR_[A-Z_]+/);
    expect(init).toMatch(/ignored a '[a-z-]+' .*from connection #\d+/);
    // roo receive and roo metrics carry on, and said why they refused what they refused.
    expect(receiver.proc.exitStatus).toBeUndefined();
    expect(metrics.exitStatus).toBeUndefined();
    // The workers' own reports still reach roo metrics: its page has both.
    const page = await metricsPage();
    for (const w of cluster.workers) expect(page).toContain(`worker="${w.name}"`);
    expect(metrics.stderr).toMatch(/metrics connection from \S+ refused: ROO_ERR_[A-Z_]+/);
    expect(receiver.proc.stderr).toMatch(/ROO_ERR_[A-Z_]+/);
  });

  it('afterwards text sent with roo send, crossing both workers, is counted exactly', async () => {
    await rooSend(cluster.initializer.source, GPL);
    // Every word of the text has reached at least its count (the garbage can only add).
    await file.finalCounts(reference, 60_000);
    const exits = await cluster.stop();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    const extra = (word: string) =>
      /^[\x00-\x7f]*$/.test(word) ? occurrencesIn(sourceStreams, word) : Number.POSITIVE_INFINITY;
    expect(boundedWordCountProblems(parseKeyOutputs(file.text()), reference, extra)).toEqual([]);
    expect(receiver.proc.stderr).not.toMatch(/FATAL|uncaught|unhandled/i);
    // Both workers' sinks wrote to it: the text crossed between the workers.
    for (const w of cluster.workers) {
      expect(receiver.proc.stderr).toContain(`exactly-once sink "${w.name}/tcp sink" connected`);
    }
  }, 120_000);
});
