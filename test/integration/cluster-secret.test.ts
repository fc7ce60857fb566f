/**
 * A cluster secret keeps strangers out: two real word-count workers on
 * loopback started with `--cluster-secret-file`. A process without the
 * secret, or with another, tries in turn to query the cluster (`roo
 * status`), shut it down (`roo shutdown`), join it (`roo worker --join`)
 * and inject a batch on a data channel (a raw socket writing a valid data
 * frame whose messages would each count the word 'the'); each is refused,
 * and the worker logs it. The workers report `--metrics` to a `roo metrics`
 * with the same secret: their reports arrive, and a stranger's valid hello
 * is refused there. Then, with the secret, everything works as without one:
 * the GPL is counted exactly (every word's outputs 1..n), `roo status`
 * answers, `roo shutdown` stops both workers with exit 0.
 * Also: an unreadable or empty secret file is exit 2 with a clear message.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_VERSION } from '../../protocols/batch-codec.js';
import { DATA_PROTOCOL_VERSION, encodeDataMessage, encodeFrame } from '../../protocols/index.js';
import {
  type Cluster,
  LineReceiver,
  makeResilienceDir,
  READY,
  startCluster,
  stopClusters,
} from './helpers/cluster.js';
import {
  parseKeyOutputs,
  referenceWordCounts,
  total,
  wordCountProblems,
} from './helpers/key-outputs.js';
import { LOCAL, RooProcess, ROOT, rooSend, runRoo } from './helpers/processes.js';
import { frame, hello } from '../unit/metrics/reports.js';

const MODULE = 'examples/word_count/app.ts';
const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
const reference = referenceWordCounts(readFileSync(GPL, 'utf8'));
const words = total(reference);

let dir: string;
let secret: string;
let wrong: string;
let out: LineReceiver;
let cluster: Cluster;
let metrics: RooProcess;
let metricsAddress: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roo-secret-'));
  secret = join(dir, 'secret');
  wrong = join(dir, 'wrong');
  writeFileSync(secret, 'f3b8c0a1d2e4f6a8b0c2d4e6f8a0b2c4\n');
  writeFileSync(wrong, '00000000000000000000000000000000\n');
  out = await LineReceiver.start();
  metrics = RooProcess.spawn('metrics', [
    ...['metrics', '--listen', `${LOCAL}:0`, '--http', `${LOCAL}:0`],
    ...['--cluster-secret-file', secret],
  ]);
  metricsAddress = (await metrics.waitForStderr(/Listening for metrics on (\S+)/))[1]!;
  cluster = await startCluster({
    module: MODULE,
    workers: 2,
    out: out.address,
    extra: ['--cluster-secret-file', secret, '--metrics', metricsAddress],
  });
}, 60_000);

afterAll(async () => {
  await stopClusters();
  await out.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectAllRunning(): void {
  for (const w of cluster.workers) {
    expect(w.proc.exitStatus, w.proc.failure('exited').message).toBeUndefined();
  }
}

/** A little-endian u32 / i32, as the batch codec writes them. */
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

/**
 * A valid data frame of the current generation: a batch of messages
 * carrying the word 'the' to every actor id with word count's stage tags
 * (as test/integration/cluster-bad-input.test.ts builds them).
 */
function injectedFrame(): Buffer {
  const word = Buffer.from('the');
  const messages: Buffer[] = [];
  let count = 0;
  for (let dest = 0; dest < 256; dest++) {
    for (const tag of [1, 2]) {
      messages.push(u32(dest), i32(tag), Buffer.from([6]), u32(word.length), word);
      messages.push(Buffer.from([1]));
      count++;
    }
  }
  const batch = Buffer.concat([Buffer.from([BATCH_VERSION]), u32(count), u32(0), ...messages]);
  return encodeFrame(
    encodeDataMessage({
      type: 'batch',
      version: DATA_PROTOCOL_VERSION,
      epoch: 0,
      sender: 'initializer',
      lane: 0,
      bytes: batch,
    }),
  );
}

