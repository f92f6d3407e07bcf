// Package wasmtaps is the wasmtaps guest SDK for Go (guest ABI v1, docs/abi.md).
// It needs Go 1.24 or newer (//go:wasmexport) and builds a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tasks.wasm .
//	go run wasmtaps.local/guest/cmd/wasmtaps-manifest -wasm tasks.wasm *.go
//
// A task is an exported function that hands its argument bytes to Task:
//
//	//go:wasmexport wasmtaps_task_add
//	func add(ptr, length int32) int64 {
//		return wasmtaps.Task("add", []string{"a", "b"}, ptr, length, func(c *wasmtaps.Call) int64 {
//			a, ok := c.Int(0)
//			if !ok {
//				return c.Fail()
//			}
//			b, ok := c.Int(1)
//			if !ok {
//				return c.Fail()
//			}
//			return c.ReturnInt(a + b)
//		})
//	}
//
// Task binds [args, kwargs] to the parameter names (positional or by keyword; a
// mismatch answers ArgumentError) and turns a Go panic into GuestPanic. The Go
// toolchain cannot emit custom sections, so the wasmtaps-manifest command adds the
// `wasmtaps.tasks` manifest after linking, from the Task calls in the sources.
package wasmtaps

import (
	"fmt"
	"runtime"
	"slices"
	"unsafe"
)

// keep holds every buffer handed to the host so the garbage collector keeps it.
var keep [][]byte

// alloc returns n bytes that stay valid for the life of the instance.
func alloc(n int) []byte {
	b := make([]byte, n)
	keep = append(keep, b)
	return b
}

//go:wasmexport wasmtaps_alloc
func wasmtapsAlloc(n int32) int32 {
	if n < 0 {
		return 0
	}
	if n == 0 {
		n = 1
	}
	return int32(uintptr(unsafe.Pointer(&alloc(int(n))[0])))
}

//go:wasmimport wasmtaps panic
func hostPanic(ptr *byte, n uint32)

// Fatal reports message through wasmtaps.panic and traps: the host reports GuestPanic.
func Fatal(message string) {
	b := []byte(message + "\x00")
	hostPanic(&b[0], uint32(len(message)))
	runtime.Breakpoint() // `unreachable` on wasm
}

// ---- Reading MessagePack -------------------------------------------------------------

// Reader is a cursor over MessagePack bytes. Read methods report ok=false and leave
// the cursor unchanged when the next value is not of the asked type.
type Reader struct {
	B   []byte
	Pos int
}

func (r *Reader) has(n int) bool { return len(r.B)-r.Pos >= n }

func (r *Reader) peek() int {
	if r.Pos < len(r.B) {
		return int(r.B[r.Pos])
	}
	return -1
}

func (r *Reader) be(at, n int) uint64 {
	var v uint64
	for _, b := range r.B[at : at+n] {
		v = v<<8 | uint64(b)
	}
	return v
}

