/**
 * Nothing assumes loopback: a two-worker word count cluster whose workers
 * live in two network namespaces joined by a veth pair, made here and
 * removed afterwards (10.231.0.1/24 and 10.231.0.2/24). The namespaces'
 * loopback interfaces are up (the kernel delivers traffic to a host's own
 * address through them) but have no 127.0.0.1 or ::1, so a connection to
 * loopback anywhere would fail at once (ENETUNREACH). The receiver and the initializer run in the first namespace,
 * the member in the second; two senders, one in each namespace, send to the
 * source of the worker in the other one. Every connection (control, data,
 * sink, source, external) crosses the veth or stays on a namespace address;
 * no traffic goes to any other address.
 *
 * Checked: the member's data channel and sink connection come from
 * 10.231.0.2; the counts are exact (outputs 1..n in order for every word);
 * each key is owned by exactly one worker (partition queries, run in the
 * namespaces); both workers stop cleanly.
 *
 * Needs `ip netns add` and veth links (root or CAP_NET_ADMIN, iproute2);
 * where the machine does not allow them (or ROO_TEST_NO_NETNS=1 is set) the
 * tests are skipped, and the reason is printed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterSpec,
  clusterOf,
  makeResilienceDir,
  ownership,
  partitionQuery,
  readyWorker,
  startInitializer,
  startLineReceiverProcess,
  startMember,
  stopClusters,
} from './helpers/cluster.js';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { ROOT, rooSend, type SpawnOptions } from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const NOTICES = join(ROOT, 'node_modules', 'typescript', 'ThirdPartyNoticeText.txt');
const SUBNET = '10.231.0';
const HOSTS = [`${SUBNET}.1`, `${SUBNET}.2`] as const;
/** Unique per run, so that two runs on one machine do not collide (veth names: at most 15 bytes). */
const TAG = `${process.pid % 100_000}`;
const NAMESPACES = [`roo-test-${TAG}-a`, `roo-test-${TAG}-b`] as const;
const VETH = [`roo${TAG}a`, `roo${TAG}b`] as const;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** Why network namespaces cannot be used here, or undefined if they can. */
function whyNot(): string | undefined {
  if (process.env['ROO_TEST_NO_NETNS'] === '1') return 'ROO_TEST_NO_NETNS=1 is set';
  const probe = `roo-probe-${TAG}`;
  try {
    ip('netns', 'add', probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return "the 'ip' command (iproute2) is not installed";
    return `'ip netns add' is not permitted (needs root or CAP_NET_ADMIN): ${(e.stderr ?? e.message).trim()}`;
  }
  try {
    ip('-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    return undefined;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return `veth links cannot be made: ${(e.stderr ?? e.message).trim()}`;
  } finally {
    try {
      ip('netns', 'del', probe);
    } catch {
      // already gone
    }
  }
}

function removeNamespaces(): void {
  for (const ns of NAMESPACES) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not there
    }
  }
}

const reason = whyNot();
if (reason !== undefined) {
  console.warn(`cluster-netns.test.ts skipped: ${reason}`);
}
const title =
  reason === undefined
    ? 'a cluster across two network namespaces'
    : `a cluster across two network namespaces (skipped: ${reason})`;

/** Runs in namespace `i`. */
const inNs = (i: number): SpawnOptions => ({ prefix: ['ip', 'netns', 'exec', NAMESPACES[i]!] });

