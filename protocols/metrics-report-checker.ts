/**
 * The deep validator of metrics messages (metrics-report.ts): every field,
 * every limit, every histogram. Each failure is ROO_ERR_BAD_MESSAGE naming
 * the message kind and the field's path. Returns fresh copies holding only
 * the known fields. Pure: no I/O.
 */
import { Checker } from './control-checker.js';
import { bucketOf, HIST_BUCKETS, MAX_HIST_VALUE, type Hist } from './histogram.js';
import type {
  ChannelMetrics,
  CheckpointMetrics,
  MetricsDetailValue,
  MetricsEvent,
  MetricsHello,
  MetricsPlanPipeline,
  MetricsReport,
  PipelineMetrics,
  RoutingMetrics,
  SourceMetrics,
  StepMetrics,
  ThreadMetrics,
  WorkerMetrics,
} from './metrics-report.js';
import { METRICS_EVENT_KINDS, METRICS_LIMITS, METRICS_STEP_KINDS } from './metrics-limits.js';
import { describe, field, LONE_SURROGATE } from './validate.js';

/** Fields of each message kind besides `type` and `version`. */
const HELLO_FIELDS = [
  'app',
  'worker',
  'clusterId',
  'pid',
  'startedAt',
  'rooVersion',
  'pipelines',
  'threads',
  'partitions',
];
const REPORT_FIELDS = [
  'app',
  'worker',
  'clusterId',
  'seq',
  'at',
  'periodMs',
  'steps',
  'pipelines',
  'ingressEgress',
  'threads',
  'sources',
  'channels',
  'routing',
  'checkpoints',
  'checkpointsDropped',
  'events',
  'eventsDropped',
];

/** The checks of one metrics message: the control checker's, plus limits, numbers and histograms. */
class MetricsChecker extends Checker {
  /**
   * A string of `min` to `max` UTF-16 units, well-formed. (Names travel as
   * values, so `__proto__` is a name like any other; only a detail's keys
   * are object keys, checked apart.)
   */
  bounded(x: unknown, path: string, max: number, min = 1): string {
    if (typeof x !== 'string' || x.length < min || x.length > max) {
      throw this.fail(path, `must be a string of ${min} to ${max} characters, got ${describe(x)}`);
    }
    if (LONE_SURROGATE.test(x)) throw this.fail(path, 'is not well-formed UTF-16');
    return x;
  }

  name(x: unknown, path: string): string {
    return this.bounded(x, path, METRICS_LIMITS.name);
  }

  /** An array of at most `max` items, each checked by `each`. */
  list<T>(x: unknown, path: string, max: number, each: (v: unknown, path: string) => T): T[] {
    const a = this.array(x, path);
    if (a.length > max) throw this.fail(path, `has ${a.length} items, more than ${max}`);
    return Array.from(a, (v, i) => each(v, `${path}[${i}]`));
  }

  /** A finite number from `min` to `max`. */
  real(x: unknown, path: string, min: number, max = Number.MAX_VALUE): number {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) {
      throw this.fail(path, `must be a number from ${min} to ${max}, got ${describe(x)}`);
    }
    return x;
  }

  oneOf<T extends string>(x: unknown, path: string, options: readonly T[]): T {
    if (typeof x !== 'string' || !(options as readonly string[]).includes(x)) {
      throw this.fail(path, `must be one of ${options.join(', ')}, got ${describe(x)}`);
    }
    return x as T;
  }

  /** A map with exactly the fields `fields`, whose own fields are then read by the caller. */
  exact(x: unknown, path: string, fields: readonly string[]): Record<string, unknown> {
    const r = this.record(x, path);
    this.onlyFields(r, fields, path);
    return r;
  }

  hist(x: unknown, path: string): Hist {
    const r = this.exact(x, path, ['count', 'min', 'max', 'sum', 'buckets']);
    const count = this.count(field(r, 'count'), `${path}.count`);
    const min = this.count(field(r, 'min'), `${path}.min`);
    const max = this.count(field(r, 'max'), `${path}.max`);
    const sum = this.real(field(r, 'sum'), `${path}.sum`, 0);
    let previous = -1;
    let total = 0;
    const buckets = this.list(field(r, 'buckets'), `${path}.buckets`, HIST_BUCKETS, (b, p) => {
      const pair = this.array(b, p);
      if (pair.length !== 2)
        throw this.fail(p, `must be an [index, count] pair, got ${describe(b)}`);
      const index = this.count(pair[0], `${p}[0]`);
      const n = this.count(pair[1], `${p}[1]`);
      if (index >= HIST_BUCKETS || index <= previous) {
        throw this.fail(p, `has bucket index ${index}: indices ascend, below ${HIST_BUCKETS}`);
      }
      if (n === 0) throw this.fail(p, 'counts nothing: empty buckets are left out');
      previous = index;
      total += n;
      return [index, n] as const;
    });
    if (total !== count) throw this.fail(path, `counts ${count} values but its buckets ${total}`);
    if (count === 0) {
      if (min !== 0 || max !== 0 || sum !== 0)
        throw this.fail(path, 'is empty but has a min, max or sum');
      return { count, min, max, sum, buckets };
    }
    if (max > MAX_HIST_VALUE || min > max) {
      throw this.fail(path, `has min ${min} and max ${max}: min ≤ max ≤ ${MAX_HIST_VALUE}`);
    }
    if (bucketOf(min) !== buckets[0]![0] || bucketOf(max) !== buckets[buckets.length - 1]![0]) {
      throw this.fail(path, `has min ${min} or max ${max} outside its first or last bucket`);
    }
    return { count, min, max, sum, buckets };
  }
}

