import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MetricsStore,
  nextMetricsReceiverState,
  startMetricsReceiver,
  type MetricsReceiver,
} from '../../../runtime/metrics/index.js';
import { APP, closed, connect, frame, hello, report } from './reports.js';

const LOCAL = { host: '127.0.0.1', port: 0 };
let receiver: MetricsReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** Resolves when `f` holds, checked on every store change (polled each turn: no fixed sleep). */
async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setImmediate(r));
}

async function start(options: { maxConnections?: number; helloTimeoutMs?: number } = {}) {
  const store = new MetricsStore();
  const lines: string[] = [];
  receiver = await startMetricsReceiver({
    address: LOCAL,
    store,
    log: (l) => lines.push(l),
    ...options,
  });
  return { store, lines, receiver };
}

describe('metrics receiver', () => {
  it('takes hellos and reports from many workers, in frames split anyhow', async () => {
    const { store, receiver: r } = await start();
    const a = await connect(r.address);
    const b = await connect(r.address);
    const bytes = Buffer.concat([
      frame(hello('initializer')),
      frame(report('initializer', 0, 2000, 7)),
    ]);
    for (let i = 0; i < bytes.length; i += 5) a.write(bytes.subarray(i, i + 5));
    b.write(
      Buffer.concat([
        frame(hello('worker2')),
        frame(report('worker2', 0, 2000, 3)),
        frame(report('worker2', 1, 4000, 4)),
      ]),
    );
    const workers = () => store.apps.get(APP)?.workers;
    await until(
      () =>
        workers()?.get('initializer')?.totals.reports === 1 &&
        workers()?.get('worker2')?.totals.reports === 2,
    );
    expect(workers()!.get('worker2')!.totals.ingressEgress.messages).toBe(7);
    expect(r.open).toBe(2);
    a.end();
    await closed(a);
    await until(() => store.status(workers()!.get('initializer')!, Date.now()) === 'disconnected');
    b.destroy();
  });

  it('refuses garbage, strangers and bad reports with a typed error, a log line and a closed connection', async () => {
    const { store, lines, receiver: r } = await start();
    const cases: [Buffer, string, RegExp][] = [
      [
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        'ROO_ERR_FRAME_TOO_LARGE',
        /exceeds the maximum/,
      ],
      [Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), 'ROO_ERR_BAD_MESSAGE', /not valid msgpack/],
      [frame(report('initializer', 0, 1, 1)), 'ROO_ERR_BAD_MESSAGE', /before its hello/],
      [
        Buffer.concat([frame(hello('initializer')), frame(report('worker2', 0, 1, 1))]),
        'ROO_ERR_BAD_MESSAGE',
        /not word-count\/initializer/,
      ],
    ];
    for (const [bytes, code, re] of cases) {
      lines.length = 0;
      const s = await connect(r.address);
      s.write(bytes);
      await closed(s);
      expect(lines.filter((l) => l.includes(`refused: ${code}`))).toHaveLength(1);
      expect(lines.find((l) => l.includes(`refused: ${code}`))).toMatch(re);
    }
    expect(r.refused.get('ROO_ERR_BAD_MESSAGE')).toBe(3);
    expect(r.refused.get('ROO_ERR_FRAME_TOO_LARGE')).toBe(1);
    // A frame cut short by the end of the connection.
    const s = await connect(r.address);
    s.end(frame(hello('worker2')).subarray(0, 20));
    await closed(s);
    expect(r.refused.get('ROO_ERR_FRAME_TRUNCATED')).toBe(1);
    // The receiver still serves.
    const ok = await connect(r.address);
    ok.write(Buffer.concat([frame(hello('worker2')), frame(report('worker2', 0, 1, 2))]));
    await until(() => store.apps.get(APP)?.workers.get('worker2')?.totals.reports === 1);
    ok.destroy();
  });

  it('closes a connection that says no hello in time, and connections beyond its bound', async () => {
    const { lines, receiver: r } = await start({ maxConnections: 1, helloTimeoutMs: 50 });
    const quiet = await connect(r.address);
    const extra = await connect(r.address);
    await closed(extra);
    await closed(quiet);
    expect(lines.join('\n')).toMatch(/ROO_ERR_QUEUE_FULL 1 metrics connections are open already/);
    expect(lines.join('\n')).toMatch(/ROO_ERR_BAD_MESSAGE no hello within 50 ms/);
  });

  it('rate-limits its log lines', async () => {
    const { lines, receiver: r } = await start();
    for (let i = 0; i < 30; i++) {
      const s = await connect(r.address);
      s.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await closed(s);
    }
    expect(r.refused.get('ROO_ERR_FRAME_TOO_LARGE')).toBe(30);
    expect(lines).toHaveLength(20);
  });

  it('closes the older connection when a worker connects again', async () => {
    const { store, lines, receiver: r } = await start();
    const first = await connect(r.address);
    first.write(frame(hello('initializer')));
    await until(() => store.apps.get(APP)?.workers.has('initializer') === true);
    const second = await connect(r.address);
    second.write(frame(hello('initializer', { pid: 77 })));
    await closed(first);
    expect(lines.join('\n')).toMatch(/earlier connection is closed/);
    expect(store.apps.get(APP)!.workers.get('initializer')!.hello.pid).toBe(77);
    second.destroy();
    expect(() => nextMetricsReceiverState('closed', 'listening')).toThrow(/cannot move/);
  });

  it('survives any bytes, well-framed or not, and keeps serving', async () => {
    const { store, receiver: r } = await start({ helloTimeoutMs: 200 });
    const valid = frame(hello('worker2'));
    // Random bytes; random payloads in frames; a valid hello cut anywhere or followed by garbage.
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 64 }).map((b) => {
        const f = Buffer.alloc(4 + b.length);
        f.writeUInt32BE(b.length, 0);
        Buffer.from(b).copy(f, 4);
        return f;
      }),
      fc.nat({ max: valid.length }).map((n) => valid.subarray(0, n)),
      fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.concat([valid, Buffer.from(b)])),
    );
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        const s = await connect(r.address);
        s.end(bytes);
        await closed(s);
      }),
      { numRuns: 60 },
    );
    const ok = await connect(r.address);
    ok.write(Buffer.concat([frame(hello('initializer')), frame(report('initializer', 0, 1, 3))]));
    await until(() => store.apps.get(APP)?.workers.get('initializer')?.totals.reports === 1);
    ok.destroy();
  });
});
