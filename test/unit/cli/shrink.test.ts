/**
 * `roo shrink` (Wallaroo's cluster_shrinker): its flags, what it prints, and
 * the whole round trip against a real external channel on 127.0.0.1 whose
 * handlers are engineHandlers' (a cluster's fixed outcome, or a worker
 * running alone): the request the worker received, the output, the exit code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  EXTERNAL_PROTOCOL_VERSION,
  ErrorCode,
  RooError,
  type ExternalRequest,
  type ShrinkOutcome,
  type ShrinkRequest,
} from '../../../protocols/index.js';
import { engineHandlers } from '../../../runtime/cluster/engine-handlers.js';
import { answerRequest, ExternalServer } from '../../../runtime/cluster/external-server.js';
import { planShrink } from '../../../runtime/cluster/shrink-plan.js';
import type { StatusEngine } from '../../../runtime/cluster/status.js';
import {
  DEFAULT_SHRINK_TIMEOUT_MS,
  SHRINK_USAGE,
  formatShrinkOutcome,
  formatShrinkRefusal,
  parseShrinkArgs,
  run,
  type ShrinkOptions,
} from '../../../runtime/cli/shrink.js';
import { usage } from '../../../runtime/cli/main.js';

const EXT = ['--external', '127.0.0.1:5050'];

/** Parses, expecting options (not 'help'). */
function parse(argv: readonly string[]): ShrinkOptions {
  const parsed = parseShrinkArgs(argv);
  if (parsed === 'help') throw new Error('expected options, got help');
  return parsed;
}

/** The RooError `fn` throws. */
function thrown(fn: () => unknown): RooError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RooError);
    return err as RooError;
  }
  throw new Error('expected a throw');
}

const NOWHERE = { host: '127.0.0.1', port: 0 };
/** What a worker alone (a cluster of one) answers a shrink by count. */
const ALONE_OUTCOME: ShrinkOutcome = {
  ...planShrink(
    {
      version: 1,
      members: [{ name: 'solo', threads: 1, control: NOWHERE, data: NOWHERE }],
      owners: [[0]],
    },
    [],
    'solo',
    { workers: [], count: 1, query: false },
  ),
  members: ['solo'],
};

describe('roo shrink flags', () => {
  it("reads cluster_shrinker's three requests, long and short", () => {
    expect(parse([...EXT, '--workers', 'w2,w3'])).toEqual({
      address: { host: '127.0.0.1', port: 5050 },
      request: { workers: ['w2', 'w3'], count: 0, query: false },
      json: false,
      timeoutMs: DEFAULT_SHRINK_TIMEOUT_MS,
    });
    expect(parse(['-e', '127.0.0.1:5050', '-w', 'w2']).request).toEqual({
      workers: ['w2'],
      count: 0,
      query: false,
    });
    expect(parse([...EXT, '--count', '2']).request).toEqual({
      workers: [],
      count: 2,
      query: false,
    });
    expect(parse(['--external=127.0.0.1:5050', '-c', '1_0']).request.count).toBe(10);
    expect(parse([...EXT, '--query']).request).toEqual({ workers: [], count: 0, query: true });
    expect(parse([...EXT, '-q', '--json', '--timeout', '500'])).toMatchObject({
      json: true,
      timeoutMs: 500,
    });
  });

  it('waits a minute by default: a shrink moves state', () => {
    expect(DEFAULT_SHRINK_TIMEOUT_MS).toBeGreaterThanOrEqual(60_000);
  });

  it('returns help for --help or -h', () => {
    expect(parseShrinkArgs(['--help'])).toBe('help');
    expect(parseShrinkArgs(['-h', '--count', 'x'])).toBe('help');
    for (const flag of ['--external', '--workers', '--count', '--query', '--json', '--timeout']) {
      expect(SHRINK_USAGE).toContain(flag);
    }
    expect(SHRINK_USAGE).toContain('cluster_shrinker');
  });

  const refusals: [string, string[], RegExp][] = [
    ['no --external', ['--count', '1'], /--external ADDR is required/],
    ['an address as a positional', ['127.0.0.1:5050', '--count', '1'], /--external ADDR/],
    ['nothing asked', EXT, /one of --workers NAMES, --count N and --query/],
    ['workers and count', [...EXT, '--workers', 'w2', '--count', '1'], /--workers and --count/],
    ['count and query', [...EXT, '--count', '1', '--query'], /--count and --query/],
    ['workers and query', [...EXT, '-w', 'w2', '-q'], /--workers and --query/],
    ['a count of 0', [...EXT, '--count', '0'], /--count: expected an integer of at least 1/],
    ['a negative count', [...EXT, '--count=-1'], /--count/],
    ['a fractional count', [...EXT, '--count', '1.5'], /--count/],
    ['an empty worker list', [...EXT, '--workers='], /--workers.*empty name/],
    ['an empty name in the list', [...EXT, '--workers', 'w2,,w3'], /empty name/],
    ['a name with a space', [...EXT, '--workers', 'w2, w3'], /' w3' is not a worker name/],
    ['a name given twice', [...EXT, '--workers', 'w2,w2'], /'w2' is named twice/],
    ['an unknown flag', [...EXT, '--force'], /--force/],
    ['a missing value', [...EXT, '--count'], /--count/],
    ['a timeout of 0', [...EXT, '--query', '--timeout', '0'], /--timeout/],
  ];

  it.each(refusals)('refuses %s with ROO_ERR_BAD_FLAG', (_, argv, why) => {
    const err = thrown(() => parseShrinkArgs(argv));
    expect(err.code).toBe(ErrorCode.BadFlag);
    expect(err.message).toMatch(why);
    expect(err.message).not.toContain('\n');
  });

  it('refuses a bad address with ROO_ERR_BAD_ADDRESS naming --external', () => {
    for (const address of ['host', '127.0.0.1:99999', ':1']) {
      const err = thrown(() => parseShrinkArgs(['--external', address, '--query']));
      expect(err.code, address).toBe(ErrorCode.BadAddress);
      expect(err.message).toContain('--external');
    }
  });

  it('is listed by roo --help', () => {
    expect(usage()).toMatch(/roo shrink +remove workers .*cluster_shrinker/);
  });
});

