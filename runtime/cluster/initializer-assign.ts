/**
 * The `assign` message the initializer sends each worker: its index, the
 * members (with the external addresses their hellos gave), the rollback
 * generation and the routing table of a layout. A pure function, apart from
 * initializer-node.ts, so start-up, rollbacks and reconfigurations all build
 * the same message.
 */
import type { Address, AssignControlMessage } from '../../protocols/index.js';
import { assignKeyGroups } from '../routing/index.js';
import type { Plan } from '../topology/plan.js';
import type { Member } from './coordinator.js';
import type { Layout } from './reconfiguration.js';

/** What every `assign` of one cluster shares. */
export interface AssignFacts {
  readonly plan: Plan;
  readonly clusterId: string;
  /** The cluster's rollback generation. */
  readonly generation: number;
  /** Each worker's external address, from its hello. */
  readonly externals: ReadonlyMap<string, Address>;
}

/**
 * The `assign` message telling worker `index` of `members` its place, under
 * `layout` (without one: a fresh key-group assignment over `members`).
 */
export function assignMessage(
  facts: AssignFacts,
  members: readonly Member[],
  index: number,
  layout: Layout | undefined,
): AssignControlMessage {
  const { plan } = facts;
  return {
    type: 'assign',
    version: 1,
    clusterId: facts.clusterId,
    workerIndex: index,
    generation: facts.generation,
    members: members.map((x) => {
      const external = facts.externals.get(x.name);
      return {
        name: x.name,
        threads: x.threads,
        control: x.control,
        data: x.data,
        ...(external === undefined ? {} : { external }),
      };
    }),
    routing: {
      version: layout?.version ?? 1,
      partitions: plan.partitions.map((p, pi) => ({
        name: p.name,
        owners: [...((layout?.owners ?? assignKeyGroups(plan, members.length))[pi] ?? [])],
      })),
    },
  };
}
