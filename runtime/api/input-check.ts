/**
 * Whether a worker's `--in` addresses fit the application's TCP sources,
 * decided once the application is built (app-loader.ts): an address no
 * source takes is a mistake that would otherwise leave the worker "ready to
 * work" with nothing listening. Pure.
 *
 * A source takes an address by name (`args.input('orders')`, fed by `--in
 * orders@HOST:PORT`) or by position (`args.input()`, `args.input(1)`). So:
 * - a named `--in` that no source takes is refused, with the nearest name
 *   the application asks for (`order` for `orders`);
 * - unnamed `--in` addresses that no source takes, while the application
 *   asks for its addresses by name, are refused, naming the `name@HOST:PORT`
 *   form each source needs.
 * More unnamed addresses than sources asking by position are left alone, as
 * Wallaroo leaves them.
 */
import { ErrorCode, formatAddress, RooError } from '../../protocols/index.js';
import type { Application } from './application.js';
import type { InputAddress } from './args.js';
import { didYouMean } from './suggest.js';

/** The same `--in` address (the object itself on the thread that parsed it, or an equal one). */
function same(a: InputAddress, b: InputAddress): boolean {
  return a === b || (a.host === b.host && a.port === b.port && a.name === b.name);
}

/** `name@HOST:PORT` for every name asked for, as the fix to print. */
function forms(names: readonly string[]): string {
  return names.map((n) => `${n}@HOST:PORT`).join(',');
}

/**
 * Throws RooError ROO_ERR_BAD_FLAG when `inputs` (the worker's `--in`)
 * hold an address no TCP source of `app` takes; see the file comment.
 */
export function checkInputs(app: Application, inputs: readonly InputAddress[]): void {
  const taken: InputAddress[] = [];
  const names: string[] = [];
  for (const p of app.pipelines) {
    if (p.source.kind !== 'tcp-source') continue;
    taken.push(p.source.address);
    const name = p.source.address.name;
    if (name !== undefined && !names.includes(name)) names.push(name);
  }
  const unused = inputs.filter((i) => !taken.some((t) => same(t, i)));
  const named = unused.filter((i) => i.name !== undefined);
  const first = named[0];
  if (first !== undefined) {
    const given = `${first.name}@${formatAddress(first)}`;
    const wanted =
      names.length === 0
        ? `its TCP sources take their addresses by position: pass --in HOST:PORT`
        : `it asks for ${names.map((n) => `'${n}'`).join(', ')}: pass --in ${forms(names)}`;
    throw new RooError(
      ErrorCode.BadFlag,
      `--in ${given}: no TCP source of '${app.name}' takes an address named '${first.name}'${didYouMean(first.name ?? '', names)}; ${wanted}`,
      { name: first.name, names },
    );
  }
  const plain = unused.filter((i) => i.name === undefined);
  if (plain.length > 0 && names.length > 0) {
    throw new RooError(
      ErrorCode.BadFlag,
      `--in ${plain.map((i) => formatAddress(i)).join(',')}: the TCP sources of '${app.name}' take their addresses by name (${names.map((n) => `'${n}'`).join(', ')}), so an address without one feeds nothing: pass --in ${forms(names)}`,
      { names },
    );
  }
}
