/**
 * The stages of `roo demo` that grow and shrink the running cluster while
 * the rest of the text streams in: one more worker (worker3 on the default
 * two) joins through the initializer's control channel (`roo worker
 * --join`) and takes over a share of the key groups; once its sink's first
 * counts are out, `roo shrink --workers` sends it away again and its state
 * moves back. Each shows the workers' reconfiguration log lines as they
 * come, then what moved and how long the source's input was paused, from the
 * initializer's `reconfiguration N complete: ...` line.
 */
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DemoFailure, runToolOk, START_TIMEOUT_MS, watchFor } from './demo-children.js';
import type { DemoContext, DemoResize, DemoStage, DemoWorker } from './demo-context.js';
import { num, workerName } from './demo-count.js';
import { echo, sayFrom } from './demo-echo.js';
import { showProgress } from './demo-progress.js';
import {
  freePort,
  LOCAL,
  spawnWorker,
  startReceiver,
  watchData,
  workerArgs,
} from './demo-start.js';

/** What the initializer says as it drives a reconfiguration. */
const initializerNews =
  /^worker '.+' is joining the running cluster|^reconfiguration \d+: .* key groups move at barrier \d+, every other key flows on$|^reconfiguration \d+ complete: /;
/** What every worker says when it aligned the barrier and what it ships or takes over. */
const workerNews =
  /^reconfiguration \d+: barrier aligned by every actor \(\d+ ms\); shipping |^reconfiguration \d+: took over /;
/** What the joiner says when its routes run, and the leaver when it goes. */
const joinerNews = /^\|~~ INIT PHASE III: Application is ready to work! ~~\||^left the cluster: /;

/**
 * Starts watching the initializer for the end of the reconfiguration in
 * which `name` joined or left (`how`): `reconfiguration N complete: routing
 * table version V, W workers (...), joined: NAME; moved G key groups, K
 * keys, B bytes; the moving groups paused P ms`.
 */
function completion(
  ctx: DemoContext,
  how: 'joined' | 'leaving',
  name: string,
): Promise<RegExpExecArray> {
  return watchFor(
    ctx.workers[0]!.child,
    new RegExp(
      `reconfiguration (\\d+) complete: routing table version \\d+, (\\d+) workers \\([^)]*\\)` +
        `[^;]*, ${how}: ${name}; moved (\\d+) key groups, (\\d+) keys, (\\d+) bytes; ` +
        `the moving groups paused (\\d+) ms`,
    ),
    `that reconfiguration ${how === 'joined' ? `adding ${name}` : `removing ${name}`} is complete`,
    ctx.signal,
  );
}

/** Fills in what the initializer's completion line says, and how long the change took. */
function completed(resize: DemoResize, m: RegExpExecArray, tookMs: number): void {
  const n = (i: number): number => Number(m[i]);
  resize.id = n(1);
  resize.workers = n(2);
  resize.moved = { groups: n(3), keys: n(4), bytes: n(5) };
  resize.pausedMs = n(6);
  resize.tookMs = tookMs;
}

/** Echoes the reconfiguration lines of every worker now in the cluster; returns the function that stops them. */
function echoReconfiguration(ctx: DemoContext): () => void {
  const stops = ctx.workers.map((w, i) =>
    echo(ctx, w.child, w.name, i === 0 ? anyOf(initializerNews, workerNews) : workerNews),
  );
  return () => stops.forEach((stop) => stop());
}

function anyOf(a: RegExp, b: RegExp): RegExp {
  return new RegExp(`${a.source}|${b.source}`);
}

/** What moved, in words: '43 key groups, 350 keys, 12,345 bytes'. */
export function movedWords(resize: DemoResize): string {
  const m = resize.moved;
  if (m === undefined) return 'nothing known';
  return `${num(m.groups)} key groups, ${num(m.keys)} keys, ${num(m.bytes)} bytes`;
}

/**
 * Grows the cluster of `workers` by one while it counts: a `roo receive`
 * for the newcomer's sink, then `roo worker --join <initializer's control>`
 * (no `--in`: the source stays on the initializer). Resolves once the
 * joiner's routes run and the initializer has logged the reconfiguration
 * complete.
 */
