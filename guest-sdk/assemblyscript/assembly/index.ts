// wasmtaps guest SDK for AssemblyScript (guest ABI v1, docs/abi.md). AssemblyScript 0.28.
//
//   import { Call, task } from "<path>/guest-sdk/assemblyscript/assembly/index";
//   export { wasmtaps_alloc, wasmtaps_abort } from "<path>/guest-sdk/assemblyscript/assembly/index";
//
//   export function wasmtaps_task_add(ptr: usize, len: usize): i64 {
//     return task("add", ["a", "b"], ptr, len, (call: Call): i64 => {
//       if (!call.isInt(0) || !call.isInt(1)) return call.fail();
//       return call.returnInt(call.int(0) + call.int(1));
//     });
//   }
//
// `task(name, params, ptr, len, body)` binds `[args, kwargs]` to the parameter names
// (positional or by keyword; mismatches answer `ArgumentError`). The SDK's transform
// (`--transform guest-sdk/assemblyscript/transform.mjs`) finds every `task("name", [...]`
// call in the sources and writes the `wasmtaps.tasks` manifest, so callers can pass
// keyword arguments. Compile with `--runtime stub` (a bump allocator that never frees:
// the host drops the instance after one call) and `--use abort=<this file>/wasmtaps_abort`
// so that aborts become GuestPanic.

// ---- Allocation and panics ----------------------------------------------------------

/** `wasmtaps_alloc(len)`: bytes from the runtime's (stub, never-freeing) allocator. */
export function wasmtaps_alloc(len: i32): i32 {
  if (len < 0) return 0;
  return <i32>heap.alloc(<usize>len);
}

// @ts-ignore: decorator
@external("wasmtaps", "panic")
declare function hostPanic(ptr: usize, len: usize): void;

/** Reports `message` through `wasmtaps.panic` and traps: the host reports GuestPanic. */
export function fatal(message: string): void {
  const bytes = String.UTF8.encode(message);
  hostPanic(changetype<usize>(bytes), <usize>bytes.byteLength);
  unreachable();
}

/** The `abort` replacement (`--use abort=...`): `assert`, `throw` and runtime errors. */
export function wasmtaps_abort(message: string | null, file: string | null, line: u32, column: u32): void {
  let text = message !== null ? message : "abort";
  if (file !== null) text += " at " + file + ":" + line.toString() + ":" + column.toString();
  fatal(text);
}

// ---- Reading MessagePack ------------------------------------------------------------

/** A cursor over MessagePack bytes in linear memory. `read*` methods return false /
 * a default and set `failed` when the next value is not of the asked type. */
export class Reader {
  constructor(public pos: usize, public end: usize) {}

  has(n: usize): bool {
    return this.end - this.pos >= n;
  }

  peek(): i32 {
    return this.pos < this.end ? <i32>load<u8>(this.pos) : -1;
  }

  be(at: usize, n: i32): u64 {
    let v: u64 = 0;
    for (let i = 0; i < n; i++) v = (v << 8) | <u64>load<u8>(at + i);
    return v;
  }

  isInt(): bool {
    const t = this.peek();
    if (t < 0) return false;
    if (t <= 0x7f || t >= 0xe0) return true;
    if (t < 0xcc || t > 0xd3) return false;
    const n = 1 << ((t - 0xcc) & 3);
    if (!this.has(1 + n)) return false;
    return t != 0xcf || this.be(this.pos + 1, 8) <= <u64>i64.MAX_VALUE;
  }

  /** An integer that fits in i64; check `isInt()` first. */
  readInt(): i64 {
    const t = this.peek();
    if (t <= 0x7f || t >= 0xe0) {
      this.pos += 1;
      return <i64>(<i8>t);
    }
    const n = 1 << ((t - 0xcc) & 3);
    const v = this.be(this.pos + 1, n);
    this.pos += 1 + n;
    if (t >= 0xd0) {
      const shift = <u64>(64 - 8 * n);
      return (<i64>(v << shift)) >> shift;
    }
    return <i64>v;
  }

