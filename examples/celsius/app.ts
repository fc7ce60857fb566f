/**
 * Celsius (Wallaroo's celsius example): converts temperatures from Celsius
 * to Fahrenheit in two stateless steps, multiply by 1.8 (a parallel
 * computation, spread over every scheduler thread) then add 32.
 *
 * Each message is a line of text holding one decimal number, the temperature
 * in degrees Celsius (`36.6`, `-40`, `1e2`; spaces around it are ignored).
 * Wallaroo's version takes a binary float; text is easier to make and read,
 * and `roo send` sends a text file a line per message. A line that is not a
 * number makes the decoder throw: the runtime drops it with
 * ROO_ERR_DECODER_FAILED and goes on. Each output is the temperature in
 * degrees Fahrenheit with two decimals and a newline (`97.88`). Because the
 * multiplication is parallel, outputs may come out in another order than
 * their inputs when there is more than one thread.
 *
 *   roo worker --application-module examples/celsius/app.ts \
 *     --in 127.0.0.1:7010 --out 127.0.0.1:7002 --cluster-initializer \
 *     --worker-count 1 --ponythreads 2
 *   roo send --host 127.0.0.1:7010 --file celsius.txt
 */
import { application, computation, tcpSink, tcpSource, type AppArgs, type Application } from 'roo';

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Decodes one line holding a decimal number; throws on anything else. */
export function decodeCelsius(payload: Buffer): number {
  const text = payload.toString('utf8').trim();
  const value = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(value)) {
    throw new RangeError(`not a temperature in degrees Celsius: '${text.slice(0, 40)}'`);
  }
  return value;
}

/** Formats degrees Fahrenheit with two decimals (never `-0.00`). */
export function formatFahrenheit(f: number): string {
  const text = f.toFixed(2);
  return text === '-0.00' ? '0.00' : text;
}

const multiply = computation<number, number>('multiply by 1.8', (c) => c * 1.8);
const add = computation<number, number>('add 32', (x) => x + 32);

/** Builds the celsius application. */
export default function celsius(args: AppArgs): Application {
  const app = application('Celsius Conversion');
  app
    .pipeline(tcpSource({ address: args.input(), name: 'Celsius', decoder: decodeCelsius }))
    .toParallel(multiply)
    .to(add)
    .toSink(
      tcpSink<number>({ address: args.output(), encoder: (f) => `${formatFahrenheit(f)}\n` }),
    );
  return app.build();
}
