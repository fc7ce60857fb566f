import { CheckpointCollector } from '../../../runtime/engine/thread-checkpoint.js';
import { describe, expect, it } from 'vitest';
import {
  allocateKernelMemory,
  DeterministicSchedulers,
  ThreadLoop,
} from '../../../actors/index.js';
import { application, generatorSource, nullSink } from '../../../runtime/api/index.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { SourceActor } from '../../../runtime/engine/source-actor.js';
import { openSourceInput } from '../../../runtime/engine/source-input.js';
import { createLogger } from '../../../runtime/logging/logger.js';
import { buildPlan, type SourceStage } from '../../../runtime/topology/plan.js';

describe('SourceActor', () => {
  // Regression: stop() closed sockets and files but a generator kept going on
  // its self-sent 'continue', so stopping a worker waited out its drain timeout.
  it('a stopped generator makes nothing more', async () => {
    const app = application('gen');
    app.pipeline(generatorSource({ generate: (i) => i })).toSink(nullSink());
    const stage = buildPlan(app.build()).stages[0] as SourceStage;
    const d = new DeterministicSchedulers(1, 5);
    const s = d.schedulers[0]!;
    const log = createLogger({ test: 'source' });
    log.level = 'silent';
    const loop = new ThreadLoop(s, allocateKernelMemory(1, 1024).control);
    const actor = new SourceActor(
      s,
      loop,
      stage,
      { index: 0, of: 1 },
      new ErrorReporter(log),
      log,
      new CheckpointCollector(),
      openSourceInput,
    );
    let emitted = 0;
    actor.emit = () => emitted++;
    actor.self = s.spawn(actor, 'generator', 1);
    await actor.start();
    d.runUntilIdle(200);
    expect(emitted).toBeGreaterThan(0);
    await actor.stop();
    const before = emitted;
    const steps = d.runUntilIdle(100_000);
    expect(steps).toBeLessThan(100_000); // it went idle: nothing keeps it running
    expect(emitted).toBe(before);
  });
});