export function growCluster(workers: number): DemoStage {
  const index = workers;
  const name = workerName(index);
  return {
    title:
      `growing the cluster while it counts: roo receive for ${name}, then roo worker ` +
      `--name ${name} --join <initializer's control> --my-data ... --my-control ...`,
    async run(ctx) {
      const receiver = await startReceiver(ctx, index);
      ctx.say(
        `receiver for ${name} listening on ${ctx.receiverAddresses[index]} (pid ${receiver.proc.pid})`,
      );
      const via = ctx.controlAddress!;
      const args = workerArgs(ctx, index, [
        ...['--join', via, '--my-data', `${LOCAL}:0`],
        ...['--my-control', `${LOCAL}:${await freePort()}`],
      ]);
      const grow: DemoResize = (ctx.grow = { worker: name, atWords: ctx.tally.outputs });
      const done = completion(ctx, 'joined', name);
      const stopEchoes = echoReconfiguration(ctx);
      const startedMs = performance.now();
      const worker: DemoWorker = spawnWorker(ctx, name, args);
      const { child } = worker;
      ctx.workers.push(worker);
      const stopJoiner = echo(ctx, child, name, anyOf(workerNews, joinerNews));
      try {
        const data = watchData(ctx, child);
        const ready = watchFor(child, /INIT PHASE III/, 'that it is ready to work', ctx.signal);
        ctx.say(
          `${name} joins through ${via}, the initializer's control channel, at ` +
            `${num(grow.atWords)} words counted (pid ${child.proc.pid})`,
        );
        let readyMs = startedMs;
        await showProgress(
          ctx,
          Promise.all([ready, done]).then(() => (readyMs = performance.now())),
          'fail',
        );
        completed(grow, await done, readyMs - startedMs);
        worker.dataAddress = await data;
        worker.externalAddress = await worker.external;
      } finally {
        stopEchoes();
        stopJoiner();
      }
      ctx.say(
        `the cluster grew to ${grow.workers} workers, ready ${(grow.tookMs! / 1000).toFixed(1)} s ` +
          `after ${name} started (reconfiguration ${grow.id}): moved ${movedWords(grow)} to ${name}; ` +
          `moving groups paused ${num(grow.pausedMs!)} ms; ${name}'s data channel on ` +
          `${worker.dataAddress}, external channel on ${worker.externalAddress}`,
      );
    },
  };
}

/**
 * Shows progress on the grown cluster until the newcomer's sink has written
 * counts (the first checkpoint it takes part in has committed), or until
 * every count is in.
 */
export function countOnGrown(workers: number): DemoStage {
  const index = workers;
  const name = workerName(index);
  return {
    title: `counting on ${workers + 1} workers until ${name}'s sink has written counts`,
    async run(ctx) {
      const receiver = ctx.receivers[index]!;
      const firstOut =
        (ctx.outputsBy[index] ?? 0) > 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => receiver.proc.stdout!.once('data', () => resolve()));
      // On a slow machine the first send may be all counted before the joiner runs: no more
      // input comes until the rest is sent, so that ends this stage too.
      const all = ctx.counts.reached(ctx.firstSend.words, ctx.tally.outputs);
      await showProgress(ctx, Promise.race([firstOut, all]), 'fail');
      const shown = ctx.outputsBy[index] ?? 0;
      ctx.say(
        shown > 0
          ? `${name}'s sink has written ${num(shown)} counts (through its own roo receive)`
          : `every count of the first send is in before ${name}'s sink wrote any`,
      );
    },
  };
}

/**
 * Shrinks the cluster back: `roo shrink --external <initializer's external>
 * --workers NAME`, which exits 0 once the worker has left. The leaver hands
 * its key groups back, exits 0 and removes its resilience files.
 */
export function shrinkCluster(workers: number): DemoStage {
  const index = workers;
  const name = workerName(index);
  return {
    title: `shrinking it back: roo shrink --external <initializer's external> --workers ${name}`,
    async run(ctx) {
      const leaver = ctx.workers[index];
      if (leaver?.name !== name) throw new DemoFailure(`${name} is not in the cluster`);
      const shrink: DemoResize = (ctx.shrink = { worker: name, atWords: ctx.tally.outputs });
      const done = completion(ctx, 'leaving', name);
      const left = watchFor(leaver.child, /left the cluster: /, 'that it left', ctx.signal);
      const stopEchoes = echoReconfiguration(ctx);
      // Its reconfiguration lines come with every worker's; here, its leaving.
      const stopLeaver = echo(ctx, leaver.child, name, joinerNews);
      const startedMs = performance.now();
      const args = ['shrink', '--external', ctx.workers[0]!.externalAddress!, '--workers', name];
      try {
        ctx.say(`roo ${args.join(' ')} at ${num(shrink.atWords)} words counted`);
        const stdout = await runToolOk(ctx.children, args, ctx.signal);
        const tookMs = performance.now() - startedMs;
        for (const line of stdout.trim().split('\n')) sayFrom(ctx, 'roo shrink', line);
        completed(shrink, await done, tookMs);
        await left;
        await leaver.child.exitsWithin(START_TIMEOUT_MS);
      } finally {
        stopEchoes();
        stopLeaver();
      }
      if (leaver.child.exit?.code !== 0) throw new DemoFailure(leaver.child.describeExit());
      ctx.workers.splice(index, 1);
      const files = readdirSync(ctx.resilienceDir).filter((f) => f.includes(name));
      if (files.length > 0) {
        throw new DemoFailure(
          `${name} left, but its resilience files are still in ${ctx.resilienceDir}: ${files.join(', ')}`,
        );
      }
      ctx.say(
        `the cluster shrank to ${shrink.workers} workers; roo shrink took ` +
          `${(shrink.tookMs! / 1000).toFixed(1)} s (reconfiguration ${shrink.id}): moved ${movedWords(shrink)} back from ` +
          `${name}; moving groups paused ${num(shrink.pausedMs!)} ms; ${name} ${leaver.child.describeHow()} ` +
          'and removed its resilience files',
      );
    },
  };
}
