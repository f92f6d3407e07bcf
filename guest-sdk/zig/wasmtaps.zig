//! wasmtaps guest SDK for Zig (guest ABI v1, docs/abi.md). Tested with Zig 0.14.1.
//!
//! ```zig
//! const wt = @import("wasmtaps");
//! pub const panic = wt.panic_handler; // Zig panics become GuestPanic
//!
//! comptime {
//!     wt.task("add", &.{ "a", "b" }, add);
//! }
//!
//! fn add(call: *wt.Call) i64 {
//!     const a = call.int(0) orelse return call.fail();
//!     const b = call.int(1) orelse return call.fail();
//!     return call.returnInt(a + b);
//! }
//! ```
//!
//! `task(name, params, f)` exports `wasmtaps_task_<name>`, binds `[args, kwargs]` to the
//! parameter names (positional or by keyword; mismatches answer `ArgumentError`) and
//! emits the task's `wasmtaps.tasks` manifest entry through module-level assembly, so
//! callers can use keyword arguments. Memory comes from a never-freeing bump allocator
//! over `memory.grow` (`allocator` wraps it as a `std.mem.Allocator`).
const std = @import("std");

/// The most parameters one task may have.
pub const max_params = 8;

// ---- Allocation ---------------------------------------------------------------------

var next: usize = 0;
var limit: usize = 0;

/// `len` bytes aligned to 8, never freed; null when memory cannot grow.
pub fn alloc(len: usize) ?[*]u8 {
    var start = (next + 7) & ~@as(usize, 7);
    if (next == 0 or len > limit - start) {
        const pages = (len + 7 + 65535) / 65536;
        const old = @wasmMemoryGrow(0, pages);
        if (old < 0) return null;
        start = @as(usize, @intCast(old)) * 65536;
        limit = start + pages * 65536;
    }
    next = start + len;
    return @ptrFromInt(start);
}

fn allocExport(len: i32) callconv(.C) i32 {
    if (len < 0) return 0;
    const p = alloc(@intCast(len)) orelse return 0;
    return @intCast(@intFromPtr(p));
}

comptime {
    @export(&allocExport, .{ .name = "wasmtaps_alloc" });
}

fn zigAlloc(_: *anyopaque, len: usize, alignment: std.mem.Alignment, _: usize) ?[*]u8 {
    if (alignment.toByteUnits() > 8) return null;
    return alloc(len);
}

/// The bump allocator as a `std.mem.Allocator` (free is a no-op, resize fails).
pub const allocator = std.mem.Allocator{
    .ptr = undefined,
    .vtable = &.{
        .alloc = zigAlloc,
        .resize = std.mem.Allocator.noResize,
        .remap = std.mem.Allocator.noRemap,
        .free = std.mem.Allocator.noFree,
    },
};

// ---- Panics ---------------------------------------------------------------------------

extern "wasmtaps" fn panic(ptr: [*]const u8, len: usize) void;

/// Reports `message` through `wasmtaps.panic` and traps: the host reports GuestPanic.
pub fn fatal(message: []const u8) noreturn {
    panic(message.ptr, message.len);
    @trap();
}

fn onPanic(message: []const u8, _: ?usize) noreturn {
    fatal(message);
}

/// Put `pub const panic = wt.panic_handler;` in the root file so that Zig panics
/// (safety checks, `@panic`, `unreachable` in safe modes) are reported as GuestPanic.
pub const panic_handler = std.debug.FullPanic(onPanic);

// ---- Reading MessagePack -------------------------------------------------------------

