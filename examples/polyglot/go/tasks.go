// The polyglot example tasks in Go, on the wasmtaps Go SDK (guest-sdk/go).
//
// Build: scripts/build-polyglot go   (writes target/polyglot/go.wasm)
// Run:   wasmtaps call target/polyglot/go.wasm add --args '[1, 2]'
package main

import (
	"errors"
	"runtime"
	"strconv"
	"strings"

	"wasmtaps.local/guest"
)

// add(a, b) -> a + b
//
//go:wasmexport wasmtaps_task_add
func add(ptr, length int32) int64 {
	return wasmtaps.Task("add", []string{"a", "b"}, ptr, length, func(c *wasmtaps.Call) int64 {
		a, ok := c.Int(0)
		if !ok {
			return c.Fail()
		}
		b, ok := c.Int(1)
		if !ok {
			return c.Fail()
		}
		return c.ReturnInt(a + b)
	})
}

// word_count(text) -> {word: count}, split on whitespace, in first-seen order.
//
//go:wasmexport wasmtaps_task_word_count
func wordCount(ptr, length int32) int64 {
	return wasmtaps.Task("word_count", []string{"text"}, ptr, length, func(c *wasmtaps.Call) int64 {
		text, ok := c.Str(0)
		if !ok {
			return c.Fail()
		}
		counts := map[string]uint64{}
		var order []string
		for _, word := range strings.Fields(string(text)) {
			if counts[word] == 0 {
				order = append(order, word)
			}
			counts[word]++
		}
		w := c.Ok()
		w.WriteMap(len(order))
		for _, word := range order {
			w.WriteStr(word)
			w.WriteUint(counts[word])
		}
		return c.Done()
	})
}

// parse_int(text) -> integer, or the guest error ParseError.
//
//go:wasmexport wasmtaps_task_parse_int
func parseInt(ptr, length int32) int64 {
	return wasmtaps.Task("parse_int", []string{"text"}, ptr, length, func(c *wasmtaps.Call) int64 {
		text, ok := c.Str(0)
		if !ok {
			return c.Fail()
		}
		v, err := strconv.ParseInt(string(text), 10, 64)
		switch {
		case len(text) == 0:
			return c.Err("ParseError", "cannot parse integer from empty string")
		case errors.Is(err, strconv.ErrRange):
			return c.Err("ParseError", "number too large to fit in target type")
		case err != nil:
			return c.Err("ParseError", "invalid digit found in string")
		}
		return c.ReturnInt(v)
	})
}

// reverse_bytes(data: bin) -> bin, reversed.
//
//go:wasmexport wasmtaps_task_reverse_bytes
func reverseBytes(ptr, length int32) int64 {
	return wasmtaps.Task("reverse_bytes", []string{"data"}, ptr, length, func(c *wasmtaps.Call) int64 {
		data, ok := c.Bin(0)
		if !ok {
			return c.Fail()
		}
		// Reversed straight into the result envelope.
		out := c.Ok().BinSpace(len(data))
		for i, b := range data {
			out[len(data)-1-i] = b
		}
		return c.Done()
	})
}

// noop() -> nil: the fresh-instance benchmark's task.
//
//go:wasmexport wasmtaps_task_noop
func noop(ptr, length int32) int64 {
	return wasmtaps.Task("noop", []string{}, ptr, length, func(c *wasmtaps.Call) int64 {
		return c.ReturnNil()
	})
}

// crash(): a Go panic, reported through wasmtaps.panic (GuestPanic).
//
//go:wasmexport wasmtaps_task_crash
func crash(ptr, length int32) int64 {
	return wasmtaps.Task("crash", []string{}, ptr, length, func(c *wasmtaps.Call) int64 {
		panic("crash: the task gave up on purpose")
	})
}

// trap(): hits `unreachable` without reporting anything (Trap).
//
//go:wasmexport wasmtaps_task_trap
func trap(ptr, length int32) int64 {
	return wasmtaps.Task("trap", []string{}, ptr, length, func(c *wasmtaps.Call) int64 {
		runtime.Breakpoint()
		return c.ReturnNil()
	})
}

func main() {}
