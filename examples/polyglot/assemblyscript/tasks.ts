// The polyglot example tasks in AssemblyScript, on the wasmtaps SDK (guest-sdk/assemblyscript).
//
// Build: scripts/build-polyglot assemblyscript   (writes target/polyglot/assemblyscript.wasm)
// Run:   wasmtaps call target/polyglot/assemblyscript.wasm add --args '[1, 2]'
import { Call, fatal, task } from "../../../guest-sdk/assemblyscript/assembly/index";
export { wasmtaps_alloc } from "../../../guest-sdk/assemblyscript/assembly/index";

/** add(a, b) -> a + b */
export function wasmtaps_task_add(ptr: usize, len: usize): i64 {
  return task("add", ["a", "b"], ptr, len, (call: Call): i64 => {
    if (!call.isInt(0) || !call.isInt(1)) return call.fail();
    return call.returnInt(call.int(0) + call.int(1));
  });
}

function isSpace(c: u8): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** word_count(text) -> {word: count}, split on ASCII whitespace, in first-seen order. */
export function wasmtaps_task_word_count(ptr: usize, len: usize): i64 {
  return task("word_count", ["text"], ptr, len, (call: Call): i64 => {
    if (!call.isStr(0)) return call.fail();
    // Work on the UTF-8 bytes directly: no UTF-16 round trip for every word.
    const r = call.arg(0);
    const at = r.body(true);
    const end = at + r.lastLen;
    const counts = new Map<string, u64>();
    const order: string[] = [];
    let i = at;
    while (i < end) {
      while (i < end && isSpace(load<u8>(i))) i++;
      const start = i;
      while (i < end && !isSpace(load<u8>(i))) i++;
      if (i == start) break;
      const word = String.UTF8.decodeUnsafe(start, i - start);
      if (counts.has(word)) counts.set(word, counts.get(word) + 1);
      else {
        counts.set(word, 1);
        order.push(word);
      }
    }
    const w = call.ok();
    w.writeMap(order.length);
    for (let k = 0; k < order.length; k++) {
      w.writeStr(order[k]);
      w.writeUint(counts.get(order[k]));
    }
    return call.done();
  });
}

/** parse_int(text) -> integer, or the guest error ParseError. */
export function wasmtaps_task_parse_int(ptr: usize, len: usize): i64 {
  return task("parse_int", ["text"], ptr, len, (call: Call): i64 => {
    if (!call.isStr(0)) return call.fail();
    const text = call.str(0);
    let i = 0;
    let negative = false;
    if (text.length > 0 && (text.charCodeAt(0) == 0x2d || text.charCodeAt(0) == 0x2b)) {
      negative = text.charCodeAt(0) == 0x2d;
      i = 1;
    }
    if (i == text.length) return call.err("ParseError", "cannot parse integer from empty string");
    let v: i64 = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return call.err("ParseError", "invalid digit found in string");
      const d: i64 = c - 0x30;
      const limit: i64 = negative ? (i64.MIN_VALUE + d) / 10 : (i64.MAX_VALUE - d) / 10;
      if (negative ? v < limit : v > limit) return call.err("ParseError", "number too large to fit in target type");
      v = v * 10 + (negative ? -d : d);
    }
    return call.returnInt(v);
  });
}

/** reverse_bytes(data: bin) -> bin, reversed. */
export function wasmtaps_task_reverse_bytes(ptr: usize, len: usize): i64 {
  return task("reverse_bytes", ["data"], ptr, len, (call: Call): i64 => {
    if (!call.isBin(0)) return call.fail();
    const r = call.arg(0);
    const at = r.body(false);
    const n = r.lastLen;
    const out = call.ok().binSpace(n);
    for (let i: usize = 0; i < n; i++) store<u8>(out + i, load<u8>(at + n - 1 - i));
    return call.done();
  });
}

/** noop() -> nil: the fresh-instance benchmark's task. */
export function wasmtaps_task_noop(ptr: usize, len: usize): i64 {
  return task("noop", [], ptr, len, (call: Call): i64 => call.returnNil());
}

/** crash(): reports a panic through wasmtaps.panic and traps (GuestPanic). */
export function wasmtaps_task_crash(ptr: usize, len: usize): i64 {
  return task("crash", [], ptr, len, (call: Call): i64 => {
    fatal("crash: the task gave up on purpose");
    return call.returnNil();
  });
}

/** trap(): hits `unreachable` without reporting anything (Trap). */
export function wasmtaps_task_trap(ptr: usize, len: usize): i64 {
  return task("trap", [], ptr, len, (call: Call): i64 => {
    unreachable();
    return call.returnNil();
  });
}
