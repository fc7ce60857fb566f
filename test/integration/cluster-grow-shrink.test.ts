/**
 * Growing and shrinking a running word count cluster of real workers on
 * loopback while text streams in (a paced `roo send` into the initializer):
 *  - grow 2 -> 3 with `--join` (through a member's control address): the
 *    joiner takes key groups from the others, every worker then owns some,
 *    the cluster still has every key group exactly once;
 *  - shrink 3 -> 2 with `roo shrink --workers`: the leaver exits 0, its
 *    files are gone, the others own every group;
 *  - refusals: an unknown or ineligible worker, a second request while one runs;
 * and after each, every word's outputs are exactly 1..n in order against an
 * independent count of what was sent.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import {
  errorCodes,
  LineReceiver,
  ownership,
  partitionQuery,
  readyWorker,
  startCluster,
  stopClusters,
  type Cluster,
  type ClusterWorker,
} from './helpers/cluster.js';
import { pacedSend, referenceOf, spawnJoiner, WORD_COUNT } from './helpers/grow.js';
import { parseKeyOutputs, total, wordCountProblems } from './helpers/key-outputs.js';
import type { WorkerStatus } from '../../runtime/cluster/status.js';
import { runRoo, startReceive, type RooProcess } from './helpers/processes.js';

const PARTITION = 'word totals';

const receivers: LineReceiver[] = [];
const extra: RooProcess[] = [];
/** Joiners started by the running test (their logs are shown if it fails). */
const joined: RooProcess[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((p) => p.stop()));
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** Starts a worker that joins the running cluster through `via` (any member's control address). */
async function join3(
  cluster: Cluster,
  out: string,
  via: string,
  flags: readonly string[],
  appArgs: readonly string[],
  name = 'worker3',
): Promise<ClusterWorker> {
  const proc = await spawnJoiner({
    name,
    via,
    out,
    resilienceDir: cluster.resilienceDir,
    flags,
    appArgs,
  });
  extra.push(proc);
  joined.push(proc);
  return readyWorker(name, proc);
}

/** Every worker's partition query put together. */
async function owners(workers: readonly ClusterWorker[]) {
  return ownership(await Promise.all(workers.map((w) => partitionQuery(w.external!))), PARTITION);
}

/** `roo status --json` of a worker. */
async function clusterStatus(w: ClusterWorker): Promise<WorkerStatus> {
  const r = await runRoo(['status', w.external!, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as WorkerStatus;
}

/** A member's `--my-control` address, from its command line. */
function myControlOf(w: ClusterWorker): string {
  const args = w.proc.args;
  return args[args.indexOf('--my-control') + 1] as string;
}

/** Where the outputs go: a line receiver, or `roo receive` for the exactly-once sink. */
interface Outputs {
  readonly address: string;
  waitFor(lines: number): Promise<void>;
  text(): string;
}

async function outputs(exactlyOnce: boolean): Promise<Outputs> {
  if (exactlyOnce) {
    const r = await startReceive();
    extra.push(r.proc);
    return {
      address: r.address,
      waitFor: (n) => r.proc.waitForStdoutLines(n, 90_000),
      text: () => r.proc.stdoutText,
    };
  }
  const receiver = await LineReceiver.start();
  receivers.push(receiver);
  return {
    address: receiver.address,
    waitFor: (n) => receiver.waitForLines(n, 90_000),
    text: () => receiver.text,
  };
}

const RESILIENT = ['--run-with-resilience', '--time-between-checkpoints', '200_000_000'];

describe('a running cluster grows and shrinks', () => {
  it.each([
    { mode: 'without resilience', resilient: false, exactlyOnce: false },
    { mode: 'with resilience and the exactly-once sink', resilient: true, exactlyOnce: true },
  ])(
    'grows 2 -> 3 through a member, then shrinks back to 2, $mode, with exact counts',
    async ({ resilient, exactlyOnce }) => {
      const out = await outputs(exactlyOnce);
      const seen: RooProcess[] = [];
      onTestFailed(() => {
        for (const p of [...seen, ...joined.splice(0)])
          process.stderr.write(
            `--- ${p.label}\n${p.stderr
              .split('\n')
              .filter((l) => /reconfig|ERROR|WARN|join|left|leav|took|ship|commit/.test(l))
              .slice(-40)
              .join('\n')}\n`,
          );
      });
      const flags = resilient ? RESILIENT : [];
      const appArgs = exactlyOnce ? ['--exactly-once'] : [];
      const cluster = await startCluster({
        module: WORD_COUNT,
        workers: 2,
        out: out.address,
        extra: flags,
        appArgs,
      });
      const messages = 9_000;
      const reference = referenceOf(messages);
      const words = total(reference);
      const send = pacedSend(cluster.initializer.source, messages);
      extra.push(send);
      await out.waitFor(Math.floor(words / 6));

      // Grow, asking the member (not the initializer).
      const before = await owners(cluster.workers);
      const joiner = await join3(
        cluster,
        out.address,
        myControlOf(cluster.workers[1]!),
        flags,
        appArgs,
      );
      const all = [...cluster.workers, joiner];
      const grown = await owners(all);
      expect(grown.problems).toEqual([]);
      expect(grown.groups.size).toBe(before.groups.size);
      expect([...grown.groups.values()].every((on) => on.length === 1)).toBe(true);
      for (const w of all)
        expect([...grown.groups.values()].some((on) => on[0] === w.name)).toBe(true);
      // What the joiner owns, another owned before.
      for (const [g, on] of grown.groups)
        if (on[0] === 'worker3') expect(before.groups.get(g)?.[0]).not.toBe('worker3');
      expect(cluster.initializer.proc.stderr).toMatch(
        /reconfiguration \d+ complete: routing table version 2, 3 workers/,
      );
      const status = await clusterStatus(cluster.initializer);
      expect(status.routingVersion).toBe(2);
      expect(status.cluster.id).toMatch(/^word-count-[0-9a-f]{8}$|^[A-Za-z0-9_.:-]+-[0-9a-f]{8}$/);
      expect(status.cluster.members.map((m) => m.name)).toEqual([
        'initializer',
        'worker2',
        'worker3',
      ]);
      expect(status.cluster.members.map((m) => m.keyGroups)).toEqual([86, 85, 85]);
      expect(status.cluster.reconfiguration).toBeNull();
      // Every worker agrees on the cluster's id.
      for (const w of all) expect((await clusterStatus(w)).cluster.id).toBe(status.cluster.id);
      await out.waitFor(Math.floor(words / 2));

      // Shrink the joiner out again.
      const shrink = await runRoo([
        'shrink',
        '--external',
        cluster.initializer.external!,
        '--workers',
        'worker3',
      ]);
      expect(shrink.code, shrink.stderr).toBe(0);
      expect(await joiner.proc.waitForExit()).toMatchObject({ code: 0 });
      const files = readdirSync(cluster.resilienceDir).filter((f) => f.includes('worker3'));
      expect(files).toEqual([]);
      const after = await clusterStatus(cluster.workers[1]!);
      expect(after.routingVersion).toBe(3);
      expect(after.cluster.members.map((m) => [m.name, m.keyGroups])).toEqual([
        ['initializer', 128],
        ['worker2', 128],
      ]);
      const shrunk = await owners(cluster.workers);
      expect(shrunk.problems).toEqual([]);
      expect(shrunk.groups.size).toBe(before.groups.size);
      for (const w of cluster.workers)
        expect([...shrunk.groups.values()].some((on) => on[0] === w.name)).toBe(true);

      expect((await send.waitForExit(90_000)).code).toBe(0);
      await out.waitFor(words);
      const exits = await cluster.stop();
      expect(exits.map((e) => e.code)).toEqual([0, 0]);
      const text = out.text();
      expect(text.split('\n').length - 1).toBe(words);
      expect(wordCountProblems(parseKeyOutputs(text), reference)).toEqual([]);
      for (const w of all) expect(errorCodes(w.proc)).toEqual([]);
    },
    180_000,
  );
});