/** The hello on `record` (type 'hello', version checked by the caller). */
export function validateMetricsHello(record: Record<string, unknown>, version: 1): MetricsHello {
  const c = new MetricsChecker("'hello' metrics message");
  c.onlyFields(record, ['type', 'version', ...HELLO_FIELDS], '');
  return {
    type: 'hello',
    version,
    app: c.name(field(record, 'app'), 'app'),
    worker: c.workerName(field(record, 'worker'), 'worker'),
    clusterId: c.bounded(field(record, 'clusterId'), 'clusterId', METRICS_LIMITS.name, 0),
    pid: c.count(field(record, 'pid'), 'pid'),
    startedAt: c.count(field(record, 'startedAt'), 'startedAt'),
    rooVersion: c.bounded(field(record, 'rooVersion'), 'rooVersion', METRICS_LIMITS.version),
    pipelines: c.list(
      field(record, 'pipelines'),
      'pipelines',
      METRICS_LIMITS.pipelines,
      (p, path) => planPipeline(c, p, path),
    ),
    threads: boundedPositive(c, field(record, 'threads'), 'threads', METRICS_LIMITS.threads),
    partitions: checkedTotal(
      c,
      c.list(field(record, 'partitions'), 'partitions', METRICS_LIMITS.partitions, (p, path) => {
        const r = c.exact(p, path, ['name', 'keyGroups']);
        return {
          name: c.name(field(r, 'name'), `${path}.name`),
          keyGroups: c.positive(field(r, 'keyGroups'), `${path}.keyGroups`),
        };
      }),
      (p) => p.keyGroups,
      'partitions',
    ),
  };
}

function planPipeline(c: MetricsChecker, x: unknown, path: string): MetricsPlanPipeline {
  const r = c.exact(x, path, ['name', 'steps']);
  return {
    name: c.name(field(r, 'name'), `${path}.name`),
    steps: c.list(field(r, 'steps'), `${path}.steps`, METRICS_LIMITS.steps, (s, p) => {
      const step = c.exact(s, p, ['name', 'kind']);
      return {
        name: c.name(field(step, 'name'), `${p}.name`),
        kind: c.oneOf(field(step, 'kind'), `${p}.kind`, METRICS_STEP_KINDS),
      };
    }),
  };
}

function boundedPositive(c: MetricsChecker, x: unknown, path: string, max: number): number {
  const n = c.positive(x, path);
  if (n > max) throw c.fail(path, `is ${n}, more than ${max}`);
  return n;
}

/** `items` if the sum of `size` over them is within METRICS_LIMITS.keyGroups. */
function checkedTotal<T>(c: MetricsChecker, items: T[], size: (t: T) => number, path: string): T[] {
  const total = items.reduce((n, t) => n + size(t), 0);
  if (total > METRICS_LIMITS.keyGroups) {
    throw c.fail(path, `hold ${total} key groups, more than ${METRICS_LIMITS.keyGroups}`);
  }
  return items;
}

