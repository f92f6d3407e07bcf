//! The polyglot example tasks in Zig, on the wasmtaps Zig SDK (guest-sdk/zig).
//!
//! Build: scripts/build-polyglot zig   (writes target/polyglot/zig.wasm)
//! Run:   wasmtaps call target/polyglot/zig.wasm add --args '[1, 2]'
const std = @import("std");
const wt = @import("wasmtaps");

pub const panic = wt.panic_handler;

comptime {
    wt.task("add", &.{ "a", "b" }, add);
    wt.task("word_count", &.{"text"}, wordCount);
    wt.task("parse_int", &.{"text"}, parseInt);
    wt.task("reverse_bytes", &.{"data"}, reverseBytes);
    wt.task("noop", &.{}, noop);
    wt.task("crash", &.{}, crash);
    wt.task("trap", &.{}, trap);
}

/// add(a, b) -> a + b
fn add(call: *wt.Call) i64 {
    const a = call.int(0) orelse return call.fail();
    const b = call.int(1) orelse return call.fail();
    return call.returnInt(a +% b);
}

/// word_count(text) -> {word: count}, split on ASCII whitespace, in first-seen order.
fn wordCount(call: *wt.Call) i64 {
    const text = call.str(0) orelse return call.fail();
    var counts = std.StringArrayHashMap(u64).init(wt.allocator);
    var words = std.mem.tokenizeAny(u8, text, " \t\n\r\x0b\x0c");
    while (words.next()) |word| {
        const entry = counts.getOrPut(word) catch wt.fatal("out of memory");
        entry.value_ptr.* = if (entry.found_existing) entry.value_ptr.* + 1 else 1;
    }
    const w = call.ok();
    w.writeMap(counts.count());
    var it = counts.iterator();
    while (it.next()) |e| {
        w.writeStr(e.key_ptr.*);
        w.writeUint(e.value_ptr.*);
    }
    return call.done();
}

/// parse_int(text) -> integer, or the guest error ParseError.
fn parseInt(call: *wt.Call) i64 {
    const text = call.str(0) orelse return call.fail();
    const v = std.fmt.parseInt(i64, text, 10) catch |e| return call.err("ParseError", switch (e) {
        error.Overflow => "number too large to fit in target type",
        error.InvalidCharacter => "invalid digit found in string",
    });
    return call.returnInt(v);
}

/// reverse_bytes(data: bin) -> bin, reversed.
fn reverseBytes(call: *wt.Call) i64 {
    const data = call.bin(0) orelse return call.fail();
    const out = call.ok().binSpace(data.len);
    for (out, 0..) |*b, i| b.* = data[data.len - 1 - i];
    return call.done();
}

/// noop() -> nil: the fresh-instance benchmark's task.
fn noop(call: *wt.Call) i64 {
    return call.returnNil();
}

/// crash(): a Zig panic, reported through wasmtaps.panic (GuestPanic).
fn crash(call: *wt.Call) i64 {
    _ = call;
    @panic("crash: the task gave up on purpose");
}

/// trap(): hits `unreachable` without reporting anything (Trap).
fn trap(call: *wt.Call) i64 {
    _ = call;
    @trap();
}