  /** A length header; -1 when the type byte is none of the given forms. */
  readLen(fixBase: i32, fixMask: i32, t8: i32, t16: i32, t32: i32): i64 {
    const t = this.peek();
    if (t < 0) return -1;
    if (fixMask != 0 && (t & ~fixMask) == fixBase) {
      this.pos += 1;
      return t & fixMask;
    }
    const n = t == t8 ? 1 : t == t16 ? 2 : t == t32 ? 4 : 0;
    if (n == 0 || !this.has(1 + n)) return -1;
    const len = this.be(this.pos + 1, n);
    this.pos += 1 + n;
    return <i64>len;
  }

  /** Reads a str or bin header and returns the body's address (0 on a mismatch). */
  body(isStr: bool): usize {
    const saved = this.pos;
    const len = isStr ? this.readLen(0xa0, 0x1f, 0xd9, 0xda, 0xdb) : this.readLen(0, 0, 0xc4, 0xc5, 0xc6);
    if (len < 0 || !this.has(<usize>len)) {
      this.pos = saved;
      return 0;
    }
    const at = this.pos;
    this.pos += <usize>len;
    this.lastLen = <usize>len;
    return at;
  }
  lastLen: usize = 0;

  readArray(): i64 {
    return this.readLen(0x90, 0x0f, -1, 0xdc, 0xdd);
  }

  readMap(): i64 {
    return this.readLen(0x80, 0x0f, -1, 0xde, 0xdf);
  }

  /** Skips one whole value; false (cursor unchanged) when it is malformed. */
  skip(): bool {
    const saved = this.pos;
    const t = this.peek();
    let ok = true;
    if (t < 0) ok = false;
    else if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) {
      const n = t <= 0x7f || t >= 0xe0 ? 0 : 1 << ((t - 0xcc) & 3);
      ok = this.has(1 + n);
      if (ok) this.pos += 1 + n;
    } else if (t == 0xc0 || t == 0xc2 || t == 0xc3) this.pos += 1;
    else if (t == 0xca || t == 0xcb) {
      const n: usize = t == 0xca ? 5 : 9;
      ok = this.has(n);
      if (ok) this.pos += n;
    } else if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) ok = this.body(true) != 0;
    else if (t >= 0xc4 && t <= 0xc6) ok = this.body(false) != 0;
    else if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
      const n = this.readArray();
      for (let i: i64 = 0; ok && i < n; i++) ok = this.skip();
    } else if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
      const n = this.readMap() * 2;
      for (let i: i64 = 0; ok && i < n; i++) ok = this.skip();
    } else if (t >= 0xd4 && t <= 0xd8) {
      const n = <usize>(2 + (1 << (t - 0xd4)));
      ok = this.has(n);
      if (ok) this.pos += n;
    } else if (t >= 0xc7 && t <= 0xc9) {
      const w = 1 << (t - 0xc7);
      ok = this.has(1 + w);
      if (ok) {
        const n = <usize>(2 + w) + <usize>this.be(this.pos + 1, w);
        ok = this.has(n);
        if (ok) this.pos += n;
      }
    } else ok = false;
    if (!ok) this.pos = saved;
    return ok;
  }

  /** The MessagePack type name of the next value. */
  typeName(): string {
    const t = this.peek();
    if (t < 0) return "nothing";
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) return "integer";
    if (t == 0xc0) return "nil";
    if (t == 0xc2 || t == 0xc3) return "boolean";
    if (t == 0xca || t == 0xcb) return "float";
    if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) return "string";
    if (t >= 0xc4 && t <= 0xc6) return "bytes";
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) return "array";
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) return "map";
    return "ext";
  }
}

// ---- Writing MessagePack ------------------------------------------------------------

/** A growing output buffer in runtime-allocated memory. */
export class Writer {
  buf: usize = 0;
  len: usize = 0;
  cap: usize = 0;

  /** Reserves `n` raw bytes and returns their address for the caller to fill. */
  raw(n: usize): usize {
    if (this.cap - this.len < n) {
      let cap: usize = this.cap == 0 ? 64 : this.cap;
      while (cap - this.len < n) cap *= 2;
      const buf = heap.alloc(cap);
      memory.copy(buf, this.buf, this.len);
      this.buf = buf;
      this.cap = cap;
    }
    const at = this.buf + this.len;
    this.len += n;
    return at;
  }

  put(b: u32): void {
    store<u8>(this.raw(1), <u8>b);
  }

  putBe(t: u32, v: u64, n: i32): void {
    const p = this.raw(1 + n);
    store<u8>(p, <u8>t);
    for (let i = n; i > 0; i--) {
      store<u8>(p + i, <u8>v);
      v >>= 8;
    }
  }