// ReadInt reads any integer that fits in int64.
func (r *Reader) ReadInt() (int64, bool) {
	t := r.peek()
	if t < 0 {
		return 0, false
	}
	if t <= 0x7f || t >= 0xe0 {
		r.Pos++
		return int64(int8(t)), true
	}
	if t < 0xcc || t > 0xd3 {
		return 0, false
	}
	n := 1 << ((t - 0xcc) & 3)
	if !r.has(1 + n) {
		return 0, false
	}
	v := r.be(r.Pos+1, n)
	if t >= 0xd0 {
		shift := uint(64 - 8*n)
		r.Pos += 1 + n
		return int64(v<<shift) >> shift, true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	r.Pos += 1 + n
	return int64(v), true
}

func (r *Reader) readLen(fixBase, fixMask, t8, t16, t32 int) (int, bool) {
	t := r.peek()
	if t < 0 {
		return 0, false
	}
	if fixMask != 0 && t&^fixMask == fixBase {
		r.Pos++
		return t & fixMask, true
	}
	n := 0
	switch t {
	case t8:
		n = 1
	case t16:
		n = 2
	case t32:
		n = 4
	}
	if n == 0 || !r.has(1+n) {
		return 0, false
	}
	v := int(r.be(r.Pos+1, n))
	r.Pos += 1 + n
	return v, true
}

func (r *Reader) body(saved, n int, ok bool) ([]byte, bool) {
	if !ok || !r.has(n) {
		r.Pos = saved
		return nil, false
	}
	r.Pos += n
	return r.B[r.Pos-n : r.Pos], true
}

// ReadStr reads a str; the bytes alias the input.
func (r *Reader) ReadStr() ([]byte, bool) {
	saved := r.Pos
	n, ok := r.readLen(0xa0, 0x1f, 0xd9, 0xda, 0xdb)
	return r.body(saved, n, ok)
}

// ReadBin reads a bin; the bytes alias the input.
func (r *Reader) ReadBin() ([]byte, bool) {
	saved := r.Pos
	n, ok := r.readLen(0, 0, 0xc4, 0xc5, 0xc6)
	return r.body(saved, n, ok)
}

// ReadArray reads an array header.
func (r *Reader) ReadArray() (int, bool) { return r.readLen(0x90, 0x0f, -1, 0xdc, 0xdd) }

// ReadMap reads a map header.
func (r *Reader) ReadMap() (int, bool) { return r.readLen(0x80, 0x0f, -1, 0xde, 0xdf) }

func (r *Reader) skipN(n int) bool {
	if !r.has(n) {
		return false
	}
	r.Pos += n
	return true
}

// Skip skips one whole value with everything nested in it.
func (r *Reader) Skip() bool {
	saved := r.Pos
	t := r.peek()
	ok := true
	switch {
	case t < 0:
		ok = false
	case t <= 0x7f || t >= 0xe0:
		r.Pos++
	case t >= 0xcc && t <= 0xd3:
		ok = r.skipN(1 + 1<<((t-0xcc)&3))
	case t == 0xc0 || t == 0xc2 || t == 0xc3:
		r.Pos++
	case t == 0xca:
		ok = r.skipN(5)
	case t == 0xcb:
		ok = r.skipN(9)
	case t&0xe0 == 0xa0 || (t >= 0xd9 && t <= 0xdb):
		_, ok = r.ReadStr()
	case t >= 0xc4 && t <= 0xc6:
		_, ok = r.ReadBin()
	case t&0xf0 == 0x90 || t == 0xdc || t == 0xdd:
		var n int
		n, ok = r.ReadArray()
		for i := 0; ok && i < n; i++ {
			ok = r.Skip()
		}
	case t&0xf0 == 0x80 || t == 0xde || t == 0xdf:
		var n int
		n, ok = r.ReadMap()
		for i := 0; ok && i < 2*n; i++ {
			ok = r.Skip()
		}
	case t >= 0xd4 && t <= 0xd8:
		ok = r.skipN(2 + 1<<(t-0xd4))
	case t >= 0xc7 && t <= 0xc9:
		w := 1 << (t - 0xc7)
		ok = r.has(1+w) && r.skipN(2+w+int(r.be(r.Pos+1, w)))
	default:
		ok = false
	}
	if !ok {
		r.Pos = saved
	}
	return ok
}

// TypeName is the MessagePack type name of the next value.
func (r *Reader) TypeName() string {
	t := r.peek()
	switch {
	case t < 0:
		return "nothing"
	case t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3):
		return "integer"
	case t == 0xc0:
		return "nil"
	case t == 0xc2 || t == 0xc3:
		return "boolean"
	case t == 0xca || t == 0xcb:
		return "float"
	case t&0xe0 == 0xa0 || (t >= 0xd9 && t <= 0xdb):
		return "string"
	case t >= 0xc4 && t <= 0xc6:
		return "bytes"
	case t&0xf0 == 0x90 || t == 0xdc || t == 0xdd:
		return "array"
	case t&0xf0 == 0x80 || t == 0xde || t == 0xdf:
		return "map"
	}
	return "ext"
}

// ---- Writing MessagePack ------------------------------------------------------------

// Writer appends MessagePack values to B.
type Writer struct{ B []byte }

func (w *Writer) be(t byte, v uint64, n int) {
	w.B = append(w.B, t)
	for i := n - 1; i >= 0; i-- {
		w.B = append(w.B, byte(v>>(8*i)))
	}
}

func (w *Writer) header(n int, fixBase byte, fixMax int, t8 int, t16, t32 byte) {
	switch {
	case n <= fixMax:
		w.B = append(w.B, fixBase|byte(n))
	case t8 >= 0 && n <= 0xff:
		w.be(byte(t8), uint64(n), 1)
	case n <= 0xffff:
		w.be(t16, uint64(n), 2)
	default:
		w.be(t32, uint64(n), 4)
	}
}

