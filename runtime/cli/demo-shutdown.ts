/**
 * The last stage of `roo demo`: `roo shutdown` on the initializer, then the
 * check that every worker exited 0 and removed its resilience files.
 */
import { readdirSync } from 'node:fs';
import { DemoFailure, runToolOk, START_TIMEOUT_MS } from './demo-children.js';
import type { DemoStage } from './demo-context.js';

/** Where a stopped worker has left resilience files (a clean shutdown leaves none). */
function leftoverFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cluster.json'));
  } catch {
    return [];
  }
}

/**
 * Stops the cluster with `roo shutdown` on the initializer's external
 * channel (Wallaroo's cluster_shutdown), then checks that every worker
 * exited 0 and removed its resilience files.
 */
export const shutdownCluster: DemoStage = {
  title: 'stopping the cluster (roo shutdown <initializer external>)',
  async run(ctx) {
    const address = ctx.workers[0]!.externalAddress!;
    const stdout = await runToolOk(ctx.children, ['shutdown', address], ctx.signal);
    ctx.say(stdout.trim());
    for (const w of ctx.workers) await w.child.exitsWithin(START_TIMEOUT_MS);
    const exits = ctx.workers.map((w) => `${w.name} ${w.child.describeHow()}`).join(', ');
    const failed = ctx.workers.filter((w) => w.child.exit?.code !== 0);
    if (failed.length > 0) {
      throw new DemoFailure(
        `after roo shutdown, ${exits}\n${failed.map((w) => w.child.describeExit()).join('\n')}`,
      );
    }
    const leftovers = leftoverFiles(ctx.resilienceDir);
    ctx.shutdown = { exits, leftovers };
    if (leftovers.length > 0) {
      throw new DemoFailure(
        `after roo shutdown, resilience files are left in ${ctx.resilienceDir}: ${leftovers.join(', ')}`,
      );
    }
    ctx.say(`${exits}` + (ctx.workers.length > 1 ? '; their resilience files are removed' : ''));
  },
};
