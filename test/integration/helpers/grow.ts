/**
 * What the tests that grow and shrink a running word count share: the text
 * they stream (the GPL's first lines, over and over, paced), its
 * independent word counts, and a worker that joins with `--join`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, LineReceiver, startCluster, type Cluster } from './cluster.js';
import { referenceWordCounts, total } from './key-outputs.js';
import { LOCAL, ROOT, RooProcess } from './processes.js';

/** The text streamed. */
export const GPL = join(ROOT, 'test', 'data', 'gpl-3.txt');
/** The application grown and shrunk. */
export const WORD_COUNT = 'examples/word_count/app.ts';

/** Word counts of the first `messages` lines of the GPL sent over and over, as `roo send --repeat` sends them. */
export function referenceOf(messages: number): Map<string, number> {
  const lines = readFileSync(GPL, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const sent: string[] = [];
  for (let i = 0; i < messages; i++)
    sent.push((lines[i % lines.length] as string).replace(/\r$/, ''));
  return referenceWordCounts(sent.join('\n'));
}

/** Starts a paced `roo send` of `messages` lines into `host` (batches of 25 every `intervalNs`: about 1,250 lines/s by default). */
export function pacedSend(host: string, messages: number, intervalNs = '20_000_000'): RooProcess {
  return RooProcess.spawn('send', [
    'send',
    '--host',
    host,
    '--file',
    GPL,
    '--repeat',
    '--messages',
    String(messages),
    '--batch-size',
    '25',
    '--interval',
    intervalNs,
  ]);
}

/** How a joining worker is started. */
export interface JoinerSpec {
  readonly name: string;
  /** The control address of any running worker. */
  readonly via: string;
  /** Where its sink writes. */
  readonly out: string;
  /** The cluster's resilience directory (its cluster file goes there too). */
  readonly resilienceDir: string;
  /** Flags after the common ones (resilience, --worker-count, ...). */
  readonly flags?: readonly string[];
  /** Arguments for the application, after `--`. */
  readonly appArgs?: readonly string[];
  /** Extra environment of the joiner (test hooks such as ROO_INSTALL_DELAY_MS). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts a word count worker that joins the running cluster through `spec.via`. */
export async function spawnJoiner(spec: JoinerSpec): Promise<RooProcess> {
  const appArgs = spec.appArgs ?? [];
  return RooProcess.spawn(
    spec.name,
    [
      'worker',
      ...['--application-module', WORD_COUNT, '--out', spec.out, '--name', spec.name],
      ...['--ponythreads', '1', '--resilience-dir', spec.resilienceDir, '--external', `${LOCAL}:0`],
      ...['--join', spec.via, '--my-data', `${LOCAL}:0`],
      ...['--my-control', `${LOCAL}:${await freePort()}`],
      ...(spec.flags ?? []),
      ...(appArgs.length > 0 ? ['--', ...appArgs] : []),
    ],
    { env: spec.env },
  );
}

/** What a grow test streams into: its cluster, its receiver, the sender, and what must come out. */
export interface StreamingWordCount {
  readonly receiver: LineReceiver;
  readonly cluster: Cluster;
  readonly send: RooProcess;
  readonly reference: Map<string, number>;
  /** Outputs expected in all (one per word sent). */
  readonly words: number;
}

/**
 * A two-worker word count with its receiver, and a paced send of
 * `messages` lines into it, resolved once a sixth of the outputs are in
 * (the stream is well under way). The receiver and the sender go into
 * `receivers` and `processes` for the test's cleanup.
 */
export async function streamingWordCount(
  messages: number,
  intervalNs: string | undefined,
  receivers: LineReceiver[],
  processes: RooProcess[],
): Promise<StreamingWordCount> {
  const receiver = await LineReceiver.start();
  receivers.push(receiver);
  const cluster = await startCluster({ module: WORD_COUNT, workers: 2, out: receiver.address });
  const reference = referenceOf(messages);
  const words = total(reference);
  const send = pacedSend(cluster.initializer.source, messages, intervalNs);
  processes.push(send);
  await receiver.waitForLines(Math.floor(words / 6), 60_000);
  return { receiver, cluster, send, reference, words };
}