describe('a cluster with a secret', () => {
  it('says at start-up that its channels are protected, and does not warn', () => {
    for (const w of cluster.workers) {
      expect(w.proc.stderr).toContain('the cluster channels are protected by a cluster secret');
      expect(w.proc.stderr).not.toContain('open to anyone');
    }
  });

  it('a stranger cannot query it: roo status without the secret, or with another, exits 1', async () => {
    const external = cluster.initializer.external!;
    const none = await runRoo(['status', external]);
    expect(none.code, none.stderr).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/cluster secret/);
    const other = await runRoo(['status', external, '--cluster-secret-file', wrong]);
    expect(other.code, other.stderr).toBe(1);
    expect(other.stdout).toBe('');
    expect(other.stderr).toMatch(/refused the cluster handshake: wrong cluster secret/);
    await cluster.initializer.proc.waitForStderr(
      /ROO_ERR_AUTH_FAILED|refused a connection from 127\.0\.0\.1:\d+ on the external channel/,
    );
    expectAllRunning();
  });

  it('a stranger cannot shut it down: roo shutdown without the secret, or with another, exits 1', async () => {
    for (const w of cluster.workers) {
      const none = await runRoo(['shutdown', w.external!]);
      expect(none.code, none.stderr).toBe(1);
      const other = await runRoo(['shutdown', w.external!, '--cluster-secret-file', wrong]);
      expect(other.code, other.stderr).toBe(1);
      expect(other.stderr).toMatch(/wrong cluster secret/);
    }
    const status = await runRoo([
      'status',
      cluster.workers[1]!.external!,
      '--json',
      '--cluster-secret-file',
      secret,
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ worker: 'worker2' });
    expectAllRunning();
    for (const w of cluster.workers) expect(w.proc.stderr).not.toMatch(/shutdown requested/);
  });

  it('a stranger cannot join: without the secret it is refused; with another it exits 2', async () => {
    const join = (extra: readonly string[], name: string) =>
      RooProcess.spawn(name, [
        'worker',
        ...['--application-module', MODULE, '--out', out.address, '--name', name],
        ...['--ponythreads', '1', '--resilience-dir', makeResilienceDir()],
        ...['--join', cluster.control!, '--my-data', `${LOCAL}:0`],
        ...extra,
      ]);
    const init = cluster.initializer.proc;
    const before = init.stderr.length;
    const plain = join([], 'intruder');
    await init.waitForStderr(
      new RegExp(
        `[\\s\\S]{${before}}[\\s\\S]*refused a connection from 127\\.0\\.0\\.1:\\d+ on the control channel`,
      ),
    );
    // It keeps knocking (the address may not be the cluster's yet) and never gets in.
    await plain.waitForStderr(/is not reachable yet/);
    expect(plain.stderr).not.toMatch(READY);
    await plain.stop();

    const other = join(['--cluster-secret-file', wrong], 'impostor');
    const exit = await other.waitForExit(30_000);
    expect(exit.code, other.stderr).toBe(2);
    expect(other.stderr).toMatch(/refused the cluster handshake: wrong cluster secret/);
    expect(other.stderr).toContain('same --cluster-secret-file');
    expect(init.stderr).not.toMatch(/intruder|impostor/);
    expectAllRunning();
  });

  it('a stranger cannot inject a batch on a data channel: the connection is refused, nothing read', async () => {
    for (const w of cluster.workers) {
      const socket = createConnection({ host: LOCAL, port: Number(w.data!.split(':').pop()) });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      await once(socket, 'connect');
      socket.write(injectedFrame());
      await once(socket, 'close');
      await w.proc.waitForStderr(/refused a connection from 127\.0\.0\.1:\d+ on the data channel/);
    }
    expectAllRunning();
  });

  it('reports metrics to a roo metrics with the secret; a stranger cannot report there', async () => {
    for (const w of ['initializer', 'worker2']) {
      await metrics.waitForStderr(new RegExp(`metrics: .*/${w} \\(pid \\d+\\) reports from`));
    }
    const socket = createConnection({ host: LOCAL, port: Number(metricsAddress.split(':').pop()) });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    await once(socket, 'connect');
    socket.write(frame(hello('intruder')));
    await once(socket, 'close');
    await metrics.waitForStderr(
      /metrics receiver: refused a connection from 127\.0\.0\.1:\d+ on the metrics channel/,
    );
    expect(metrics.stderr).not.toMatch(/intruder/);
  });

  it('with the secret, it counts exactly, answers roo status and stops on roo shutdown', async () => {
    await rooSend(cluster.initializer.source, GPL);
    await out.waitForLines(words, 30_000);
    const status = await runRoo([
      'status',
      cluster.initializer.external!,
      '--json',
      '--cluster-secret-file',
      secret,
    ]);
    expect(status.code, status.stderr).toBe(0);
    const answer = JSON.parse(status.stdout) as { worker: string; errors: Record<string, number> };
    expect(answer.worker).toBe('initializer');
    const down = await runRoo([
      'shutdown',
      cluster.workers[1]!.external!,
      '--cluster-secret-file',
      secret,
    ]);
    expect(down.code, down.stderr).toBe(0);
    const exits = await Promise.all(cluster.workers.map((w) => w.proc.waitForExit(20_000)));
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(out.lines.length).toBe(words);
    expect(wordCountProblems(parseKeyOutputs(out.text), reference)).toEqual([]);
  }, 90_000);
});

describe('a secret file that cannot be used', () => {
  it('unreadable or empty: roo worker exits 2 saying which file and why', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const base = ['worker', '--application-module', MODULE, '--cluster-initializer'];
    const missing = await runRoo([...base, '--cluster-secret-file', join(dir, 'missing')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /--cluster-secret-file .*missing: cannot read the cluster secret/,
    );
    const blank = await runRoo([...base, '--cluster-secret-file', empty]);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toMatch(/--cluster-secret-file .*empty: the file is empty/);
    const tool = await runRoo(['status', '127.0.0.1:1', '--cluster-secret-file', empty]);
    expect(tool.code).toBe(2);
    expect(tool.stderr).toMatch(/the file is empty/);
  });
});