  writeNil(): void {
    this.put(0xc0);
  }

  writeBool(v: bool): void {
    this.put(v ? 0xc3 : 0xc2);
  }

  writeUint(v: u64): void {
    if (v <= 0x7f) this.put(<u32>v);
    else if (v <= 0xff) this.putBe(0xcc, v, 1);
    else if (v <= 0xffff) this.putBe(0xcd, v, 2);
    else if (v <= 0xffffffff) this.putBe(0xce, v, 4);
    else this.putBe(0xcf, v, 8);
  }

  writeInt(v: i64): void {
    if (v >= 0) this.writeUint(<u64>v);
    else if (v >= -32) this.put(<u32>(<u8>v));
    else if (v >= -128) this.putBe(0xd0, <u64>v, 1);
    else if (v >= -32768) this.putBe(0xd1, <u64>v, 2);
    else if (v >= -2147483648) this.putBe(0xd2, <u64>v, 4);
    else this.putBe(0xd3, <u64>v, 8);
  }

  writeFloat(v: f64): void {
    this.putBe(0xcb, reinterpret<u64>(v), 8);
  }

  header(n: usize, fixBase: u32, fixMax: usize, t8: i32, t16: u32, t32: u32): void {
    if (n <= fixMax) this.put(fixBase | <u32>n);
    else if (t8 >= 0 && n <= 0xff) this.putBe(<u32>t8, n, 1);
    else if (n <= 0xffff) this.putBe(t16, n, 2);
    else this.putBe(t32, n, 4);
  }

  /** A str from UTF-8 bytes at `ptr`. */
  writeStrBytes(ptr: usize, len: usize): void {
    this.header(len, 0xa0, 31, 0xd9, 0xda, 0xdb);
    memory.copy(this.raw(len), ptr, len);
  }

  /** A str, encoded as UTF-8. */
  writeStr(s: string): void {
    const len = <usize>String.UTF8.byteLength(s);
    this.header(len, 0xa0, 31, 0xd9, 0xda, 0xdb);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.raw(len));
  }

  /** A bin header for `n` bytes; returns their address for the caller to fill. */
  binSpace(n: usize): usize {
    if (n <= 0xff) this.putBe(0xc4, n, 1);
    else if (n <= 0xffff) this.putBe(0xc5, n, 2);
    else this.putBe(0xc6, n, 4);
    return this.raw(n);
  }

  writeBin(ptr: usize, len: usize): void {
    memory.copy(this.binSpace(len), ptr, len);
  }

  /** Follow with `n` values. */
  writeArray(n: usize): void {
    this.header(n, 0x90, 15, -1, 0xdc, 0xdd);
  }

  /** Follow with `n` key/value pairs. */
  writeMap(n: usize): void {
    this.header(n, 0x80, 15, -1, 0xde, 0xdf);
  }
}

// ---- One call ------------------------------------------------------------------------

/** One task call: the bound arguments and the result envelope. */
export class Call {
  args: Reader[] = [];
  out: Writer = new Writer();
  failed: i64 = 0;

  constructor(public task: string, public params: string[]) {}

  /** Parameter `i`'s raw value, for arrays, maps, anything. */
  arg(i: i32): Reader {
    return new Reader(this.args[i].pos, this.args[i].end);
  }