describe.skipIf(reason !== undefined)(title, () => {
  beforeAll(() => {
    removeNamespaces();
    for (const ns of NAMESPACES) ip('netns', 'add', ns);
    ip(
      'link',
      'add',
      VETH[0],
      'netns',
      NAMESPACES[0],
      'type',
      'veth',
      'peer',
      'name',
      VETH[1],
      'netns',
      NAMESPACES[1],
    );
    for (const i of [0, 1]) {
      const ns = NAMESPACES[i]!;
      ip('-n', ns, 'addr', 'add', `${HOSTS[i]}/24`, 'dev', VETH[i]!);
      ip('-n', ns, 'link', 'set', VETH[i]!, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo');
      try {
        ip('-n', ns, '-6', 'addr', 'del', '::1/128', 'dev', 'lo');
      } catch {
        // IPv6 disabled: there is no ::1 to remove
      }
    }
  });
  afterEach(stopClusters);
  afterAll(removeNamespaces);

  it('the namespaces have only their veth address: no 127.0.0.1, no ::1', () => {
    for (const i of [0, 1]) {
      const addrs = ip('-n', NAMESPACES[i]!, '-o', 'addr', 'show');
      expect(addrs).toContain(`inet ${HOSTS[i]}/24`);
      expect(addrs).not.toMatch(/inet 127\.|inet6 ::1\//);
    }
  });

  it('two workers, one per namespace, count exactly and own disjoint keys', async () => {
    const reference = addCounts(
      referenceWordCounts(readFileSync(GPL, 'utf8')),
      referenceWordCounts(readFileSync(NOTICES, 'utf8')),
    );
    const words = total(reference);

    const receiver = await startLineReceiverProcess(HOSTS[0], inNs(0));
    const dir = makeResilienceDir();
    const spec: ClusterSpec = {
      module: 'examples/word_count/app.ts',
      workers: 2,
      out: receiver.address,
      sources: 'all',
      host: (i) => HOSTS[i]!,
      spawn: inNs,
      myControlOf: (i) => `${HOSTS[i]!}:16102`,
    };
    const init = await startInitializer(spec, dir);
    expect(init.control).toMatch(new RegExp(`^${HOSTS[0].replace(/\./g, '\\.')}:\\d+$`));
    const member = await startMember(spec, 1, init.control!, dir);
    const workers = await Promise.all([
      readyWorker('initializer', init.proc, 30_000),
      readyWorker('worker2', member, 30_000),
    ]);
    const [first, second] = workers;
    expect(first.data).toMatch(new RegExp(`^${HOSTS[0]}:`));
    expect(second.data).toMatch(new RegExp(`^${HOSTS[1]}:`));
    expect(second.source).toMatch(new RegExp(`^${HOSTS[1]}:`));
    expect(second.proc.stderr).toMatch(/joined the cluster as worker 2 of 2: initializer, worker2/);

    // Each sender sends, from its namespace, to the worker in the other one.
    await Promise.all([
      rooSend(first.source, GPL, [], inNs(1)),
      rooSend(second.source, NOTICES, [], inNs(0)),
    ]);
    await receiver.proc.waitForStdoutLines(words, 30_000);

    // One sink connection per worker, the member's from its own namespace's address.
    const from = [...receiver.proc.stderr.matchAll(/^connection from (\S+):\d+$/gm)].map(
      (m) => m[1],
    );
    expect(from.sort()).toEqual([...HOSTS]);

    const answers = await Promise.all(
      workers.map((w, i) => partitionQuery(w.external!, 10_000, inNs(i))),
    );
    const owned = ownership(answers, 'word totals');
    expect(owned.problems).toEqual([]);
    expect([...owned.keys].filter(([, on]) => on.length !== 1)).toEqual([]);
    expect(new Set(owned.keys.keys())).toEqual(new Set(reference.keys()));
    for (const w of workers) {
      expect([...owned.keys.values()].some((on) => on[0] === w.name)).toBe(true);
    }

    const exits = await clusterOf(workers, init.control, dir).stop();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    await receiver.proc.stop();
    expect(receiver.proc.stderr).not.toContain('partial line');
    expect(receiver.proc.stdoutLines).toBe(words);
    expect(wordCountProblems(parseKeyOutputs(receiver.proc.stdoutText), reference)).toEqual([]);
    for (const w of workers) expect(w.proc.stderr).not.toMatch(/127\.0\.0\.1|ROO_ERR_/);
  });
});
