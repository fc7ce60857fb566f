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
    if (ctx.metricsUi !== undefined) {
      const reported = await reportsAfter(
        ctx.metricsUi,
        ctx.workers.length,
        Date.now(),
        ctx.signal,
      );
      if (!reported) ctx.say('the metrics UI has not heard from every worker since the check yet');
    }
    ctx.say(`open ${ctx.metricsUi ?? 'the metrics UI'}; press Ctrl-C to stop the cluster`);
    await new Promise<void>((resolve) => {
      ctx.release = () => {
        ctx.release = undefined;
        resolve();
      };
    });
  },
};

/** How long the UI stage waits for every worker's next report: five of the workers' 2 s periods. */
const REPORT_WAIT_MS = 10_000;
const REPORT_POLL_MS = 200;

/**
 * Resolves true once the receiver behind the UI at `ui` has heard from
 * `workers` workers of one application since `since` (its clock, ms), so
 * that the page shows the run's last counts when it is opened; false after
 * REPORT_WAIT_MS or on abort.
 */
async function reportsAfter(
  ui: string,
  workers: number,
  since: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + REPORT_WAIT_MS;
  while (!signal.aborted && Date.now() < deadline) {
    try {
      const res = await fetch(`${ui}api/state`, { signal });
      const state = (await res.json()) as { apps?: { workers?: { lastHeard?: number }[] }[] };
      const fresh = (state.apps ?? []).some(
        (a) => (a.workers ?? []).filter((w) => (w.lastHeard ?? 0) > since).length >= workers,
      );
      if (fresh) return true;
    } catch {
      // Not answering yet, or aborted: the loop's conditions decide.
    }
    await new Promise((resolve) => setTimeout(resolve, REPORT_POLL_MS));
  }
  return false;
}