describe('roo shrink output', () => {
  const cluster: ShrinkOutcome = {
    ok: true,
    message: "workers 'w2', 'w3' left the cluster",
    leaving: ['w2', 'w3'],
    eligible: ['w2', 'w3', 'w4'],
    members: ['initializer', 'w4'],
  };

  it('says who leaves and who remains', () => {
    expect(formatShrinkOutcome({ workers: ['w2', 'w3'], count: 0, query: false }, cluster)).toBe(
      [
        'leaving (2): w2, w3',
        'remaining members (2): initializer, w4',
        "workers 'w2', 'w3' left the cluster",
        '',
      ].join('\n'),
    );
  });

  it('says so when a count found no worker to remove', () => {
    const none = { ...cluster, leaving: [], eligible: [], members: ['initializer', 'w2'] };
    expect(formatShrinkOutcome({ workers: [], count: 2, query: false }, none)).toMatch(
      /^leaving \(0\): none\nremaining members \(2\): initializer, w2\n/,
    );
  });

  it('lists the eligible workers and the members for a query', () => {
    const answer = {
      ok: true,
      message: '2 of 3 workers may leave',
      leaving: [],
      eligible: ['w2', 'w3'],
      members: ['initializer', 'w2', 'w3'],
    };
    expect(formatShrinkOutcome({ workers: [], count: 0, query: true }, answer)).toBe(
      [
        'may leave (2): w2, w3',
        'members (3): initializer, w2, w3',
        '2 of 3 workers may leave',
        '',
      ].join('\n'),
    );
  });

  it('gives the reason of a refusal, and who may leave instead', () => {
    const refused = {
      ok: false,
      message: "worker 'initializer' runs a source and cannot leave",
      leaving: [],
      eligible: ['w3'],
      members: ['initializer', 'w2', 'w3'],
    };
    expect(formatShrinkRefusal(refused)).toBe(
      [
        "roo shrink: refused: worker 'initializer' runs a source and cannot leave",
        'roo shrink: may leave (1): w3',
        '',
      ].join('\n'),
    );
    expect(formatShrinkRefusal(ALONE_OUTCOME)).toBe(
      `roo shrink: refused: ${ALONE_OUTCOME.message}\n`,
    );
  });
});

describe('the shrink command on the external channel', () => {
  const request = (args: unknown): ExternalRequest =>
    ({
      type: 'request',
      version: EXTERNAL_PROTOCOL_VERSION,
      id: 9,
      command: 'shrink',
      args,
    }) as ExternalRequest;
  const handlers = (shrink?: (r: ShrinkRequest) => Promise<ShrinkOutcome>) =>
    engineHandlers({
      engine: {} as StatusEngine,
      identity: { worker: 'solo', startedAtMs: 0, external: null },
      log: pino({ level: 'silent' }),
      shrink: shrink ?? (() => Promise.resolve(ALONE_OUTCOME)),
    });

  it("answers with the cluster's outcome, a refusal included (ok true: the request was handled)", async () => {
    const answer = await answerRequest(
      request({ workers: [], count: 1, query: false }),
      handlers(),
    );
    expect(answer.then).toBe('continue');
    expect(answer.response).toMatchObject({
      id: 9,
      ok: true,
      result: { ok: false, message: ALONE_OUTCOME.message, leaving: [], members: ['solo'] },
    });
  });

  it('answers bad args with ROO_ERR_BAD_MESSAGE and never calls the cluster', async () => {
    let called = false;
    const h = handlers(() => {
      called = true;
      return Promise.resolve(ALONE_OUTCOME);
    });
    for (const args of [undefined, { workers: ['w2'], count: 1, query: false }]) {
      const answer = await answerRequest(request(args), h);
      expect(answer.response).toMatchObject({
        id: 9,
        ok: false,
        error: { code: 'ROO_ERR_BAD_MESSAGE' },
      });
    }
    expect(called).toBe(false);
  });

  it("answers a cluster's failure with its code", async () => {
    const h = handlers(() => Promise.reject(new RooError(ErrorCode.Internal, 'coordinator lost')));
    const answer = await answerRequest(request({ workers: [], count: 1, query: false }), h);
    expect(answer.response).toMatchObject({
      ok: false,
      error: { code: 'ROO_ERR_INTERNAL', message: 'coordinator lost' },
    });
  });
});