/// A cursor over MessagePack bytes. Every `read*` returns null (and leaves the cursor
/// where it was) when the next value is not of the asked type.
pub const Reader = struct {
    bytes: []const u8,
    pos: usize = 0,

    fn be(self: *const Reader, at: usize, n: usize) u64 {
        var v: u64 = 0;
        for (self.bytes[at .. at + n]) |b| v = (v << 8) | b;
        return v;
    }

    fn has(self: *const Reader, n: usize) bool {
        return self.bytes.len - self.pos >= n;
    }

    pub fn peek(self: *const Reader) ?u8 {
        return if (self.has(1)) self.bytes[self.pos] else null;
    }

    pub fn readNil(self: *Reader) ?void {
        if (self.peek() != 0xc0) return null;
        self.pos += 1;
    }

    pub fn readBool(self: *Reader) ?bool {
        const t = self.peek() orelse return null;
        if (t != 0xc2 and t != 0xc3) return null;
        self.pos += 1;
        return t == 0xc3;
    }

    /// Any integer that fits in i64.
    pub fn readInt(self: *Reader) ?i64 {
        const t = self.peek() orelse return null;
        if (t <= 0x7f or t >= 0xe0) {
            self.pos += 1;
            return @as(i8, @bitCast(t));
        }
        if (t < 0xcc or t > 0xd3) return null;
        const n: usize = @as(usize, 1) << @intCast((t - 0xcc) & 3);
        if (!self.has(1 + n)) return null;
        const v = self.be(self.pos + 1, n);
        const value: i64 = if (t >= 0xd0) blk: {
            const shift: u6 = @intCast(64 - 8 * n);
            break :blk @as(i64, @bitCast(v << shift)) >> shift;
        } else blk: {
            if (v > std.math.maxInt(i64)) return null;
            break :blk @intCast(v);
        };
        self.pos += 1 + n;
        return value;
    }

    /// A float (32 or 64-bit) or an integer.
    pub fn readFloat(self: *Reader) ?f64 {
        const t = self.peek() orelse return null;
        if (t == 0xcb and self.has(9)) {
            defer self.pos += 9;
            return @bitCast(self.be(self.pos + 1, 8));
        }
        if (t == 0xca and self.has(5)) {
            defer self.pos += 5;
            return @as(f32, @bitCast(@as(u32, @intCast(self.be(self.pos + 1, 4)))));
        }
        const i = self.readInt() orelse return null;
        return @floatFromInt(i);
    }

    fn readLen(self: *Reader, fix_base: u8, fix_mask: u8, t8: ?u8, t16: u8, t32: u8) ?usize {
        const t = self.peek() orelse return null;
        if (fix_mask != 0 and t & ~fix_mask == fix_base) {
            self.pos += 1;
            return t & fix_mask;
        }
        const n: usize = if (t8 != null and t == t8.?) 1 else if (t == t16) 2 else if (t == t32) 4 else return null;
        if (!self.has(1 + n)) return null;
        const len = self.be(self.pos + 1, n);
        self.pos += 1 + n;
        return @intCast(len);
    }

    fn readBody(self: *Reader, saved: usize, len: usize) ?[]const u8 {
        if (!self.has(len)) {
            self.pos = saved;
            return null;
        }
        defer self.pos += len;
        return self.bytes[self.pos .. self.pos + len];
    }

    /// A str, pointing into the input.
    pub fn readStr(self: *Reader) ?[]const u8 {
        const saved = self.pos;
        const len = self.readLen(0xa0, 0x1f, 0xd9, 0xda, 0xdb) orelse return null;
        return self.readBody(saved, len);
    }

    /// A bin, pointing into the input.
    pub fn readBin(self: *Reader) ?[]const u8 {
        const saved = self.pos;
        const len = self.readLen(0, 0, 0xc4, 0xc5, 0xc6) orelse return null;
        return self.readBody(saved, len);
    }

    pub fn readArray(self: *Reader) ?usize {
        return self.readLen(0x90, 0x0f, null, 0xdc, 0xdd);
    }

    pub fn readMap(self: *Reader) ?usize {
        return self.readLen(0x80, 0x0f, null, 0xde, 0xdf);
    }

    fn skipN(self: *Reader, n: usize) bool {
        if (!self.has(n)) return false;
        self.pos += n;
        return true;
    }

    /// Skips one whole value with everything nested in it.
    pub fn skip(self: *Reader) ?void {
        const saved = self.pos;
        errdefer self.pos = saved;
        const t = self.peek() orelse return null;
        const ok = switch (t) {
            0x00...0x7f, 0xe0...0xff, 0xcc...0xd3 => self.readInt() != null or (t == 0xcf and self.skipN(9)),
            0xc0, 0xc2, 0xc3 => self.skipN(1),
            0xca, 0xcb => self.readFloat() != null,
            0xa0...0xbf, 0xd9...0xdb => self.readStr() != null,
            0xc4...0xc6 => self.readBin() != null,
            0x90...0x9f, 0xdc, 0xdd => blk: {
                var n = self.readArray() orelse break :blk false;
                while (n > 0) : (n -= 1) self.skip() orelse break :blk false;
                break :blk true;
            },
            0x80...0x8f, 0xde, 0xdf => blk: {
                var n = (self.readMap() orelse break :blk false) * 2;
                while (n > 0) : (n -= 1) self.skip() orelse break :blk false;
                break :blk true;
            },
            0xd4...0xd8 => self.skipN(2 + (@as(usize, 1) << @intCast(t - 0xd4))),
            0xc7...0xc9 => blk: {
                const n: usize = @as(usize, 1) << @intCast(t - 0xc7);
                if (!self.has(1 + n)) break :blk false;
                break :blk self.skipN(2 + n + @as(usize, @intCast(self.be(self.pos + 1, n))));
            },
            else => false,
        };
        if (!ok) {
            self.pos = saved;
            return null;
        }
    }

    /// The MessagePack type name of the next value.
    pub fn typeName(self: *const Reader) []const u8 {
        const t = self.peek() orelse return "nothing";
        return switch (t) {
            0x00...0x7f, 0xe0...0xff, 0xcc...0xd3 => "integer",
            0xc0 => "nil",
            0xc2, 0xc3 => "boolean",
            0xca, 0xcb => "float",
            0xa0...0xbf, 0xd9...0xdb => "string",
            0xc4...0xc6 => "bytes",
            0x90...0x9f, 0xdc, 0xdd => "array",
            0x80...0x8f, 0xde, 0xdf => "map",
            else => "ext",
        };
    }
};