/** The report on `record` (type 'report', version checked by the caller). */
export function validateMetricsReport(record: Record<string, unknown>, version: 1): MetricsReport {
  const c = new MetricsChecker("'report' metrics message");
  c.onlyFields(record, ['type', 'version', ...REPORT_FIELDS], '');
  const worker = c.workerName(field(record, 'worker'), 'worker');
  return {
    type: 'report',
    version,
    app: c.name(field(record, 'app'), 'app'),
    worker,
    clusterId: c.bounded(field(record, 'clusterId'), 'clusterId', METRICS_LIMITS.name, 0),
    seq: c.count(field(record, 'seq'), 'seq'),
    at: c.count(field(record, 'at'), 'at'),
    periodMs: c.positive(field(record, 'periodMs'), 'periodMs'),
    steps: c.list(field(record, 'steps'), 'steps', METRICS_LIMITS.steps, (x, p) => step(c, x, p)),
    pipelines: c.list(field(record, 'pipelines'), 'pipelines', METRICS_LIMITS.pipelines, (x, p) =>
      pipeline(c, x, p),
    ),
    ingressEgress: ingressEgress(c, field(record, 'ingressEgress'), 'ingressEgress'),
    threads: c.list(field(record, 'threads'), 'threads', METRICS_LIMITS.threads, (x, p) =>
      thread(c, x, p),
    ),
    sources: c.list(field(record, 'sources'), 'sources', METRICS_LIMITS.sources, (x, p) =>
      source(c, x, p),
    ),
    channels: c.list(field(record, 'channels'), 'channels', METRICS_LIMITS.workers, (x, p) =>
      channel(c, x, p),
    ),
    routing: routing(c, field(record, 'routing'), 'routing', worker),
    checkpoints: c.list(
      field(record, 'checkpoints'),
      'checkpoints',
      METRICS_LIMITS.checkpoints,
      (x, p) => checkpoint(c, x, p),
    ),
    checkpointsDropped: c.count(field(record, 'checkpointsDropped'), 'checkpointsDropped'),
    events: c.list(field(record, 'events'), 'events', METRICS_LIMITS.events, (x, p) =>
      event(c, x, p),
    ),
    eventsDropped: c.count(field(record, 'eventsDropped'), 'eventsDropped'),
  };
}

function step(c: MetricsChecker, x: unknown, path: string): StepMetrics {
  const r = c.exact(x, path, ['pipeline', 'step', 'kind', 'messages', 'latency']);
  return {
    pipeline: c.name(field(r, 'pipeline'), `${path}.pipeline`),
    step: c.name(field(r, 'step'), `${path}.step`),
    kind: c.oneOf(field(r, 'kind'), `${path}.kind`, METRICS_STEP_KINDS),
    messages: c.count(field(r, 'messages'), `${path}.messages`),
    latency: c.hist(field(r, 'latency'), `${path}.latency`),
  };
}

function pipeline(c: MetricsChecker, x: unknown, path: string): PipelineMetrics {
  const r = c.exact(x, path, ['pipeline', 'messages', 'latency']);
  return {
    pipeline: c.name(field(r, 'pipeline'), `${path}.pipeline`),
    messages: c.count(field(r, 'messages'), `${path}.messages`),
    latency: c.hist(field(r, 'latency'), `${path}.latency`),
  };
}

function ingressEgress(c: MetricsChecker, x: unknown, path: string): WorkerMetrics {
  const r = c.exact(x, path, ['messages', 'latency']);
  return {
    messages: c.count(field(r, 'messages'), `${path}.messages`),
    latency: c.hist(field(r, 'latency'), `${path}.latency`),
  };
}

function thread(c: MetricsChecker, x: unknown, path: string): ThreadMetrics {
  const fields = [
    'thread',
    'utilization',
    'queued',
    'deepestMailbox',
    'deepestActor',
    'gcMs',
    'entities',
  ];
  const r = c.exact(x, path, fields);
  return {
    thread: c.count(field(r, 'thread'), `${path}.thread`),
    utilization: c.real(field(r, 'utilization'), `${path}.utilization`, 0, 1),
    queued: c.count(field(r, 'queued'), `${path}.queued`),
    deepestMailbox: c.count(field(r, 'deepestMailbox'), `${path}.deepestMailbox`),
    deepestActor: c.bounded(
      field(r, 'deepestActor'),
      `${path}.deepestActor`,
      METRICS_LIMITS.name,
      0,
    ),
    gcMs: c.real(field(r, 'gcMs'), `${path}.gcMs`, 0),
    entities: c.count(field(r, 'entities'), `${path}.entities`),
  };
}

function source(c: MetricsChecker, x: unknown, path: string): SourceMetrics {
  const r = c.exact(x, path, ['name', 'received', 'bytes', 'muted']);
  return {
    name: c.name(field(r, 'name'), `${path}.name`),
    received: c.count(field(r, 'received'), `${path}.received`),
    bytes: c.count(field(r, 'bytes'), `${path}.bytes`),
    muted: c.boolean(field(r, 'muted'), `${path}.muted`),
  };
}

function channel(c: MetricsChecker, x: unknown, path: string): ChannelMetrics {
  const r = c.exact(x, path, ['peer', 'messagesOut', 'messagesIn', 'bytesOut', 'bytesIn']);
  return {
    peer: c.workerName(field(r, 'peer'), `${path}.peer`),
    messagesOut: c.count(field(r, 'messagesOut'), `${path}.messagesOut`),
    messagesIn: c.count(field(r, 'messagesIn'), `${path}.messagesIn`),
    bytesOut: c.count(field(r, 'bytesOut'), `${path}.bytesOut`),
    bytesIn: c.count(field(r, 'bytesIn'), `${path}.bytesIn`),
  };
}

