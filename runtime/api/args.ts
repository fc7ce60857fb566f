/**
 * What an application module's function receives: the parsed command line
 * that concerns the application (`--in`, `--out`, arguments after `--`),
 * so that sources and sinks reach their addresses.
 */
import { ErrorCode, RooError, type Address } from '../../protocols/index.js';

export type { Address } from '../../protocols/index.js';

/** A `--in` address, optionally named (`name@host:port`) after the source it feeds. */
export interface InputAddress extends Address {
  readonly name?: string;
  /** True when this worker was given no such `--in` address (the source runs elsewhere). */
  readonly absent?: boolean;
}

/** The plain, cloneable facts behind {@link AppArgs} (sent to every thread). */
export interface AppArgsData {
  readonly in: readonly InputAddress[];
  readonly out: readonly Address[];
  readonly workerName: string;
  readonly threads: number;
  readonly appArgs: readonly string[];
}

/** The arguments an application module's function receives. */
export interface AppArgs extends AppArgsData {
  /**
   * The `--in` address named `name` (`name@host:port`), or the `index`-th
   * one (default 0). If this worker was given none, an address marked
   * `absent`: the source then runs on the workers that have one.
   */
  input(nameOrIndex?: string | number): InputAddress;
  /** The `index`-th `--out` address (default 0); throws if there is none. */
  output(index?: number): Address;
}

/** Wraps plain argument data with the helper methods. */
export function makeAppArgs(data: AppArgsData): AppArgs {
  return {
    ...data,
    input(nameOrIndex: string | number = 0): InputAddress {
      const found =
        typeof nameOrIndex === 'number'
          ? data.in[nameOrIndex]
          : data.in.find((a) => a.name === nameOrIndex);
      // Not given here: in a cluster, sources run on the workers that have
      // an --in address for them; this worker builds the same plan and skips it.
      if (found === undefined) {
        return typeof nameOrIndex === 'string'
          ? { host: '', port: 0, name: nameOrIndex, absent: true }
          : { host: '', port: 0, absent: true };
      }
      return found;
    },
    output(index = 0): Address {
      const found = data.out[index];
      if (found === undefined) {
        throw new RooError(
          ErrorCode.BadApplication,
          `the application needs an output address: pass --out HOST:PORT`,
        );
      }
      return found;
    },
  };
}
