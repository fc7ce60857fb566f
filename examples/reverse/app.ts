/**
 * Reverse (Wallaroo's reverse example): a stateless pipeline that reverses
 * each message. Each message is a line of UTF-8 text (one frame per line, as
 * `roo send` sends a text file); the output is the line reversed and a
 * newline. Reversal is by Unicode code point, so a character outside the
 * Basic Multilingual Plane (an emoji, say) stays whole; a combining mark
 * moves to the other side of its base letter, as with Python's `s[::-1]`.
 *
 *   roo worker --application-module examples/reverse/app.ts \
 *     --in 127.0.0.1:7010 --out 127.0.0.1:7002 --cluster-initializer \
 *     --worker-count 1 --ponythreads 1
 *   roo send --host 127.0.0.1:7010 --file words.txt
 */
import { application, computation, tcpSink, tcpSource, type AppArgs, type Application } from 'roo';

/** Reverses a string by code point. */
export function reverseText(text: string): string {
  return Array.from(text).reverse().join('');
}

const reverse = computation<string, string>('reverse', reverseText);

/** Builds the reverse application. */
export default function reverseApp(args: AppArgs): Application {
  const app = application('Reverse');
  app
    .pipeline(tcpSource({ address: args.input(), name: 'Reverse' }))
    .to(reverse)
    .toSink(tcpSink<string>({ address: args.output(), encoder: (line) => `${line}\n` }));
  return app.build();
}
