/**
 * Writes a key group's entities for a checkpoint as MessagePack with
 * msgpackr's record extension:
 * an array [key, state, key, state, ...], by hand for what states mostly are
 * (numbers, strings, booleans, null, plain objects and arrays of them), with
 * msgpackr for the rest (Maps, Sets, Dates, binary, big integers, undefined).
 * msgpackr's Unpackr with `moreTypes` (what decodeEntities uses, and what
 * any other process would use) reads it back.
 *
 * Why by hand: msgpackr took about 150 ns per entry for word count's
 * `{ count }` states, and at a million keys a checkpoint cost each thread
 * about a fifth of its time. Plain objects are written as msgpackr writes
 * them, as records (a shape's keys once, then its values), so the bytes are
 * as compact as before and decode as before.
 *
 * A state that MessagePack would not bring back as it is (a class instance,
 * a function, an object without a prototype, a `__proto__` field, a cycle)
 * is refused with the reason, as before: see `unlikeData`.
 */
import { Packr } from 'msgpackr';
import { writeUtf8 } from '../../protocols/index.js';

/** How deep a state may nest before it counts as a cycle or too deep to check. */
export const MAX_STATE_DEPTH = 64;

/** Why a state cannot be written: the path and the reason (turned into a coded error by the caller). */
export class UnlikeData extends Error {
  /** The key of the entity whose state it is, once known. */
  key: string | undefined;
}

// Values the hand-written path does not cover (Maps, Sets, Dates, binary,
// big integers, undefined), each packed on its own.
const fallback = new Packr({ moreTypes: true });

/** Record ids: msgpackr's own-structure ids, 0x40 and the 31 after it. */
const RECORD_FIRST_ID = 0x40;
const RECORD_IDS = 32;

/** A record shape: an object's own keys in order, and its record id. */
interface Shape {
  readonly keys: string[];
  readonly join: string;
  readonly id: number;
  /** Written as a record definition already in the current key group's bytes. */
  defined: boolean;
}

