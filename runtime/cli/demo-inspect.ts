/**
 * The stage of `roo demo` that asks every worker what it holds, with the
 * tool a user would run (`roo status ADDR --json`), and prints it as a
 * table: one row per worker, and in a cluster a row for all of them.
 */
import { parseWorkerStatus } from '../cluster/status-check.js';
import { DemoFailure, runToolOk } from './demo-children.js';
import type { DemoStage } from './demo-context.js';
import { num, sumShares, workerShare } from './demo-count.js';

/** Width of a figure's column, and of the last (words held) one. */
const CELL = 13;
const LAST_CELL = 18;

/**
 * Asks every worker what it holds (`roo status ADDR --json`, the tool a
 * user would run): the lines its source took in, the messages it exchanged
 * with the other workers, the counts its sink wrote, and its state entities.
 */
export const inspectState: DemoStage = {
  title: 'asking every worker what it holds (roo status <external> --json)',
  async run(ctx) {
    const shares = [];
    for (const w of ctx.workers) {
      const args = ['status', w.externalAddress!, '--json'];
      const stdout = await runToolOk(ctx.children, args, ctx.signal);
      let status;
      try {
        status = parseWorkerStatus(JSON.parse(stdout));
      } catch (err) {
        throw new DemoFailure(`roo ${args.join(' ')} printed no status: ${(err as Error).message}`);
      }
      shares.push(workerShare(status));
    }
    const all = (ctx.shares = sumShares(shares));
    const cluster = ctx.workers.length > 1;
    const width = Math.max(...shares.map((s) => s.worker.length), 'worker'.length) + 2;
    // The columns in order; to/from others only in a cluster.
    const row = (
      worker: string,
      linesIn: string,
      toOthers: string,
      fromOthers: string,
      countsOut: string,
      held: string,
    ): string =>
      [
        '  ' + worker.padEnd(width),
        linesIn.padStart(CELL),
        ...(cluster ? [toOthers.padStart(CELL), fromOthers.padStart(CELL)] : []),
        countsOut.padStart(CELL),
        held.padStart(LAST_CELL),
      ].join('');
    ctx.say(row('worker', 'lines in', 'to others', 'from others', 'counts out', 'words held'));
    for (const s of shares) {
      const part = all.entities > 0 ? ` (${Math.round((s.entities * 100) / all.entities)}%)` : '';
      ctx.say(
        row(
          s.worker,
          num(s.linesIn),
          num(s.toWorkers),
          num(s.fromWorkers),
          num(s.wordsOut),
          `${num(s.entities)}${part}`,
        ),
      );
    }
    if (cluster) {
      ctx.say(row('all', num(all.linesIn), '', '', num(all.wordsOut), num(all.entities)));
      ctx.say('  lines in: read by its source; to/from others: messages over data channels;');
      ctx.say('  counts out: written by its own sink; words held: its state entities');
    }
    if (ctx.shrink !== undefined) {
      ctx.say(
        `  (${ctx.shrink.worker} has left: the counts its sink wrote are not in these figures; ` +
          'the words it held moved back to these workers)',
      );
    }
    if (ctx.crash !== undefined) {
      ctx.say(
        '  (a rollback starts every worker afresh from the checkpoint: the traffic figures count ' +
          'from the recovery on; the words held are the whole state)',
      );
    }
  },
};