// ---- Writing MessagePack -------------------------------------------------------------

/// A growing output buffer in bump-allocated memory.
pub const Writer = struct {
    buf: [*]u8 = undefined,
    len: usize = 0,
    cap: usize = 0,

    /// Reserves `n` raw bytes for the caller to fill.
    pub fn raw(self: *Writer, n: usize) []u8 {
        if (self.cap - self.len < n) {
            var cap: usize = if (self.cap == 0) 64 else self.cap;
            while (cap - self.len < n) cap *= 2;
            const buf = alloc(cap) orelse fatal("wasmtaps: out of memory writing the result");
            @memcpy(buf[0..self.len], self.buf[0..self.len]);
            self.buf = buf;
            self.cap = cap;
        }
        defer self.len += n;
        return self.buf[self.len .. self.len + n];
    }

    fn put(self: *Writer, b: u8) void {
        self.raw(1)[0] = b;
    }

    fn putBe(self: *Writer, t: u8, v: u64, n: usize) void {
        const p = self.raw(1 + n);
        p[0] = t;
        var x = v;
        var i = n;
        while (i > 0) : (i -= 1) {
            p[i] = @truncate(x);
            x >>= 8;
        }
    }

    pub fn writeNil(self: *Writer) void {
        self.put(0xc0);
    }

    pub fn writeBool(self: *Writer, v: bool) void {
        self.put(if (v) 0xc3 else 0xc2);
    }

    pub fn writeUint(self: *Writer, v: u64) void {
        if (v <= 0x7f) self.put(@intCast(v)) else if (v <= 0xff) self.putBe(0xcc, v, 1) else if (v <= 0xffff) self.putBe(0xcd, v, 2) else if (v <= 0xffffffff) self.putBe(0xce, v, 4) else self.putBe(0xcf, v, 8);
    }

    pub fn writeInt(self: *Writer, v: i64) void {
        const u: u64 = @bitCast(v);
        if (v >= 0) self.writeUint(u) else if (v >= -32) self.put(@truncate(u)) else if (v >= -128) self.putBe(0xd0, u, 1) else if (v >= -32768) self.putBe(0xd1, u, 2) else if (v >= -2147483648) self.putBe(0xd2, u, 4) else self.putBe(0xd3, u, 8);
    }

    pub fn writeFloat(self: *Writer, v: f64) void {
        self.putBe(0xcb, @bitCast(v), 8);
    }

    fn header(self: *Writer, n: usize, fix_base: u8, fix_max: usize, t8: ?u8, t16: u8, t32: u8) void {
        if (n <= fix_max) self.put(fix_base | @as(u8, @intCast(n))) else if (t8 != null and n <= 0xff) self.putBe(t8.?, n, 1) else if (n <= 0xffff) self.putBe(t16, n, 2) else self.putBe(t32, n, 4);
    }

    pub fn writeStr(self: *Writer, s: []const u8) void {
        self.header(s.len, 0xa0, 31, 0xd9, 0xda, 0xdb);
        @memcpy(self.raw(s.len), s);
    }

    /// A bin header for `n` bytes; returns them for the caller to fill.
    pub fn binSpace(self: *Writer, n: usize) []u8 {
        if (n <= 0xff) self.putBe(0xc4, n, 1) else if (n <= 0xffff) self.putBe(0xc5, n, 2) else self.putBe(0xc6, n, 4);
        return self.raw(n);
    }

    pub fn writeBin(self: *Writer, data: []const u8) void {
        @memcpy(self.binSpace(data.len), data);
    }

    /// Follow with `n` values.
    pub fn writeArray(self: *Writer, n: usize) void {
        self.header(n, 0x90, 15, null, 0xdc, 0xdd);
    }

    /// Follow with `n` key/value pairs.
    pub fn writeMap(self: *Writer, n: usize) void {
        self.header(n, 0x80, 15, null, 0xde, 0xdf);
    }
};

