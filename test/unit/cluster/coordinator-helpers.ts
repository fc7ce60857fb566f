/** What the start-up coordinator's tests share: a worker's hello, and running events through `step`. */
import {
  step,
  type CoordinatorEvent,
  type CoordinatorState,
  type Decision,
  type Hello,
} from '../../../runtime/cluster/coordinator.js';

/** A hello of worker `name` of application 'wc' (plan hash 'h1'). */
export const hello = (name: string, over: Partial<Hello> = {}): Hello => ({
  name,
  threads: 2,
  control: { host: '127.0.0.1', port: 1 },
  data: { host: '127.0.0.1', port: 2 },
  application: 'wc',
  applicationHash: 'h1',
  ...over,
});

/** Applies `events` in order; the final state and every decision. */
export function run(state: CoordinatorState, events: CoordinatorEvent[]) {
  const decisions: Decision[] = [];
  for (const e of events) {
    const r = step(state, e);
    state = r.state;
    decisions.push(...r.decisions);
  }
  return { state, decisions };
}

/** The kinds of `ds`, in order. */
export const kinds = (ds: Decision[]) => ds.map((d) => d.kind);
