/**
 * The alphabet example's wire format, as in Wallaroo's alphabet: a vote is 5
 * bytes, one byte for the letter (ASCII) and a 32-bit big-endian unsigned
 * count of votes. `roo send --binary --msg-size 5` frames each 5 bytes of a
 * votes file as one message.
 */

/** Bytes of one vote. */
export const VOTE_BYTES = 5;

/** One message: votes for a letter. */
export interface Vote {
  /** The letter voted for: the character of the first byte (valid letters are a..z). */
  readonly letter: string;
  /** How many votes, 0 to 2^32-1. */
  readonly votes: number;
}

/** Encodes a vote; `letter` is one character with a code below 256. */
export function encodeVote(letter: string, votes: number): Buffer {
  const code = letter.charCodeAt(0);
  if (letter.length !== 1 || code > 0xff) {
    throw new RangeError(`a vote's letter is one single-byte character, got '${letter}'`);
  }
  const bytes = Buffer.alloc(VOTE_BYTES);
  bytes[0] = code;
  bytes.writeUInt32BE(votes, 1);
  return bytes;
}

/**
 * Decodes a vote. A payload that is not exactly 5 bytes throws, so the
 * runtime drops it (ROO_ERR_DECODER_FAILED). A byte outside a..z still
 * decodes; the letter partition then refuses it (ROO_ERR_UNKNOWN_KEY).
 */
export function decodeVote(payload: Buffer): Vote {
  if (payload.length !== VOTE_BYTES) {
    throw new RangeError(`a vote is ${VOTE_BYTES} bytes, got ${payload.length}`);
  }
  return { letter: String.fromCharCode(payload[0]!), votes: payload.readUInt32BE(1) };
}
