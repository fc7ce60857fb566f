/**
 * A worker's `--in` addresses against the application's TCP sources
 * (runtime/api/input-check.ts), and state partitions shared by name
 * (runtime/api/application.ts): mistakes refused when the application is
 * built, saying what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError } from '../../../protocols/index.js';
import {
  application,
  nullSink,
  stateComputation,
  statePartition,
  tcpSource,
  type Application,
} from '../../../runtime/api/index.js';
import { makeAppArgs, type InputAddress } from '../../../runtime/api/args.js';
import { checkInputs } from '../../../runtime/api/input-check.js';

const A = (port: number, name?: string): InputAddress => ({
  host: '127.0.0.1',
  port,
  ...(name === undefined ? {} : { name }),
});

/** An application with a TCP source per request: a name, or a position. */
function app(inputs: readonly InputAddress[], requests: readonly (string | number)[]): Application {
  const args = makeAppArgs({ in: inputs, out: [], workerName: 'w', threads: 1, appArgs: [] });
  const b = application('Orders');
  requests.forEach((r, i) =>
    b.pipeline(tcpSource({ address: args.input(r), name: `s${i}` })).toSink(nullSink()),
  );
  return b.build();
}

function refusal(inputs: readonly InputAddress[], requests: readonly (string | number)[]): string {
  try {
    checkInputs(app(inputs, requests), inputs);
  } catch (e) {
    expect(e).toBeInstanceOf(RooError);
    expect((e as RooError).code).toBe(ErrorCode.BadFlag);
    return (e as RooError).message;
  }
  return expect.fail('expected a refusal');
}

describe('checkInputs', () => {
  it('takes what the sources take, by name or by position, and a worker given none', () => {
    const named = [A(1, 'orders'), A(2, 'quotes')];
    expect(() => checkInputs(app(named, ['orders', 'quotes']), named)).not.toThrow();
    expect(() => checkInputs(app([A(1)], [0]), [A(1)])).not.toThrow();
    // A named address taken by position.
    expect(() => checkInputs(app([A(1, 'x')], [0]), [A(1, 'x')])).not.toThrow();
    expect(() => checkInputs(app([], ['orders']), [])).not.toThrow();
    // More plain addresses than sources: left alone, as Wallaroo does.
    expect(() => checkInputs(app([A(1), A(2)], [0]), [A(1), A(2)])).not.toThrow();
  });

  it('refuses a name no source takes, with the nearest one and the form to use', () => {
    expect(refusal([A(1, 'order'), A(2, 'quotes')], ['orders', 'quotes'])).toBe(
      "--in order@127.0.0.1:1: no TCP source of 'Orders' takes an address named 'order' (did you mean 'orders'?); it asks for 'orders', 'quotes': pass --in orders@HOST:PORT,quotes@HOST:PORT",
    );
    // A source that takes the first address by position takes it with its name.
    expect(refusal([A(1, 'a'), A(2, 'zzz')], [0])).toBe(
      "--in zzz@127.0.0.1:2: no TCP source of 'Orders' takes an address named 'zzz'; it asks for 'a': pass --in a@HOST:PORT",
    );
  });

  it('refuses plain addresses for sources that ask by name', () => {
    expect(refusal([A(1), A(2)], ['orders', 'quotes'])).toBe(
      "--in 127.0.0.1:1,127.0.0.1:2: the TCP sources of 'Orders' take their addresses by name ('orders', 'quotes'), so an address without one feeds nothing: pass --in orders@HOST:PORT,quotes@HOST:PORT",
    );
  });
});

describe('state partitions shared by name', () => {
  const count = stateComputation<string, { n: number }, string>('count', (_, s) => {
    s.n++;
    return undefined;
  });

  function build(first: ReturnType<typeof statePartition<{ n: number }>>, second: typeof first) {
    const args = makeAppArgs({
      in: [A(1), A(2)],
      out: [],
      workerName: 'w',
      threads: 1,
      appArgs: [],
    });
    const b = application('Shared');
    b.pipeline(tcpSource({ address: args.input(0) }))
      .keyBy((x) => x)
      .toStateful(count, first)
      .done();
    b.pipeline(tcpSource({ address: args.input(1), name: 'b' }))
      .keyBy((x) => x)
      .toStateful(count, second)
      .done();
    return b.build();
  }

  it('one partition value in two pipelines, or two made alike, is one partition', () => {
    const initial = () => ({ n: 0 });
    const p = statePartition('totals', { initial });
    expect(build(p, p).partitions.size).toBe(1);
    expect(build(p, statePartition('totals', { initial })).partitions.size).toBe(1);
  });

  it('two of one name that differ are refused, naming the partition and the difference', () => {
    const cases: [ReturnType<typeof statePartition<{ n: number }>>, RegExp][] = [
      [statePartition('totals', { initial: () => ({ n: 1 }) }), /different initial functions/],
    ];
    const initial = () => ({ n: 0 });
    cases.push([
      statePartition('totals', { initial, keyGroups: 8 }),
      /different key groups \(256, 8\)/,
    ]);
    cases.push([statePartition('totals', { initial, keys: ['a'] }), /different keys/]);
    for (const [second, why] of cases) {
      const first = statePartition('totals', { initial });
      let err: unknown;
      try {
        build(first, second);
      } catch (e) {
        err = e;
      }
      expect((err as RooError).code).toBe(ErrorCode.BadApplication);
      expect((err as RooError).message).toMatch(/two state partitions named 'totals'/);
      expect((err as RooError).message).toMatch(why);
      expect((err as RooError).details).toEqual({ partition: 'totals' });
    }
  });
});