/** Strictly ascending counts below `limit`. */
function ascending(c: MetricsChecker, x: unknown, path: string, limit: number): number[] {
  let previous = -1;
  return c.list(x, path, limit, (v, p) => {
    const n = c.count(v, p);
    if (n <= previous || n >= limit)
      throw c.fail(p, `is ${n}: ascending key groups below ${limit}`);
    previous = n;
    return n;
  });
}

function routing(c: MetricsChecker, x: unknown, path: string, worker: string): RoutingMetrics {
  const r = c.exact(x, path, ['version', 'members', 'partitions']);
  const members = c.list(field(r, 'members'), `${path}.members`, METRICS_LIMITS.workers, (v, p) =>
    c.workerName(v, p),
  );
  if (new Set(members).size !== members.length) throw c.fail(`${path}.members`, 'repeats a name');
  const self = members.indexOf(worker);
  const partitions = c.list(
    field(r, 'partitions'),
    `${path}.partitions`,
    METRICS_LIMITS.partitions,
    (v, p) => {
      const part = c.exact(v, p, ['name', 'owners', 'threads', 'moving']);
      const owners = c.list(
        field(part, 'owners'),
        `${p}.owners`,
        METRICS_LIMITS.keyGroups,
        (o, q) => c.index(o, q, members.length),
      );
      const mine = owners.filter((o) => o === self).length;
      const threads = c.list(field(part, 'threads'), `${p}.threads`, mine, (t, q) => c.count(t, q));
      if (threads.length !== mine) {
        throw c.fail(
          `${p}.threads`,
          `has ${threads.length} threads for the ${mine} key groups ${worker} owns`,
        );
      }
      return {
        name: c.name(field(part, 'name'), `${p}.name`),
        owners,
        threads,
        moving: ascending(c, field(part, 'moving'), `${p}.moving`, owners.length),
      };
    },
  );
  return {
    version: c.count(field(r, 'version'), `${path}.version`),
    members,
    partitions: checkedTotal(c, partitions, (p) => p.owners.length, `${path}.partitions`),
  };
}

function checkpoint(c: MetricsChecker, x: unknown, path: string): CheckpointMetrics {
  const r = c.exact(x, path, ['id', 'startedAt', 'durationMs', 'bytes', 'outcome']);
  return {
    id: c.count(field(r, 'id'), `${path}.id`),
    startedAt: c.count(field(r, 'startedAt'), `${path}.startedAt`),
    durationMs: c.real(field(r, 'durationMs'), `${path}.durationMs`, 0),
    bytes: c.count(field(r, 'bytes'), `${path}.bytes`),
    outcome: c.oneOf(field(r, 'outcome'), `${path}.outcome`, ['committed', 'aborted'] as const),
  };
}

function event(c: MetricsChecker, x: unknown, path: string): MetricsEvent {
  const r = c.record(x, path);
  const hasDetail = Object.hasOwn(r, 'detail');
  c.onlyFields(r, hasDetail ? ['at', 'kind', 'text', 'detail'] : ['at', 'kind', 'text'], path);
  const base = {
    at: c.count(field(r, 'at'), `${path}.at`),
    kind: c.oneOf(field(r, 'kind'), `${path}.kind`, METRICS_EVENT_KINDS),
    text: c.bounded(field(r, 'text'), `${path}.text`, METRICS_LIMITS.text, 0),
  };
  if (!hasDetail) return base;
  const d = c.record(field(r, 'detail'), `${path}.detail`);
  const keys = Object.keys(d);
  if (keys.length > METRICS_LIMITS.detailEntries) {
    throw c.fail(
      `${path}.detail`,
      `has ${keys.length} entries, more than ${METRICS_LIMITS.detailEntries}`,
    );
  }
  const detail: Record<string, MetricsDetailValue> = {};
  for (const key of keys) {
    const p = `${path}.detail.${key}`;
    c.bounded(key, `${path}.detail`, METRICS_LIMITS.detailKey);
    // An object key: msgpackr renames this one in transit.
    if (key === '__proto__') throw c.fail(`${path}.detail`, 'may not have the key "__proto__"');
    const v = d[key];
    if (typeof v === 'string') detail[key] = c.bounded(v, p, METRICS_LIMITS.detailValue, 0);
    else if (typeof v === 'number') detail[key] = c.real(v, p, -Number.MAX_VALUE);
    else if (typeof v === 'boolean') detail[key] = v;
    else throw c.fail(p, `must be text, a finite number or a boolean, got ${describe(v)}`);
  }
  return { ...base, detail };
}
