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
   * one (default 0). Throws ROO_ERR_BAD_APPLICATION with a clear message if
   * there is none.
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
      if (found === undefined) {
        throw new RooError(
          ErrorCode.BadApplication,
          `the application needs an input address ${typeof nameOrIndex === 'number' ? `#${nameOrIndex + 1}` : `named '${nameOrIndex}'`}: pass --in ${typeof nameOrIndex === 'string' ? `${nameOrIndex}@` : ''}HOST:PORT`,
        );
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
