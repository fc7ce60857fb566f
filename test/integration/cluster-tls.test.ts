/**
 * TLS on the cluster channels: a throwaway CA made with openssl in the
 * test, a certificate for each worker and one for the tools. Two real
 * word-count workers on loopback with `--tls-cert/--tls-key/--tls-ca` (and,
 * in a second cluster, a cluster secret too) count a text sent to both,
 * so that words cross between the workers both ways over TLS data
 * channels: every word's outputs are exactly 1..n. `roo status` with a
 * certificate of the CA is answered; one with a certificate of another CA,
 * or without TLS, is refused; `roo shutdown` over TLS stops both workers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type TestCa, type TlsFiles } from '../fixtures/tls.js';
import { LineReceiver, startCluster, stopClusters } from './helpers/cluster.js';
import {
  addCounts,
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { ROOT, rooSend, runRoo } from './helpers/processes.js';

const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const NOTICES = join(ROOT, 'node_modules', 'typescript', 'ThirdPartyNoticeText.txt');
const reference = addCounts(
  referenceWordCounts(readFileSync(GPL, 'utf8')),
  referenceWordCounts(readFileSync(NOTICES, 'utf8')),
);
const words = total(reference);

let ca: TestCa;
let stranger: TestCa;
let worker: TlsFiles;
let tool: TlsFiles;
let intruder: TlsFiles;

const flags = (f: TlsFiles) => ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca];

beforeAll(() => {
  ca = makeTestCa('cluster-ca');
  stranger = makeTestCa('stranger-ca');
  worker = ca.issue('worker');
  tool = ca.issue('tool');
  intruder = stranger.issue('intruder');
});

afterAll(() => {
  ca.remove();
  stranger.remove();
});

const receivers: LineReceiver[] = [];
afterEach(async () => {
  await stopClusters();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('a two-worker cluster over TLS', () => {
  it.each([
    ['TLS alone', [] as string[]],
    ['TLS and a cluster secret', ['secret']],
  ])(
    '%s: word count is exact, tools need a certificate of the CA',
    async (_label, extra) => {
      const secretArgs: string[] = [];
      if (extra.includes('secret')) {
        const path = join(ca.dir, 'cluster.secret');
        writeFileSync(path, 'a secret that is long enough to pass\n');
        secretArgs.push('--cluster-secret-file', path);
      }
      const receiver = await LineReceiver.start();
      receivers.push(receiver);
      const cluster = await startCluster({
        module: 'examples/word_count/app.ts',
        workers: 2,
        out: receiver.address,
        sources: 'all',
        extra: [...flags(worker), ...secretArgs],
      });
      for (const w of cluster.workers) {
        expect(w.proc.stderr).toContain('the cluster channels are protected by');
        expect(w.proc.stderr).toContain('TLS (certificates of the cluster CA)');
      }
      await Promise.all([
        rooSend(cluster.workers[0]!.source, GPL),
        rooSend(cluster.workers[1]!.source, NOTICES),
      ]);
      await receiver.waitForLines(words, 30_000);

      const member = cluster.workers[1]!.external!;
      const ok = await runRoo(['status', member, '--json', ...flags(tool), ...secretArgs]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ worker: 'worker2' });
      const plain = await runRoo(['status', member, ...secretArgs]);
      expect(plain.code, plain.stderr).toBe(1);
      expect(plain.stdout).toBe('');
      const foreign = await runRoo(['status', member, ...flags(intruder), ...secretArgs]);
      expect(foreign.code, foreign.stderr).toBe(1);
      expect(foreign.stdout).toBe('');
      expect(foreign.stderr).toMatch(/TLS/);
      await cluster.workers[1]!.proc.waitForStderr(
        /refused a connection from 127\.0\.0\.1:\d+ on the external channel: TLS: /,
      );

      const down = await runRoo(['shutdown', member, ...flags(tool), ...secretArgs]);
      expect(down.code, down.stderr).toBe(0);
      const exits = await Promise.all(cluster.workers.map((w) => w.proc.waitForExit(20_000)));
      expect(exits.map((e) => e.code)).toEqual([0, 0]);
      expect(receiver.lines.length).toBe(words);
      expect(receiver.partial).toEqual([]);
      expect(wordCountProblems(parseKeyOutputs(receiver.text), reference)).toEqual([]);
    },
    120_000,
  );
});
