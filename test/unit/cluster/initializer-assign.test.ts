/**
 * The `assign` message the initializer sends each worker
 * (runtime/cluster/initializer-assign.ts): members with the external
 * addresses their hellos gave, the generation, and the routing table of the
 * layout in force, or a fresh round robin without one.
 */
import { describe, expect, it } from 'vitest';
import {
  application,
  generatorSource,
  nullSink,
  stateComputation,
  statePartition,
} from '../../../runtime/api/index.js';
import type { Member } from '../../../runtime/cluster/coordinator.js';
import { assignMessage } from '../../../runtime/cluster/initializer-assign.js';
import { buildPlan } from '../../../runtime/topology/plan.js';

/** A plan of one state partition 'totals' of 4 key groups. */
function plan() {
  const app = application('A');
  app
    .pipeline(generatorSource({ generate: (i) => `k${i}`, count: 0 }))
    .keyBy((x) => x)
    .toStateful(
      stateComputation<string, unknown, undefined>('count', () => undefined),
      statePartition<unknown>('totals', { initial: () => 0, keyGroups: 4 }),
    )
    .toSink(nullSink());
  return buildPlan(app.build());
}

const member = (name: string, port: number): Member => ({
  name,
  threads: 2,
  control: { host: '127.0.0.1', port },
  data: { host: '127.0.0.1', port: port + 1 },
});

describe('assignMessage', () => {
  const members = [member('a', 10), member('b', 20)];
  const facts = {
    plan: plan(),
    clusterId: 'A-1',
    generation: 7,
    externals: new Map([['b', { host: '127.0.0.1', port: 99 }]]),
  };

  it('without a layout: routing version 1 and key groups round robin over the members', () => {
    const m = assignMessage(facts, members, 1, undefined);
    expect(m).toEqual({
      type: 'assign',
      version: 1,
      clusterId: 'A-1',
      workerIndex: 1,
      generation: 7,
      members: [
        { name: 'a', threads: 2, control: members[0]!.control, data: members[0]!.data },
        {
          name: 'b',
          threads: 2,
          control: members[1]!.control,
          data: members[1]!.data,
          external: { host: '127.0.0.1', port: 99 },
        },
      ],
      routing: { version: 1, partitions: [{ name: 'totals', owners: [0, 1, 0, 1] }] },
    });
  });

  it("with a layout: that layout's version and owners", () => {
    const layout = { version: 5, members, owners: [[1, 1, 0, 0]] };
    const m = assignMessage(facts, members, 0, layout);
    expect(m.routing).toEqual({
      version: 5,
      partitions: [{ name: 'totals', owners: [1, 1, 0, 0] }],
    });
    expect(m.workerIndex).toBe(0);
  });
});
