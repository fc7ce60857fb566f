/**
 * Every listening port of a running two-worker word count cluster (resilience
 * on, a checkpoint every 200 ms) under fast-check generated bad input
 * (helpers/port-fuzz.ts): the TCP source (`--in`), both workers' data ports,
 * the initializer's control port and both workers' external ports get, a few
 * connections at once per run, random bytes, well-framed messages with bad
 * contents (a wrong type, version or fields; a data batch whose rows are
 * garbage; control messages naming members, from a stranger), streams cut at
 * any point, headers announcing huge lengths, and bytes dripped one at a time
 * and then stalled, ended or reset.
 *
 * Afterwards every worker still runs (the same process: `roo status` reports
 * its pid), answers `roo status`, has logged typed errors for what it refused,
 * and counts exactly: the GPL text sent with `roo send` (crossing both
 * workers) gives every word's outputs as 1, 2, ..., n in order. Garbage sent
 * to the TCP source is application input and is counted too; so for each
 * word n must lie between its count in the text and that plus the times the
 * garbage could have held it (helpers/key-outputs.ts).
 *
 * Deterministic: the seed (ROO_FUZZ_SEED, default below) is in the test's
 * name; a failure prints it with the attacks of the failing run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, LineReceiver, startCluster, stopClusters } from './helpers/cluster.js';
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
import { ROOT, rooSend, runRoo } from './helpers/processes.js';

const SEED = Number(process.env['ROO_FUZZ_SEED'] ?? 20_240_611);
/** Runs of the property: each is a handful of connections at once, about half a second. */
const RUNS = Number(process.env['ROO_FUZZ_RUNS'] ?? 40);
const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));

let out: LineReceiver;
let cluster: Cluster;
let targets: Targets;
/** Each worker's pid as `roo status` reported it before the storm, and its RSS then. */
const pids: number[] = [];
const rssBefore: number[] = [];
/**
 * How much a worker's resident memory may grow over the storm: the storm
 * sends a few hundred kilobytes; a worker that set aside what headers
 * announce, or kept what dead connections sent, would grow far past this.
 */
const RSS_GROWTH_BOUND = 256 * 1024 * 1024;

/** Resident memory of process `pid` in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
/** The bytes of every attack on the TCP source, as latin1 with ASCII letters lower-cased. */
const sourceStreams: string[] = [];
const attacked = new Map<PortKind, number>();
/** Log lines of a cluster that obeyed what only a member may ask: a shutdown, a shrink, a rebalance. */
const OBEYED = /shutting the cluster down|reconfiguration \d+|is joining the running cluster/;

async function status(external: string): Promise<{ worker: string; pid: number }> {
  const r = await runRoo(['status', external, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { worker: string; pid: number };
}

beforeAll(async () => {
  out = await LineReceiver.start();
  cluster = await startCluster({
    module: 'examples/word_count/app.ts',
    workers: 2,
    out: out.address,
    extra: ['--run-with-resilience', '--time-between-checkpoints', '200_000_000'],
  });
  targets = {
    source: cluster.initializer.source,
    control: cluster.control!,
    data: cluster.workers.map((w) => w.data!),
    external: cluster.workers.map((w) => w.external!),
  };
  for (const w of cluster.workers) {
    const pid = (await status(w.external!)).pid;
    pids.push(pid);
    rssBefore.push(rssOf(pid));
  }
}, 60_000);

afterAll(async () => {
  await stopClusters();
  await out.close();
});

function describeRun(attacks: readonly Attack[]): string {
  return attacks.map((a) => `${a.label} -> worker ${a.worker}`).join('; ');
}

describe(`every port of a running cluster, fuzzed (fast-check seed ${SEED}, ${RUNS} runs)`, () => {
  it('no bad connection, alone or with others at once, stops a worker', async () => {
    const facts = { members: cluster.workers.map((w) => w.name) };
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
          for (const w of cluster.workers) {
            if (w.proc.exitStatus !== undefined) {
              throw w.proc.failure(`exited after: ${describeRun(attacks)}`);
            }
            if (OBEYED.test(w.proc.stderr)) {
              throw w.proc.failure(`obeyed a stranger after: ${describeRun(attacks)}`);
            }
          }
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The seed reached every kind of port.
    expect([...attacked.keys()].sort()).toEqual(['control', 'data', 'external', 'source']);
  }, 120_000);

  it('every worker is the same process, answers roo status, holds no more memory, and logged typed errors', async () => {
    for (const [i, w] of cluster.workers.entries()) {
      expect(w.proc.exitStatus, w.proc.failure('exited').message).toBeUndefined();
      const s = await status(w.external!);
      expect(s).toMatchObject({ worker: w.name, pid: pids[i] });
      expect(rssOf(s.pid) - rssBefore[i]!, `${w.name}'s RSS growth`).toBeLessThan(RSS_GROWTH_BOUND);
      expect(w.proc.stderr).not.toMatch(/FATAL|uncaught|unhandled/i);
    }
    // What the storm sent was refused with typed, logged errors, not silently.
    expect(cluster.initializer.proc.stderr).toMatch(/ROO_ERR_[A-Z_]+/);
    // Nothing a stranger said on the control port was obeyed.
    const init = cluster.initializer.proc.stderr;
    for (const w of cluster.workers) expect(w.proc.stderr).not.toMatch(OBEYED);
    expect(init).toMatch(/ignored a '[a-z-]+' .*from connection #\d+/);
  });

  it('afterwards text sent with roo send, crossing both workers, is counted exactly', async () => {
    await rooSend(cluster.initializer.source, GPL);
    // Every word of the text has reached at least its count (the garbage can only add).
    const reached = (lines: readonly string[]) => {
      const last = new Map<string, number>();
      for (const line of lines) {
        const sep = line.lastIndexOf(' => ');
        const word = line.slice(0, sep);
        if (reference.has(word))
          last.set(word, Math.max(last.get(word) ?? 0, Number(line.slice(sep + 4))));
      }
      for (const [word, n] of reference) if ((last.get(word) ?? 0) < n) return false;
      return true;
    };
    await out.waitUntil(
      reached,
      60_000,
      () => `waiting for every word of the text (${out.lines.length} lines)`,
    );
    const exits = await cluster.stop();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(out.partial).toEqual([]);
    const extra = (word: string) =>
      /^[\x00-\x7f]*$/.test(word) ? occurrencesIn(sourceStreams, word) : Number.POSITIVE_INFINITY;
    expect(boundedWordCountProblems(parseKeyOutputs(out.text), reference, extra)).toEqual([]);
    // Both workers wrote outputs: the text crossed between them.
    expect(out.connections).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
