/**
 * The check of the first state each partition writes on a thread
 * (runtime/engine/state-check.ts): a state no checkpoint could encode is
 * reported once, at its first update, with the partition, the key and where
 * in the state; a good one costs nothing more after the first.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  application,
  nullSink,
  stateComputation,
  statePartition,
  generatorSource,
  type StateCodec,
} from '../../../runtime/api/index.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { createLogger } from '../../../runtime/logging/logger.js';
import { EPOCH_BIT } from '../../../runtime/engine/epochs.js';
import { KeyGroupActor } from '../../../runtime/engine/stage-actors.js';
import { StateCheck } from '../../../runtime/engine/state-check.js';
import { CheckpointCollector } from '../../../runtime/engine/thread-checkpoint.js';
import { buildPlan, type StateStage } from '../../../runtime/topology/plan.js';

const log = createLogger({ test: 'state-check' });
log.level = 'silent';

class Tally {
  n = 0;
}

/** A key-group actor of a one-partition plan whose state is made by `initial`, and its check. */
function group(initial: () => unknown, enabled = true, codec?: StateCodec<unknown>) {
  const partition = statePartition<unknown>('totals', {
    initial,
    ...(codec === undefined ? {} : { codec }),
  });
  const app = application('A');
  app
    .pipeline(generatorSource({ generate: (i) => `k${i}`, count: 0 }))
    .keyBy((x) => x)
    .toStateful(
      stateComputation<string, unknown, undefined>('count', () => undefined),
      partition,
    )
    .toSink(nullSink());
  const plan = buildPlan(app.build());
  const stage = plan.stages.find((s): s is StateStage => s.kind === 'state')!;
  const fatal: RooError[] = [];
  const check = new StateCheck(enabled, (e) => fatal.push(e));
  const steps = [];
  steps[stage.id] = { computation: stage.computation, where: 'count', emit: () => undefined };
  const kg = new KeyGroupActor(
    plan.partitions[0]!,
    0,
    0,
    steps,
    new ErrorReporter(log),
    new CheckpointCollector(),
    () => undefined,
    check,
  );
  const send = (key: string) => kg.receive(stage.id + 0 * EPOCH_BIT, key, key);
  return { send, fatal, check };
}

describe('StateCheck', () => {
  it('a class instance in state: reported once at the first update, naming partition, key and path', () => {
    const { send, fatal } = group(() => ({ tally: new Tally() }));
    send('gnu');
    send('gpl');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.code).toBe(ErrorCode.SnapshotEncodeFailed);
    expect(fatal[0]!.message).toMatch(
      /state of partition 'totals' \(key 'gnu'\).*state\.tally is an instance of Tally/,
    );
    expect(fatal[0]!.message).toMatch(/found at its first update/);
    expect(fatal[0]!.details).toEqual({ partition: 'totals', key: 'gnu' });
  });

  it('plain data, a codec, or no resilience: nothing reported, and one check per partition', () => {
    for (const g of [
      group(() => ({ n: 0 })),
      group(() => new Tally(), false),
      group(() => new Tally(), true, {
        serialize: () => new Uint8Array(1),
        deserialize: () => new Tally(),
      }),
    ]) {
      g.send('a');
      g.send('b');
      expect(g.fatal).toEqual([]);
    }
    const plain = group(() => ({ n: 0 }));
    expect(plain.check.wanted(0)).toBe(true);
    plain.send('a');
    expect(plain.check.wanted(0)).toBe(false);
  });
});
