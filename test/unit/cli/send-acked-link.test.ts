import { describe, expect, it } from 'vitest';
import { ErrorCode, RooError, type SourceAckMessage } from '../../../protocols/index.js';
import {
  acceptSourceMessage,
  type AckedLinkState,
  checkAckPosition,
  checkResumePosition,
  nextAckedLinkState,
} from '../../../runtime/cli/send-acked-link.js';

const V = 1 as const;
const WHERE = '127.0.0.1:7000';
const STATES: readonly AckedLinkState[] = [
  'connecting',
  'handshaking',
  'streaming',
  'reconnecting',
  'closing',
  'closed',
  'failed',
];

/** Asserts that `f` throws a RooError with `code` and a message equal to (or matching) `message`. */
function expectRefusal(f: () => unknown, code: string, message: string | RegExp): void {
  expect(f).toThrow(RooError);
  expect(f).toThrow(
    expect.objectContaining({
      code,
      message: typeof message === 'string' ? message : expect.stringMatching(message),
    }),
  );
}

describe('acknowledging link states', () => {
  it('moves only along its transition table', () => {
    expect(nextAckedLinkState('connecting', 'handshaking')).toBe('handshaking');
    expect(nextAckedLinkState('streaming', 'reconnecting')).toBe('reconnecting');
    expect(nextAckedLinkState('reconnecting', 'handshaking')).toBe('handshaking');
    expect(() => nextAckedLinkState('closed', 'streaming')).toThrow(/cannot move/);
    expect(() => nextAckedLinkState('connecting', 'streaming')).toThrow(RooError);
  });
});

describe('acceptSourceMessage', () => {
  const resume: SourceAckMessage = { type: 'resume', version: V, position: 3, acks: true };
  const ack: SourceAckMessage = { type: 'ack', version: V, position: 5 };
  const hello: SourceAckMessage = { type: 'hello', version: V, stream: 's' };

  it('takes a resume only while handshaking and an ack only while streaming', () => {
    expect(acceptSourceMessage('handshaking', resume, WHERE, 0)).toBe(resume);
    expect(acceptSourceMessage('streaming', ack, WHERE, 0)).toBe(ack);
    expect(acceptSourceMessage('closing', ack, WHERE, 0)).toBeUndefined();
  });

  it('refuses every other message in every other state as a bad message', () => {
    for (const state of STATES) {
      for (const m of [resume, ack, hello]) {
        const taken =
          (state === 'handshaking' && m.type === 'resume') ||
          ((state === 'streaming' || state === 'closing') && m.type === 'ack');
        if (taken) continue;
        expectRefusal(
          () => acceptSourceMessage(state, m, WHERE, 0),
          ErrorCode.BadMessage,
          `${WHERE} sent a '${m.type}' message while the send was ${state}`,
        );
      }
    }
  });

  it("fails on a close in any state, with the source's code when it is roo's", () => {
    const close = (code: string, reason: string): SourceAckMessage => ({
      type: 'close',
      version: V,
      code,
      reason,
    });
    for (const state of STATES) {
      expectRefusal(
        () => acceptSourceMessage(state, close(ErrorCode.SnapshotEncodeFailed, 'no'), WHERE, 7),
        ErrorCode.SnapshotEncodeFailed,
        `${WHERE} closed the stream for good, with 7 messages not acknowledged: no`,
      );
      expectRefusal(
        () => acceptSourceMessage(state, close('SOMETHING_ELSE', 'why'), WHERE, 2),
        ErrorCode.BadMessage,
        `${WHERE} closed the stream for good, with 2 messages not acknowledged: SOMETHING_ELSE why`,
      );
    }
  });
});

describe('positions', () => {
  it('takes a resume from the first kept message to the last written one', () => {
    for (const position of [4, 6, 9]) {
      expect(() => checkResumePosition(position, 4, 9, WHERE)).not.toThrow();
    }
    expectRefusal(
      () => checkResumePosition(3, 4, 9, WHERE),
      ErrorCode.BadMessage,
      /acknowledged every message before 4, which are gone/,
    );
    expectRefusal(
      () => checkResumePosition(10, 4, 9, WHERE),
      ErrorCode.BadMessage,
      /only 9 were sent \(another sender with the same --stream-id\?\)/,
    );
  });

  it('takes an ack up to the messages written, not beyond', () => {
    expect(() => checkAckPosition(0, 0, WHERE)).not.toThrow();
    expect(() => checkAckPosition(9, 9, WHERE)).not.toThrow();
    expectRefusal(
      () => checkAckPosition(10, 9, WHERE),
      ErrorCode.BadMessage,
      `${WHERE} acknowledged 10 messages, but only 9 were sent`,
    );
  });
});