describe('roo shrink against a real external channel', () => {
  let server: ExternalServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Starts an external channel on 127.0.0.1 (any port) answering shrink with `shrink`. */
  async function serve(shrink?: (r: ShrinkRequest) => Promise<ShrinkOutcome>): Promise<string> {
    const log = pino({ level: 'silent' });
    server = await ExternalServer.start({
      address: { host: '127.0.0.1', port: 0 },
      log,
      handlers: (bound) =>
        engineHandlers({
          engine: {} as StatusEngine,
          identity: { worker: 'initializer', startedAtMs: 0, external: bound },
          log,
          shrink: shrink ?? (() => Promise.resolve(ALONE_OUTCOME)),
        }),
      onShutdown: () => undefined,
    });
    return server.address;
  }

  /** Runs `roo shrink` in this process; its exit code, stdout and stderr. */
  async function roo(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  it('sends the request as given, prints the outcome and exits 0', async () => {
    const received: ShrinkRequest[] = [];
    const outcome: ShrinkOutcome = {
      ok: true,
      message: "workers 'w2', 'w3' left the cluster",
      leaving: ['w2', 'w3'],
      eligible: ['w2', 'w3'],
      members: ['initializer'],
    };
    const address = await serve((r) => {
      received.push(r);
      return Promise.resolve(outcome);
    });
    const done = await roo(['--external', address, '--workers', 'w2,w3']);
    expect(done).toEqual({
      code: 0,
      out: formatShrinkOutcome(received[0]!, outcome),
      err: '',
    });
    expect(done.out).toContain('leaving (2): w2, w3');
    const json = await roo(['-e', address, '-c', '2', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual(outcome);
    const query = await roo(['-e', address, '-q']);
    expect(query.code).toBe(0);
    expect(query.out).toMatch(/^may leave \(2\): w2, w3\nmembers \(1\): initializer\n/);
    expect(received).toEqual([
      { workers: ['w2', 'w3'], count: 0, query: false },
      { workers: [], count: 2, query: false },
      { workers: [], count: 0, query: true },
    ]);
  });

  it('exits 1 with the reason on stderr when the cluster refuses', async () => {
    const address = await serve(() =>
      Promise.resolve({
        ok: false,
        message: "worker 'w9' is not a member",
        leaving: [],
        eligible: ['w2'],
        members: ['initializer', 'w2'],
      }),
    );
    const refused = await roo(['--external', address, '--workers', 'w9']);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain("roo shrink: refused: worker 'w9' is not a member");
    const json = await roo(['--external', address, '--workers', 'w9', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false });
    expect(json.err).toContain('refused');
  });

  it('exits 1 with the answer of a worker alone (a cluster of one)', async () => {
    const address = await serve();
    const alone = await roo(['--external', address, '--query']);
    expect(alone).toEqual({
      code: 1,
      out: '',
      err: `roo shrink: refused: ${ALONE_OUTCOME.message}\n`,
    });
  });

  it("exits 1 with the worker's error when the cluster fails", async () => {
    const address = await serve(() => Promise.reject(new Error('the coordinator is gone')));
    const failed = await roo(['--external', address, '--count', '1']);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/refused 'shrink': ROO_ERR_INTERNAL: the coordinator is gone/);
  });

  it('exits 1 when nothing listens, 2 on bad flags (before connecting)', async () => {
    const address = await serve();
    await server!.close();
    const gone = await roo(['--external', address, '--query', '--timeout', '2000']);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/nothing listens on/);
    const bad = await roo(['--external', address]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^roo shrink: give one of .*\(see 'roo shrink --help'\)\n$/);
    const help = await roo(['--help']);
    expect(help).toEqual({ code: 0, out: SHRINK_USAGE, err: '' });
  });
});