  /** Checks: false after writing an ArgumentError (return `call.fail()` then). */
  isInt(i: i32): bool {
    return this.args[i].isInt() || this.argError(i, "integer");
  }
  isStr(i: i32): bool {
    const t = this.args[i].peek();
    return (t >= 0 && ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb))) || this.argError(i, "string");
  }
  isBin(i: i32): bool {
    const t = this.args[i].peek();
    return (t >= 0xc4 && t <= 0xc6) || this.argError(i, "bytes");
  }

  int(i: i32): i64 {
    return this.arg(i).readInt();
  }
  /** A str argument decoded from UTF-8. */
  str(i: i32): string {
    const r = this.arg(i);
    const at = r.body(true);
    return String.UTF8.decodeUnsafe(at, r.lastLen);
  }
  /** A bin argument as a copy. */
  bin(i: i32): Uint8Array {
    const r = this.arg(i);
    const at = r.body(false);
    const out = new Uint8Array(<i32>r.lastLen);
    memory.copy(out.dataStart, at, r.lastLen);
    return out;
  }

  /** Writes an ArgumentError for parameter `i` (what was `expected`); returns false. */
  argError(i: i32, expected: string): bool {
    this.failed = this.err("ArgumentError", this.task + "() argument '" + this.params[i] + "' (parameter " +
      (i + 1).toString() + "): invalid type: " + this.args[i].typeName() + ", expected " + expected);
    return false;
  }

  /** The packed ArgumentError of the last failed check. */
  fail(): i64 {
    return this.failed;
  }

  /** Starts `{"ok": ` and returns the writer for exactly one value; then `done()`. */
  ok(): Writer {
    this.out.len = 0;
    const p = this.out.raw(4);
    store<u32>(p, 0x6b6fa281); // 81 a2 'o' 'k'
    return this.out;
  }

  /** The packed `(ptr << 32) | len` of the envelope written so far. */
  done(): i64 {
    return <i64>((<u64>this.out.buf << 32) | <u64>this.out.len);
  }

  returnNil(): i64 {
    this.ok().writeNil();
    return this.done();
  }
  returnInt(v: i64): i64 {
    this.ok().writeInt(v);
    return this.done();
  }
  returnStr(v: string): i64 {
    this.ok().writeStr(v);
    return this.done();
  }

  /** `{"err": {"type": type, "message": message, "traceback": nil}}`. */
  err(type: string, message: string): i64 {
    const w = this.out;
    w.len = 0;
    w.writeMap(1);
    w.writeStr("err");
    w.writeMap(3);
    w.writeStr("type");
    w.writeStr(type);
    w.writeStr("message");
    w.writeStr(message);
    w.writeStr("traceback");
    w.writeNil();
    return this.done();
  }

  argumentError(message: string): bool {
    this.failed = this.err("ArgumentError", this.task + "() " + message);
    return false;
  }

  /** Binds `[args, kwargs]` to the parameters (docs/abi.md section 5). */
  bind(ptr: usize, len: usize): bool {
    const r = new Reader(ptr, ptr + len);
    const n = this.params.length;
    const given = new Array<bool>(n);
    this.args = new Array<Reader>(n);
    for (let i = 0; i < n; i++) this.args[i] = new Reader(0, 0);
    if (r.readArray() != 2) return this.argumentError("arguments are not [args, kwargs]");
    const npos = r.readArray();
    if (npos < 0) return this.argumentError("arguments are not [args, kwargs]");
    if (npos > <i64>n) {
      return this.argumentError("takes " + n.toString() + " positional arguments but " + npos.toString() + " were given");
    }
    for (let i = 0; i < <i32>npos; i++) {
      const start = r.pos;
      if (!r.skip()) return this.argumentError("arguments are not valid MessagePack");
      this.args[i] = new Reader(start, r.pos);
      given[i] = true;
    }
    const nkw = r.readMap();
    if (nkw < 0) return this.argumentError("arguments are not [args, kwargs]");
    for (let k: i64 = 0; k < nkw; k++) {
      const at = r.body(true);
      if (at == 0) return this.argumentError("keyword argument names must be strings");
      const name = String.UTF8.decodeUnsafe(at, r.lastLen);
      const i = this.params.indexOf(name);
      if (i < 0) return this.argumentError("got an unexpected keyword argument '" + name + "'");
      if (given[i]) return this.argumentError("got multiple values for argument '" + name + "'");
      const start = r.pos;
      if (!r.skip()) return this.argumentError("arguments are not valid MessagePack");
      this.args[i] = new Reader(start, r.pos);
      given[i] = true;
    }
    for (let i = 0; i < n; i++) {
      if (!given[i]) return this.argumentError("missing required argument: '" + this.params[i] + "'");
    }
    return true;
  }
}

/** Runs `body` as task `name` with parameters `params` on the argument bytes at
 * `ptr`/`len`. Call it from `export function wasmtaps_task_<name>(ptr, len): i64`
 * with literal `name` and `params`: the transform reads them for the manifest. */
export function task(name: string, params: string[], ptr: usize, len: usize, body: (call: Call) => i64): i64 {
  const call = new Call(name, params);
  if (!call.bind(ptr, len)) return call.failed;
  return body(call);
}