// WriteNil writes nil.
func (w *Writer) WriteNil() { w.B = append(w.B, 0xc0) }

// WriteBool writes a boolean.
func (w *Writer) WriteBool(v bool) {
	if v {
		w.B = append(w.B, 0xc3)
	} else {
		w.B = append(w.B, 0xc2)
	}
}

// WriteUint writes an unsigned integer in its shortest form.
func (w *Writer) WriteUint(v uint64) {
	switch {
	case v <= 0x7f:
		w.B = append(w.B, byte(v))
	case v <= 0xff:
		w.be(0xcc, v, 1)
	case v <= 0xffff:
		w.be(0xcd, v, 2)
	case v <= 0xffffffff:
		w.be(0xce, v, 4)
	default:
		w.be(0xcf, v, 8)
	}
}

// WriteInt writes a signed integer in its shortest form.
func (w *Writer) WriteInt(v int64) {
	switch {
	case v >= 0:
		w.WriteUint(uint64(v))
	case v >= -32:
		w.B = append(w.B, byte(v))
	case v >= -128:
		w.be(0xd0, uint64(v), 1)
	case v >= -32768:
		w.be(0xd1, uint64(v), 2)
	case v >= -2147483648:
		w.be(0xd2, uint64(v), 4)
	default:
		w.be(0xd3, uint64(v), 8)
	}
}

// WriteStr writes a str.
func (w *Writer) WriteStr(s string) {
	w.header(len(s), 0xa0, 31, 0xd9, 0xda, 0xdb)
	w.B = append(w.B, s...)
}

// WriteBin writes a bin.
func (w *Writer) WriteBin(b []byte) {
	w.header(len(b), 0, -1, 0xc4, 0xc5, 0xc6)
	w.B = append(w.B, b...)
}

// BinSpace writes a bin header for n bytes and returns those n bytes of the buffer
// for the caller to fill, every one of them (their contents are unspecified): a result
// built in place, with no buffer of its own to copy from.
func (w *Writer) BinSpace(n int) []byte {
	w.header(n, 0, -1, 0xc4, 0xc5, 0xc6)
	start := len(w.B)
	w.B = slices.Grow(w.B, n)[:start+n]
	return w.B[start:]
}

// WriteArray writes an array header; follow with n values.
func (w *Writer) WriteArray(n int) { w.header(n, 0x90, 15, -1, 0xdc, 0xdd) }

// WriteMap writes a map header; follow with n key/value pairs.
func (w *Writer) WriteMap(n int) { w.header(n, 0x80, 15, -1, 0xde, 0xdf) }

// ---- One call ------------------------------------------------------------------------

// Call is one task call: the bound arguments and the result envelope.
type Call struct {
	TaskName string
	Params   []string
	args     []Reader
	out      Writer
	failed   int64
}

// Arg is parameter i's raw value, for arrays, maps, anything.
func (c *Call) Arg(i int) Reader { return c.args[i] }

// Int is integer parameter i; ok=false after writing an ArgumentError (return c.Fail()).
func (c *Call) Int(i int) (int64, bool) {
	r := c.args[i]
	v, ok := r.ReadInt()
	if !ok {
		c.ArgError(i, "integer")
	}
	return v, ok
}

// Str is string parameter i (aliasing the argument bytes).
func (c *Call) Str(i int) ([]byte, bool) {
	r := c.args[i]
	v, ok := r.ReadStr()
	if !ok {
		c.ArgError(i, "string")
	}
	return v, ok
}

// Bin is bytes parameter i (aliasing the argument bytes).
func (c *Call) Bin(i int) ([]byte, bool) {
	r := c.args[i]
	v, ok := r.ReadBin()
	if !ok {
		c.ArgError(i, "bytes")
	}
	return v, ok
}

// ArgError writes an ArgumentError for parameter i saying what was expected.
func (c *Call) ArgError(i int, expected string) int64 {
	c.failed = c.Err("ArgumentError", fmt.Sprintf("%s() argument '%s' (parameter %d): invalid type: %s, expected %s",
		c.TaskName, c.Params[i], i+1, c.args[i].TypeName(), expected))
	return c.failed
}