// ---- One call ------------------------------------------------------------------------

/// One task call: the bound arguments and the result envelope.
pub const Call = struct {
    task: []const u8,
    params: []const []const u8,
    args: [max_params]Reader = undefined,
    out: Writer = .{},
    failed: i64 = 0,

    /// Parameter `i`'s raw value, for arrays, maps, anything.
    pub fn arg(self: *const Call, i: usize) Reader {
        return self.args[i];
    }

    fn get(self: *Call, comptime T: type, i: usize, comptime read: anytype, expected: []const u8) ?T {
        var r = self.args[i];
        if (read(&r)) |v| return v;
        _ = self.argError(i, expected);
        return null;
    }

    /// Getters: null after writing an ArgumentError (return `call.fail()` then).
    pub fn int(self: *Call, i: usize) ?i64 {
        return self.get(i64, i, Reader.readInt, "integer");
    }
    pub fn float(self: *Call, i: usize) ?f64 {
        return self.get(f64, i, Reader.readFloat, "float");
    }
    pub fn boolean(self: *Call, i: usize) ?bool {
        return self.get(bool, i, Reader.readBool, "boolean");
    }
    pub fn str(self: *Call, i: usize) ?[]const u8 {
        return self.get([]const u8, i, Reader.readStr, "string");
    }
    pub fn bin(self: *Call, i: usize) ?[]const u8 {
        return self.get([]const u8, i, Reader.readBin, "bytes");
    }

    /// Writes `ArgumentError` for parameter `i` (what was `expected`) and returns it.
    pub fn argError(self: *Call, i: usize, expected: []const u8) i64 {
        var buf: [256]u8 = undefined;
        const msg = std.fmt.bufPrint(&buf, "{s}() argument '{s}' (parameter {d}): invalid type: {s}, expected {s}", .{ self.task, self.params[i], i + 1, self.args[i].typeName(), expected }) catch "argument error";
        self.failed = self.err("ArgumentError", msg);
        return self.failed;
    }

    /// The packed ArgumentError of the last failed getter.
    pub fn fail(self: *const Call) i64 {
        return self.failed;
    }

    /// Starts `{"ok": ` and returns the writer for exactly one value; then `done()`.
    pub fn ok(self: *Call) *Writer {
        self.out.len = 0;
        @memcpy(self.out.raw(4), "\x81\xa2ok");
        return &self.out;
    }

    /// The packed `(ptr << 32) | len` of the envelope written so far.
    pub fn done(self: *const Call) i64 {
        const p: u64 = @intFromPtr(self.out.buf);
        return @bitCast((p << 32) | self.out.len);
    }

    pub fn returnNil(self: *Call) i64 {
        self.ok().writeNil();
        return self.done();
    }
    pub fn returnInt(self: *Call, v: i64) i64 {
        self.ok().writeInt(v);
        return self.done();
    }
    pub fn returnFloat(self: *Call, v: f64) i64 {
        self.ok().writeFloat(v);
        return self.done();
    }
    pub fn returnStr(self: *Call, v: []const u8) i64 {
        self.ok().writeStr(v);
        return self.done();
    }
    pub fn returnBin(self: *Call, v: []const u8) i64 {
        self.ok().writeBin(v);
        return self.done();
    }

    /// `{"err": {"type": type, "message": message, "traceback": nil}}`.
    pub fn err(self: *Call, type_name: []const u8, message: []const u8) i64 {
        const w = &self.out;
        w.len = 0;
        w.writeMap(1);
        w.writeStr("err");
        w.writeMap(3);
        w.writeStr("type");
        w.writeStr(type_name);
        w.writeStr("message");
        w.writeStr(message);
        w.writeStr("traceback");
        w.writeNil();
        return self.done();
    }

    fn argumentError(self: *Call, comptime fmt: []const u8, args: anytype) bool {
        var buf: [256]u8 = undefined;
        const head = std.fmt.bufPrint(&buf, "{s}() ", .{self.task}) catch unreachable;
        const rest = std.fmt.bufPrint(buf[head.len..], fmt, args) catch "invalid arguments";
        self.failed = self.err("ArgumentError", buf[0 .. head.len + rest.len]);
        return false;
    }

    /// Binds `[args, kwargs]` to the parameters (docs/abi.md section 5).
    fn bind(self: *Call, bytes: []const u8) bool {
        var r = Reader{ .bytes = bytes };
        var given = [_]bool{false} ** max_params;
        const n = self.params.len;
        if (r.readArray() != 2) return self.argumentError("arguments are not [args, kwargs]", .{});
        const npos = r.readArray() orelse return self.argumentError("arguments are not [args, kwargs]", .{});
        if (npos > n) return self.argumentError("takes {d} positional arguments but {d} were given", .{ n, npos });
        for (0..npos) |i| {
            const start = r.pos;
            r.skip() orelse return self.argumentError("arguments are not valid MessagePack", .{});
            self.args[i] = .{ .bytes = bytes[start..r.pos] };
            given[i] = true;
        }
        const nkw = r.readMap() orelse return self.argumentError("arguments are not [args, kwargs]", .{});
        for (0..nkw) |_| {
            const name = r.readStr() orelse return self.argumentError("keyword argument names must be strings", .{});
            const i = for (self.params, 0..) |p, i| {
                if (std.mem.eql(u8, p, name)) break i;
            } else return self.argumentError("got an unexpected keyword argument '{s}'", .{name});
            if (given[i]) return self.argumentError("got multiple values for argument '{s}'", .{name});
            const start = r.pos;
            r.skip() orelse return self.argumentError("arguments are not valid MessagePack", .{});
            self.args[i] = .{ .bytes = bytes[start..r.pos] };
            given[i] = true;
        }
        for (self.params, 0..) |p, i| {
            if (!given[i]) return self.argumentError("missing required argument: '{s}'", .{p});
        }
        return true;
    }
};

