/**
 * A worker stops cleanly on SIGINT or SIGTERM: it drains what it has taken
 * in, writes it to its sink, logs Wallaroo's shutdown line and exits 0.
 */
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  escapeRegExp,
  RooProcess,
  startReceive,
  startWorker,
  stopAll,
  WORKER_READY,
} from './helpers/processes.js';

afterEach(stopAll);

/** Sends length-prefixed frames on a new connection and closes it. */
async function sendFrames(address: string, texts: readonly string[]): Promise<void> {
  const colon = address.lastIndexOf(':');
  const socket = createConnection({
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
  });
  await once(socket, 'connect');
  const frames = texts.map((text) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(payload.length);
    return Buffer.concat([header, payload]);
  });
  socket.end(Buffer.concat(frames));
  await once(socket, 'close');
}

describe('a worker shuts down cleanly', () => {
  it('on SIGINT, after work, with every output written', async () => {
    const receive = await startReceive();
    const worker = await startWorker({
      module: 'examples/reverse/app.ts',
      threads: 2,
      out: receive.address,
    });
    const lines = Array.from({ length: 2_000 }, (_, i) => `message ${i}`);
    await sendFrames(worker.source, lines);
    await receive.proc.waitForStdoutLines(lines.length);
    worker.proc.child.kill('SIGINT');
    expect(await worker.proc.waitForExit()).toEqual({ code: 0, signal: null });
    expect(worker.proc.stderr).toMatch(/SIGINT: shutting down/);
    expect(worker.proc.stderr).toMatch(/Worker shut down cleanly\./);
    await receive.proc.stop();
    expect(receive.proc.stdoutLines).toBe(lines.length);
  });

  // Runtime bug (runtime/cli/worker-command.ts): the worker logs the ready
  // line before it installs its SIGINT/SIGTERM handlers, so a SIGTERM sent
  // as soon as the line appears kills it by the default action (exit by
  // signal, no drain, no "Worker shut down cleanly."), about half the time.
  // Enable once the handlers are installed before the ready line.
  it('on SIGTERM sent as soon as the ready line appears', async () => {
    for (let i = 0; i < 5; i++) {
      const worker = RooProcess.spawn('worker', [
        'worker',
        '--application-module',
        'examples/reverse/app.ts',
        '--in',
        '127.0.0.1:0',
        '--out',
        '127.0.0.1:9',
        '--ponythreads',
        '1',
      ]);
      await worker.waitForStderr(new RegExp(escapeRegExp(WORKER_READY)));
      worker.child.kill('SIGTERM');
      expect(await worker.waitForExit(), worker.stderr).toEqual({ code: 0, signal: null });
    }
  });
});
