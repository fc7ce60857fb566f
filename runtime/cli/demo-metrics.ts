/**
 * The metrics stages of `roo demo`: `roo metrics` on free ports, started
 * first so that every worker is given `--metrics` (demo-start.ts), and, with
 * `--ui`, a pause before the cluster is stopped, so the UI can be watched
 * with the cluster still running until Ctrl-C.
 */
import { watchAddress } from './demo-children.js';
import type { DemoStage } from './demo-context.js';
import { LOCAL } from './demo-start.js';

/**
 * Starts `roo metrics --listen 127.0.0.1:0 --http 127.0.0.1:0` and reads
 * back where it listens: `ctx.metricsAddress` for the workers' `--metrics`,
 * `ctx.metricsUi` for people.
 */
export const startMetrics: DemoStage = {
  title: 'starting roo metrics (the metrics receiver and its web UI)',
  async run(ctx) {
    const child = ctx.children.start(['metrics', '--listen', `${LOCAL}:0`, '--http', `${LOCAL}:0`]);
    const [listen, ui] = await Promise.all([
      watchAddress(child, /^Listening for metrics on (\S+)/, 'where it listens', ctx.signal),
      watchAddress(child, /^Metrics UI at (\S+)/, 'where its UI is', ctx.signal),
    ]);
    ctx.metricsAddress = listen;
    ctx.metricsUi = ui;
    ctx.say(`metrics UI at ${ui}, workers report to ${listen} (pid ${child.proc.pid})`);
  },
};

/**
 * With `--ui`: everything is counted and checked; the cluster and the UI
 * keep running until Ctrl-C (or SIGTERM), which then stops the cluster with
 * `roo shutdown` as the demo does without `--ui` (runStages turns the
 * signal into `ctx.release` while it waits here).
 */
export const holdForUi: DemoStage = {
  title: 'keeping the cluster and the metrics UI running',
  async run(ctx) {
    ctx.say(`open ${ctx.metricsUi ?? 'the metrics UI'}; press Ctrl-C to stop the cluster`);
    await new Promise<void>((resolve) => {
      ctx.release = () => {
        ctx.release = undefined;
        resolve();
      };
    });
  },
};