// ---- Defining tasks ------------------------------------------------------------------

fn str8(comptime s: []const u8) []const u8 {
    return "\xd9" ++ [_]u8{s.len} ++ s;
}

/// The manifest entry as assembler directives for a custom section.
fn manifestAsm(comptime name: []const u8, comptime params: []const []const u8) []const u8 {
    comptime {
        var bytes: []const u8 = "\x84" ++ str8("abi") ++ "\x01" ++ str8("name") ++ str8(name) ++
            str8("export") ++ str8("wasmtaps_task_" ++ name) ++ str8("params") ++ [_]u8{0x90 | params.len};
        for (params) |p| bytes = bytes ++ str8(p);
        var text: []const u8 = ".section .custom_section.wasmtaps.tasks,\"\",@\n";
        for (bytes) |b| text = text ++ std.fmt.comptimePrint(".int8 {d}\n", .{b});
        return text;
    }
}

/// Exports `f` as task `name` with parameter names `params`, and its manifest entry.
/// Call it inside a `comptime { ... }` block.
pub fn task(comptime name: []const u8, comptime params: []const []const u8, comptime f: fn (*Call) i64) void {
    if (params.len > max_params) @compileError("too many parameters");
    const Shim = struct {
        fn run(ptr: i32, len: i32) callconv(.C) i64 {
            const base: [*]const u8 = @ptrFromInt(@as(usize, @intCast(ptr)));
            var call = Call{ .task = name, .params = params };
            if (!call.bind(base[0..@intCast(len)])) return call.failed;
            return f(&call);
        }
        comptime {
            @export(&run, .{ .name = "wasmtaps_task_" ++ name });
            asm (manifestAsm(name, params));
        }
    };
    _ = Shim;
}
