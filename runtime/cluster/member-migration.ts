/**
 * What a reconfiguration means for one member, worked out from the
 * coordinator's messages (pure, kept apart from member.ts, which acts on
 * it): on `migrate`, which key groups move anywhere in the cluster (every
 * thread of every old member holds what is sent to them after the
 * barrier), which of them leave this worker, whether the worker itself
 * leaves, and where its own groups change threads; at the barrier, the
 * state each leaving group carries.
 */
import type {
  MigrateControlMessage,
  Snapshot,
  WireGroupState,
  WireMember,
} from '../../protocols/index.js';

/** A key group of a partition, by their indices in the plan. */
export interface GroupAt {
  readonly partition: number;
  readonly keyGroup: number;
}

/** A member's part in one reconfiguration, from its `migrate`. */
export interface MemberMigration {
  /** Every key group that changes worker or thread, in the whole cluster. */
  readonly moving: readonly GroupAt[];
  /** The moving groups this worker owns now: it ships them at the barrier. */
  readonly leaving: readonly GroupAt[];
  /** True when the cluster after the change lacks this worker (a shrink takes it out). */
  readonly quitting: boolean;
  /** Indices (in the members before) of the workers that leave the cluster. */
  readonly gone: readonly number[];
  /** This worker's groups that change threads: target thread by `partitionName/keyGroup`. */
  readonly threadMoves: ReadonlyMap<string, number>;
}

/**
 * This worker's part in `m`: `before` are the members it knew, `owners`
 * its routing table (owners[partition][keyGroup] = member index in
 * `before`), `me` its index there (-1 if it was none: a joiner).
 */
export function planMemberMigration(
  m: MigrateControlMessage,
  self: {
    readonly name: string;
    readonly me: number;
    readonly before: readonly WireMember[];
    readonly owners: readonly (readonly number[])[];
  },
): MemberMigration {
  const staying = new Set(m.members.map((x) => x.name));
  const threadMoved = new Set(m.moves.map((x) => `${x.partition}/${x.keyGroup}`));
  const moving: GroupAt[] = [];
  const leaving: GroupAt[] = [];
  m.routing.partitions.forEach((p, pi) =>
    p.owners.forEach((owner, g) => {
      const was = self.owners[pi]?.[g] ?? -1;
      const sameWorker = self.before[was]?.name === m.members[owner]?.name;
      if (sameWorker && !threadMoved.has(`${p.name}/${g}`)) return;
      moving.push({ partition: pi, keyGroup: g });
      if (was === self.me) leaving.push({ partition: pi, keyGroup: g });
    }),
  );
  return {
    moving,
    leaving,
    quitting: !staying.has(self.name),
    gone: self.before.flatMap((x, i) => (staying.has(x.name) ? [] : [i])),
    threadMoves: new Map(
      m.moves
        .filter((x) => x.worker === self.name)
        .map((x) => [`${x.partition}/${x.keyGroup}`, x.thread]),
    ),
  };
}

/**
 * The state each of `leaving` carries, from the barrier's `snapshot` (a
 * group it holds no state for ships empty), named by partition as the wire
 * names them.
 */
export function groupsToShip(
  snapshot: Snapshot,
  leaving: readonly GroupAt[],
  partitions: readonly { readonly name: string }[],
): WireGroupState[] {
  return leaving.map(({ partition: pi, keyGroup: g }) => {
    const part = snapshot.partitions[pi]?.keyGroups.find((x) => x.keyGroup === g);
    return {
      partition: partitions[pi]?.name ?? '',
      keyGroup: g,
      entities: part?.entities ?? 0,
      state: part?.state ?? new Uint8Array(0),
    };
  });
}
