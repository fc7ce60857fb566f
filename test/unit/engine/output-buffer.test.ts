import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateKernelMemory, Scheduler, type Behaviour } from '../../../actors/index.js';
import { encodeInto, type Encoder } from '../../../runtime/api/index.js';
import { ErrorReporter } from '../../../runtime/logging/error-reporter.js';
import { OutputBuffer } from '../../../runtime/engine/output-buffer.js';
import { SinkEncoder } from '../../../runtime/engine/sink-actors.js';
import { createLogger } from '../../../runtime/logging/logger.js';

describe('OutputBuffer', () => {
  it('writes numbers exactly as String(n) does', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer(),
          fc.maxSafeInteger(),
          fc.double(),
          fc.constantFrom(-0, NaN, Infinity),
        ),
        (n) => {
          const out = new OutputBuffer(4);
          out.number(n);
          expect(out.take().toString('latin1')).toBe(String(n));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('writes text as UTF-8 and bytes as given, growing as needed, in call order', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array())), (parts) => {
        const out = new OutputBuffer(1);
        for (const p of parts) {
          if (typeof p === 'string') out.text(p);
          else out.bytes(p);
        }
        const expected = Buffer.concat(
          parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))),
        );
        expect(out.take().equals(expected)).toBe(true);
        expect(out.pos).toBe(0);
      }),
    );
  });

  it('chains', () => {
    const out = new OutputBuffer(8);
    out.text('the').text(' => ').number(42).byte(10);
    expect(out.take().toString()).toBe('the => 42\n');
  });
});

/** A sink writer stand-in that keeps the chunks it is sent. */
class Chunks implements Behaviour {
  paused = false;
  readonly chunks: Buffer[] = [];
  receive(_tag: number, chunk: unknown): void {
    this.chunks.push(chunk as Buffer);
  }
  receiveRuntime(): void {}
}

function encoderWith<O>(encoder: Encoder<O>) {
  const s = new Scheduler({ memory: allocateKernelMemory(1, 4096), thread: 0 });
  const log = createLogger({ worker: 'test', thread: 0 });
  const errors = new ErrorReporter(log);
  const sink = new Chunks();
  const e = new SinkEncoder(s, encoder as Encoder<unknown>, errors, "sink 'test'");
  e.writer = s.spawn(sink, 'writer');
  const flush = (): string => {
    s.flushOutbound();
    s.runTurns();
    return Buffer.concat(sink.chunks).toString();
  };
  return { e, flush, errors };
}

describe('SinkEncoder', () => {
  it('an encodeInto encoder writes straight into the shipped bytes', () => {
    const { e, flush } = encoderWith(
      encodeInto<{ w: string; n: number }>((o, out) =>
        out.text(o.w).text(' => ').number(o.n).text('\n'),
      ),
    );
    e.encode({ w: 'a', n: 1 });
    e.encode({ w: 'b', n: 2 });
    expect(flush()).toBe('a => 1\nb => 2\n');
    expect(e.counters).toEqual({ received: 2, shipped: 2 });
  });

  it('drops what an encoder wrote for an output before it threw, and goes on', () => {
    const { e, flush, errors } = encoderWith(
      encodeInto<number>((n, out) => {
        out.text(`part of ${n} `);
        if (n === 2) throw new Error('bad output');
        out.text('\n');
      }),
    );
    e.encode(1);
    e.encode(2);
    e.encode(3);
    expect(flush()).toBe('part of 1 \npart of 3 \n');
    expect(Object.values(errors.counts())).toEqual([1]);
    expect(e.counters.shipped).toBe(2);
  });

  it('a string encoder and a bytes encoder still work', () => {
    const a = encoderWith((o: unknown) => `${String(o)};`);
    a.e.encode('x');
    a.e.encode(7);
    expect(a.flush()).toBe('x;7;');
    const b = encoderWith((o: unknown) => Buffer.from([Number(o)]));
    b.e.encode(65);
    b.e.encode(66);
    expect(b.flush()).toBe('AB');
  });
});
