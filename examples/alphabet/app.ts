/**
 * Alphabet (Wallaroo's alphabet example): counts votes for letters.
 *
 * Each message is a 5-byte vote (see votes.ts): a letter and a number of
 * votes. A state partition with one fixed key per letter a..z adds each
 * vote to its letter's total and emits `letter => total` and a newline.
 * A vote for anything but a..z is refused by the partition
 * (ROO_ERR_UNKNOWN_KEY), counted, logged and dropped; the stream goes on.
 *
 *   roo worker --application-module examples/alphabet/app.ts \
 *     --in 127.0.0.1:7010 --out 127.0.0.1:7002 --cluster-initializer \
 *     --worker-count 1 --ponythreads 2
 *   roo send --host 127.0.0.1:7010 --file votes.msg --binary --msg-size 5
 */
import {
  application,
  stateComputation,
  statePartition,
  tcpSink,
  tcpSource,
  type AppArgs,
  type Application,
} from 'roo';
import { decodeVote, type Vote } from './votes.js';

/** The partition's keys: one per lower-case ASCII letter. */
export const LETTERS: readonly string[] = [...'abcdefghijklmnopqrstuvwxyz'];

/** A letter's state: its votes so far. */
interface TotalVotes {
  votes: number;
}

/** One output: a letter and its total so far. */
interface LetterTotal {
  readonly letter: string;
  readonly votes: number;
}

const addVotes = stateComputation<Vote, TotalVotes, LetterTotal>('add votes', (vote, total) => {
  total.votes += vote.votes;
  return { letter: vote.letter, votes: total.votes };
});

const letterState = statePartition<TotalVotes>('letter state', {
  keys: LETTERS,
  initial: () => ({ votes: 0 }),
});

/** Builds the alphabet application. */
export default function alphabet(args: AppArgs): Application {
  const app = application('Alphabet');
  app
    .pipeline(tcpSource({ address: args.input(), name: 'Alphabet Votes', decoder: decodeVote }))
    .keyBy((vote) => vote.letter)
    .toStateful(addVotes, letterState)
    .toSink(
      tcpSink<LetterTotal>({
        address: args.output(),
        encoder: (t) => `${t.letter} => ${t.votes}\n`,
      }),
    );
  return app.build();
}