// Fail is the packed ArgumentError of the last failed getter.
func (c *Call) Fail() int64 { return c.failed }

// Ok starts {"ok": ...} and returns the writer for exactly one value; then Done.
func (c *Call) Ok() *Writer {
	c.out.B = append(c.out.B[:0], 0x81, 0xa2, 'o', 'k')
	return &c.out
}

// Done is the packed (ptr << 32) | len of the envelope written so far.
func (c *Call) Done() int64 {
	b := c.out.B
	if len(b) == 0 {
		b = append(b, 0)
	}
	keep = append(keep, b)
	return int64(uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(c.out.B)))
}

// ReturnNil answers {"ok": nil}.
func (c *Call) ReturnNil() int64 { c.Ok().WriteNil(); return c.Done() }

// ReturnInt answers {"ok": v}.
func (c *Call) ReturnInt(v int64) int64 { c.Ok().WriteInt(v); return c.Done() }

// ReturnStr answers {"ok": v}.
func (c *Call) ReturnStr(v string) int64 { c.Ok().WriteStr(v); return c.Done() }

// ReturnBin answers {"ok": v} with v as bin.
func (c *Call) ReturnBin(v []byte) int64 { c.Ok().WriteBin(v); return c.Done() }

// Err answers {"err": {"type": typ, "message": message, "traceback": nil}}.
func (c *Call) Err(typ, message string) int64 {
	w := &c.out
	w.B = w.B[:0]
	w.WriteMap(1)
	w.WriteStr("err")
	w.WriteMap(3)
	w.WriteStr("type")
	w.WriteStr(typ)
	w.WriteStr("message")
	w.WriteStr(message)
	w.WriteStr("traceback")
	w.WriteNil()
	return c.Done()
}

func (c *Call) argumentError(format string, a ...any) bool {
	c.failed = c.Err("ArgumentError", c.TaskName+"() "+fmt.Sprintf(format, a...))
	return false
}

// bind binds [args, kwargs] to the parameters (docs/abi.md section 5).
func (c *Call) bind(b []byte) bool {
	r := Reader{B: b}
	n := len(c.Params)
	c.args = make([]Reader, n)
	given := make([]bool, n)
	if outer, ok := r.ReadArray(); !ok || outer != 2 {
		return c.argumentError("arguments are not [args, kwargs]")
	}
	npos, ok := r.ReadArray()
	if !ok {
		return c.argumentError("arguments are not [args, kwargs]")
	}
	if npos > n {
		return c.argumentError("takes %d positional arguments but %d were given", n, npos)
	}
	for i := 0; i < npos; i++ {
		start := r.Pos
		if !r.Skip() {
			return c.argumentError("arguments are not valid MessagePack")
		}
		c.args[i] = Reader{B: b[start:r.Pos]}
		given[i] = true
	}
	nkw, ok := r.ReadMap()
	if !ok {
		return c.argumentError("arguments are not [args, kwargs]")
	}
	for k := 0; k < nkw; k++ {
		name, ok := r.ReadStr()
		if !ok {
			return c.argumentError("keyword argument names must be strings")
		}
		i := 0
		for i < n && c.Params[i] != string(name) {
			i++
		}
		if i == n {
			return c.argumentError("got an unexpected keyword argument '%s'", name)
		}
		if given[i] {
			return c.argumentError("got multiple values for argument '%s'", name)
		}
		start := r.Pos
		if !r.Skip() {
			return c.argumentError("arguments are not valid MessagePack")
		}
		c.args[i] = Reader{B: b[start:r.Pos]}
		given[i] = true
	}
	for i, p := range c.Params {
		if !given[i] {
			return c.argumentError("missing required argument: '%s'", p)
		}
	}
	return true
}

// Task runs body as task name with parameter names params on the argument bytes at
// ptr/length. Call it from `//go:wasmexport wasmtaps_task_<name>` with literal name
// and params: wasmtaps-manifest reads them from the source. A panic in body is
// reported as GuestPanic.
func Task(name string, params []string, ptr, length int32, body func(*Call) int64) int64 {
	c := &Call{TaskName: name, Params: params}
	defer func() {
		if r := recover(); r != nil {
			Fatal(fmt.Sprint(r))
		}
	}()
	args := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), int(length))
	if !c.bind(args) {
		return c.failed
	}
	return body(c)
}
