/**
 * One worker's connection to the metrics receiver, as a state machine over
 * the messages it sends (protocols/metrics-report.ts): a `hello` first, then
 * `report`s that must agree with it. Pure: the receiver (metrics-receiver.ts)
 * feeds it decoded messages and acts on what it decides; a refusal closes
 * the connection.
 *
 *   awaiting-hello --hello--> reporting --report--> reporting
 *   any --refused message or end--> closed
 *
 * What a report must agree with, beyond what the format checks alone: its
 * `app`, `worker` and `clusterId` are the hello's; `seq` increases; every
 * pipeline and step it names is in the hello's plan, with the kind the plan
 * gives it; every thread is below the hello's thread count. So what the
 * store keeps per worker is bounded by the hello, itself bounded by the
 * format's limits.
 */
import {
  ErrorCode,
  RooError,
  type MetricsHello,
  type MetricsMessage,
  type MetricsReport,
} from '../../protocols/index.js';
import { checkedTransition, type TransitionTable } from '../../protocols/transition.js';

/** Where a connection is. */
export type MetricsSessionState = 'awaiting-hello' | 'reporting' | 'closed';

const TRANSITIONS: TransitionTable<MetricsSessionState> = {
  'awaiting-hello': ['reporting', 'closed'],
  reporting: ['reporting', 'closed'],
  closed: [],
};

/** Returns `to` if a session may move there from `from`; throws ROO_ERR_INTERNAL otherwise. */
export function nextMetricsSessionState(
  from: MetricsSessionState,
  to: MetricsSessionState,
): MetricsSessionState {
  return checkedTransition(TRANSITIONS, from, to, 'metrics session');
}

/** What to do with one message. */
export type SessionDecision =
  | { readonly kind: 'hello'; readonly hello: MetricsHello }
  | { readonly kind: 'report'; readonly hello: MetricsHello; readonly report: MetricsReport }
  | { readonly kind: 'refuse'; readonly error: RooError };

/** The "pipeline\0step" key of a step: names may hold any other character. */
export function stepKey(pipeline: string, step: string): string {
  return `${pipeline}\0${step}`;
}

function refuse(message: string, details?: Record<string, unknown>): SessionDecision {
  return { kind: 'refuse', error: new RooError(ErrorCode.BadMessage, message, details) };
}

/** One connection's session: feed it each decoded message with {@link MetricsSession.accept}. */
export class MetricsSession {
  private current: MetricsSessionState = 'awaiting-hello';
  private helloMessage: MetricsHello | undefined;
  /** Kinds of the plan's steps, by {@link stepKey}. */
  private steps = new Map<string, string>();
  private pipelines = new Set<string>();
  private lastSeq = -1;

  /** Where the session is. */
  get state(): MetricsSessionState {
    return this.current;
  }

  /** The hello, once accepted. */
  get hello(): MetricsHello | undefined {
    return this.helloMessage;
  }

  /** Decides on one message; a refusal closes the session (fail-stop). */
  accept(message: MetricsMessage): SessionDecision {
    const decision = this.decide(message);
    if (this.current === 'closed') return decision;
    this.move(decision.kind === 'refuse' ? 'closed' : 'reporting');
    return decision;
  }

  /** The connection ended (or was closed): the session is over. */
  close(): void {
    if (this.current !== 'closed') this.move('closed');
  }

  private decide(message: MetricsMessage): SessionDecision {
    if (this.current === 'closed') return refuse('metrics message after the session closed');
    if (message.type === 'hello') {
      if (this.current !== 'awaiting-hello') {
        return refuse(`a second hello from ${message.worker} on one connection`);
      }
      this.helloMessage = message;
      for (const p of message.pipelines) {
        this.pipelines.add(p.name);
        for (const s of p.steps) this.steps.set(stepKey(p.name, s.name), s.kind);
      }
      return { kind: 'hello', hello: message };
    }
    const hello = this.helloMessage;
    if (hello === undefined) {
      return refuse(`a metrics report from ${message.worker} before its hello`);
    }
    const problem = this.disagreement(hello, message);
    if (problem !== undefined) return refuse(`${hello.worker}'s report ${problem}`);
    this.lastSeq = message.seq;
    return { kind: 'report', hello, report: message };
  }

  /** How `report` disagrees with `hello` and the reports before it, or undefined. */
  private disagreement(hello: MetricsHello, report: MetricsReport): string | undefined {
    if (report.app !== hello.app || report.worker !== hello.worker) {
      return `names ${report.app}/${report.worker}, not ${hello.app}/${hello.worker} as its hello`;
    }
    if (report.clusterId !== hello.clusterId) {
      return `names cluster ${JSON.stringify(report.clusterId)}, not ${JSON.stringify(hello.clusterId)} as its hello`;
    }
    if (report.seq <= this.lastSeq) {
      return `has seq ${report.seq}, not above the previous ${this.lastSeq}`;
    }
    for (const s of report.steps) {
      const kind = this.steps.get(stepKey(s.pipeline, s.step));
      if (kind === undefined) return `names step ${s.pipeline}/${s.step}, which its plan lacks`;
      if (kind !== s.kind) return `gives step ${s.pipeline}/${s.step} kind ${s.kind}, not ${kind}`;
    }
    for (const p of report.pipelines) {
      if (!this.pipelines.has(p.pipeline)) {
        return `names pipeline ${p.pipeline}, which its plan lacks`;
      }
    }
    for (const t of report.threads) {
      if (t.thread >= hello.threads) {
        return `names thread ${t.thread}, but the worker has ${hello.threads}`;
      }
    }
    return undefined;
  }

  private move(to: MetricsSessionState): void {
    this.current = nextMetricsSessionState(this.current, to);
  }
}