/** A growable buffer that MessagePack is written into. */
export class EntityWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly shapes: Shape[] = [];
  private readonly byKeys = new Map<string, Shape>();
  private last: Shape | undefined;
  private nextEvict = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /**
   * Writes the entities, each state through `value` first (a partition's
   * codec); returns a fresh, exact-size copy. Throws UnlikeData, with `key`
   * set to the entity's key.
   */
  entities(
    entries: ReadonlyMap<string, unknown>,
    value: ((key: string, state: unknown) => unknown) | undefined,
  ): Uint8Array {
    this.pos = 0;
    // Each key group's bytes decode on their own: records are defined afresh.
    this.forgetShapes();
    this.ensure(5);
    this.buf[this.pos++] = 0xdd; // array 32
    this.u32(entries.size * 2);
    for (const [key, state] of entries) {
      this.string(key);
      try {
        this.writeValue(value === undefined ? state : value(key, state), 'the state', 0);
      } catch (err) {
        if (err instanceof UnlikeData) err.key = key;
        throw err;
      }
    }
    return Uint8Array.prototype.slice.call(this.buf, 0, this.pos);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private u32(n: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = n >>> 24;
    b[p + 1] = (n >>> 16) & 0xff;
    b[p + 2] = (n >>> 8) & 0xff;
    b[p + 3] = n & 0xff;
    this.pos = p + 4;
  }

  private string(s: string): void {
    const max = s.length * 3;
    this.ensure(5 + max);
    // Write the bytes after the longest header the string can need, then
    // move them back if a shorter header fits (short keys: never moved).
    const header = max < 32 ? 1 : max < 256 ? 2 : max < 65536 ? 3 : 5;
    const start = this.pos + header;
    const n = writeUtf8(this.buf, start, s);
    const b = this.buf;
    let p = this.pos;
    const need = n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
    if (need < header) {
      b.copyWithin(p + need, start, start + n);
    }
    if (need === 1) b[p++] = 0xa0 | n;
    else if (need === 2) {
      b[p++] = 0xd9;
      b[p++] = n;
    } else if (need === 3) {
      b[p++] = 0xda;
      b[p++] = n >>> 8;
      b[p++] = n & 0xff;
    } else {
      b[p++] = 0xdb;
      this.pos = p;
      this.u32(n);
      p = this.pos;
    }
    this.pos = p + n;
  }

  private number(n: number): void {
    this.ensure(9);
    const b = this.buf;
    const p = this.pos;
    if (Number.isInteger(n) && !Object.is(n, -0)) {
      // Not 64..127 as fixints: a reader of msgpackr records takes those
      // bytes for record references.
      if (n >= 0 && n < 64) {
        b[p] = n;
        this.pos = p + 1;
        return;
      }
      if (n >= -32 && n < 0) {
        b[p] = n & 0xff;
        this.pos = p + 1;
        return;
      }
      if (n >= 0 && n < 256) {
        b[p] = 0xcc;
        b[p + 1] = n;
        this.pos = p + 2;
        return;
      }
      if (n >= 0 && n < 65536) {
        b[p] = 0xcd;
        b[p + 1] = n >>> 8;
        b[p + 2] = n & 0xff;
        this.pos = p + 3;
        return;
      }
      if (n >= 0 && n <= 0xffffffff) {
        b[p] = 0xce;
        this.pos = p + 1;
        this.u32(n);
        return;
      }
      if (n >= -128 && n < 0) {
        b[p] = 0xd0;
        b[p + 1] = n & 0xff;
        this.pos = p + 2;
        return;
      }
      if (n >= -32768 && n < 0) {
        b[p] = 0xd1;
        b[p + 1] = (n >>> 8) & 0xff;
        b[p + 2] = n & 0xff;
        this.pos = p + 3;
        return;
      }
      if (n >= -0x80000000 && n < 0) {
        b[p] = 0xd2;
        this.pos = p + 1;
        this.u32(n >>> 0);
        return;
      }
    }
    b[p] = 0xcb;
    b.writeDoubleBE(n, p + 1);
    this.pos = p + 9;
  }

  /** Writes one value (a state or part of one) at `path`, nested `depth` deep. Throws UnlikeData. */
  writeValue(v: unknown, path: string, depth: number): void {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.string(v);
        return;
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case 'function':
        throw new UnlikeData(`${path} is a function`);
      case 'symbol':
        throw new UnlikeData(`${path} is a symbol`);
      case 'object':
        break;
      default:
        // undefined and bigint: msgpackr's encodings.
        this.splice(v);
        return;
    }
    if (v === null) {
      this.ensure(1);
      this.buf[this.pos++] = 0xc0;
      return;
    }
    if (depth > MAX_STATE_DEPTH)
      throw new UnlikeData(`${path} nests deeper than ${MAX_STATE_DEPTH} levels (a cycle?)`);
    if (Array.isArray(v)) {
      const n = v.length;
      this.array(n);
      for (let i = 0; i < n; i++) this.writeValue(v[i], `${path}[${i}]`, depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === Object.prototype) {
      this.object(v as Record<string, unknown>, path, depth);
      return;
    }
    if (v instanceof Map || v instanceof Set) {
      // Their members may be anything: check them, then let msgpackr write them.
      checkMembers(v, path, depth);
      this.splice(v);
      return;
    }
    if (v instanceof Date || ArrayBuffer.isView(v)) {
      this.splice(v);
      return;
    }
    if (proto === null)
      throw new UnlikeData(
        `${path} is an object without a prototype (it would come back with one)`,
      );
    const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'a class';
    throw new UnlikeData(
      `${path} is an instance of ${name} (it would come back as a plain object, without its methods)`,
    );
  }

  /**
   * A plain object, as a msgpackr record (what Unpackr with `moreTypes`
   * decodes to a plain object; a MessagePack map would come back as a Map):
   * the first object of a shape (its own keys, in order) is written as a
   * record definition (ext 0x72, the record's id byte, the keys) and its
   * values; later ones as the id byte and the values.
   */
  private object(o: Record<string, unknown>, path: string, depth: number): void {
    let shape = this.last;
    if (shape !== undefined) {
      // Most objects of a key group have the shape of the one before.
      const keys = shape.keys;
      let i = 0;
      for (const k in o) {
        if (!Object.hasOwn(o, k)) continue;
        if (keys[i] !== k) {
          shape = undefined;
          break;
        }
        i++;
      }
      if (shape !== undefined && i !== keys.length) shape = undefined;
    }
    if (shape === undefined) {
      const keys: string[] = [];
      for (const k in o) {
        if (!Object.hasOwn(o, k)) continue;
        if (k === '__proto__') throw new UnlikeData(`${path} has a key '__proto__'`);
        keys.push(k);
      }
      // JSON: no two key lists give the same text (a plain join would:
      // [] and [''], or ['a\0', 'b'] and ['a', '\0b']).
      const join = JSON.stringify(keys);
      shape = this.byKeys.get(join) ?? this.newShape(keys, join);
    }
    this.last = shape;
    this.ensure(3);
    const b = this.buf;
    if (shape.defined) {
      b[this.pos++] = shape.id;
    } else {
      b[this.pos++] = 0xd4; // fixext 1
      b[this.pos++] = 0x72; // msgpackr's record definition
      b[this.pos++] = shape.id;
      this.array(shape.keys.length);
      for (const k of shape.keys) this.string(k);
      shape.defined = true;
    }
    for (const k of shape.keys) {
      const v = o[k];
      // Most fields are plain values: no path text built for them.
      const t = typeof v;
      if (t === 'number') this.number(v as number);
      else if (t === 'string') this.string(v as string);
      else this.writeValue(v, `${path}.${k}`, depth + 1);
    }
  }

  /** A shape for `keys`, taking a free record id or the next one round robin. */
  private newShape(keys: string[], join: string): Shape {
    let id: number;
    if (this.shapes.length < RECORD_IDS) id = RECORD_FIRST_ID + this.shapes.length;
    else {
      const old = this.shapes[this.nextEvict] as Shape;
      this.byKeys.delete(old.join);
      id = old.id;
      this.nextEvict = (this.nextEvict + 1) % RECORD_IDS;
    }
    const shape: Shape = { keys, join, id, defined: false };
    this.shapes[id - RECORD_FIRST_ID] = shape;
    this.byKeys.set(join, shape);
    return shape;
  }

  /** Forgets the shapes: the reader's record ids may have been redefined (by msgpackr). */
  private forgetShapes(): void {
    this.shapes.length = 0;
    this.byKeys.clear();
    this.last = undefined;
    this.nextEvict = 0;
  }

  private array(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else {
      this.buf[this.pos++] = 0xdd;
      this.u32(n);
    }
  }

  /** A value written by msgpackr, as it is. */
  private splice(v: unknown): void {
    const bytes = fallback.pack(v);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    // msgpackr numbers its own records from the first id on: ours are redefined when next used.
    if (v instanceof Map || v instanceof Set) this.forgetShapes();
  }
}

/** Checks the members of a Map or Set as states (msgpackr writes them after). */
function checkMembers(v: Map<unknown, unknown> | Set<unknown>, path: string, depth: number): void {
  // Writing into a scratch buffer is the check: it throws UnlikeData as the real write would.
  const probe = new EntityWriter(64);
  const check = (x: unknown, at: string): void => probe.writeValue(x, at, depth + 1);
  if (v instanceof Map) {
    for (const [k, x] of v) {
      check(k, `a key of ${path}`);
      check(x, `${path}.get(${String(k)})`);
    }
  } else {
    for (const x of v) check(x, `a member of ${path}`);
  }
}
