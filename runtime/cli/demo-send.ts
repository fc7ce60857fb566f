/**
 * The sending stages of `roo demo`: the first `roo send` with the first
 * half of the lines before the crash (in a cluster paced, so that the
 * cluster can grow and shrink while it streams), and, once it is done, a
 * second one with the same `--stream-id` that resumes where the stream
 * stopped.
 */
import { performance } from 'node:perf_hooks';
import { type Child, DemoFailure } from './demo-children.js';
import { DEMO_STREAM_ID, type DemoContext, type DemoStage } from './demo-context.js';
import { num } from './demo-count.js';
import { echo } from './demo-echo.js';
import { showProgress } from './demo-progress.js';

/** What a `roo send` says that the demo shows: a lost connection, the resend, the resume, the last ack. */
const senderNews =
  /^(connection to .* lost|reconnected to|every message acknowledged|.* already has the first)/;

/**
 * How long the first `roo send` lasts at least when the cluster grows and
 * shrinks meanwhile, in seconds: long enough for a worker to start, join,
 * write counts and leave again, and for the crash after, while the text
 * still streams in.
 */
export const PACED_SECONDS = 10;
/** Between the starts of a paced `roo send`'s batches: 20 batches a second. */
const PACE_INTERVAL_NS = 50_000_000;
/** A pace above this (lines/s) is no pace on this machine: the send goes as fast as it can. */
const MAX_PACE = 200_000;

/** A `roo send`'s pace: `--batch-size` lines every `--interval` ns. */
export interface SendPace {
  readonly batch: number;
  readonly intervalNs: number;
  /** Lines a second, at most. */
  readonly linesPerSecond: number;
}

/**
 * The pace of a `roo send` of `lines` lines that lasts about PACED_SECONDS;
 * undefined when it need not be paced (a pace no machine would hold back).
 */
export function sendPace(lines: number): SendPace | undefined {
  if (lines <= 0) return undefined;
  const perSecond = 1_000_000_000 / PACE_INTERVAL_NS;
  const batch = Math.ceil(lines / PACED_SECONDS / perSecond);
  const linesPerSecond = batch * perSecond;
  if (linesPerSecond > MAX_PACE) return undefined;
  return { batch, intervalNs: PACE_INTERVAL_NS, linesPerSecond };
}

/**
 * Starts a `roo send` of the text repeated to `messages` lines, as stream
 * DEMO_STREAM_ID (acknowledging, the default), at `pace` if given: its lines
 * sent are added up in `ctx.linesSent`.
 */
function startSend(ctx: DemoContext, messages: number, pace?: SendPace): Child {
  const index = ctx.senders.length;
  const sender = ctx.children.start([
    ...['send', '--host', ctx.sourceAddress!, '--file', ctx.textPath],
    ...['--repeat', '--messages', `${messages}`, '--stream-id', DEMO_STREAM_ID],
    ...(pace === undefined
      ? []
      : ['--batch-size', `${pace.batch}`, '--interval', `${pace.intervalNs}`]),
  ]);
  ctx.senders.push(sender);
  ctx.sentBy.push(0);
  ctx.sendersAcked.push(false);
  // 'sent N messages ...': progress on stderr every 2 s, the final line on stdout.
  const sent = (text: string): void => {
    const m = /sent (\d+) messages/.exec(text);
    if (m === null) return;
    ctx.sentBy[index] = Number(m[1]);
    ctx.linesSent = ctx.sentBy.reduce((a, b) => a + b, 0);
  };
  sender.onLine((line) => {
    sent(line);
    if (line.includes('every message acknowledged')) ctx.sendersAcked[index] = true;
  });
  sender.proc.stdout!.setEncoding('utf8').on('data', sent);
  echo(ctx, sender, 'roo send', senderNews);
  return sender;
}

/**
 * Starts `roo send` with the first half of the lines, acknowledging, as
 * stream DEMO_STREAM_ID. When the cluster grows and shrinks before the crash
 * (`paced`), the send is paced (`--batch-size`, `--interval`) to last about
 * PACED_SECONDS, so that the text still streams in meanwhile.
 */
export function startSender(paced: boolean): DemoStage {
  return {
    title:
      `starting roo send (the text, repeated; acknowledging, --stream-id ${DEMO_STREAM_ID}` +
      `${paced ? `; paced to last about ${PACED_SECONDS} s` : ''})`,
    async run(ctx) {
      const { messages } = ctx.options;
      const { linesPerPass, totalWords } = ctx.expected;
      const pace = paced ? sendPace(ctx.firstSend.lines) : undefined;
      ctx.pace = pace?.linesPerSecond;
      ctx.sendStartedMs = performance.now();
      const sender = startSend(ctx, ctx.firstSend.lines, pace);
      const rest = messages % linesPerPass;
      ctx.say(
        `sending ${num(messages)} lines in all (the text ${num(Math.floor(messages / linesPerPass))} times` +
          `${rest > 0 ? ` and its first ${num(rest)} lines` : ''}): ${num(totalWords)} words; ` +
          `the first ${num(ctx.firstSend.lines)} lines now` +
          (pace === undefined
            ? ''
            : `, at most ${num(pace.linesPerSecond)} lines/s (--batch-size ${pace.batch} ` +
              `--interval ${pace.intervalNs}) so the cluster can grow and shrink while they stream`) +
          ` (pid ${sender.proc.pid})`,
      );
    },
  };
}

/**
 * Once the first `roo send` is done (it exits when a committed checkpoint
 * covers every line it sent, resent ones included), sends the rest: `roo
 * send` again with the same `--stream-id` and `--messages` all the lines,
 * as fast as it can. The source tells it where the stream stands, and it
 * skips what the source already has (Wallaroo's guide: restart the sender).
 */
export const sendRest: DemoStage = {
  title: `sending the rest: roo send again, the same --stream-id ${DEMO_STREAM_ID} (it resumes where the stream stopped)`,
  async run(ctx) {
    const first = ctx.senders[0]!;
    await showProgress(ctx, first.exited, 'fail');
    if (first.exit?.code !== 0) throw new DemoFailure(first.describeExit());
    const sender = startSend(ctx, ctx.options.messages);
    ctx.say(
      `the first roo send is done (${num(ctx.sentBy[0] ?? 0)} lines, every one acknowledged); ` +
        `sending up to line ${num(ctx.options.messages)} (pid ${sender.proc.pid})`,
    );
  },
};
